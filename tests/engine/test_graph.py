"""Validation returns every problem at once, each naming its node and input."""

import pytest

from graphflow.graph import KINDS, WorkflowInvalid, plan, validate
from graphflow.settings import Settings
from graphflow.workflow import parse_workflow

SETTINGS = Settings()


def wf(nodes):
    return parse_workflow({"format": "graphflow.workflow", "version": 1, "nodes": nodes})


def link(node, output="result"):
    return {"node": node, "output": output}


SINK = {"type": "test.sink", "inputs": {"value": 1.0}}

EVERY_KIND = {
    "unknown": {"type": "acme.blur", "plugin": "acme-nodes"},
    "future": {"type": "test.value", "version": "2.0.0"},
    "extra": {"type": "test.value", "inputs": {"valeu": 1.0}},
    "bad_output": {"type": "test.add", "links": {"a": link("v", "sum")}},
    "needs_value": {"type": "test.negate"},
    "dangling": {"type": "test.add", "links": {"a": link("ghost")}},
    "both": {"type": "test.add", "inputs": {"a": 1.0}, "links": {"a": link("v")}},
    "wrong_type": {"type": "graphflow.math.int", "links": {"a": link("v")}},
    "wrong_literal": {"type": "test.value", "inputs": {"value": "one"}},
    "too_many": {"type": "test.steps", "inputs": {"steps": 5000}},
    "bad_choice": {"type": "graphflow.math.float", "inputs": {"operation": "sqrt"}},
    "v": {"type": "test.value"},
    "loop_a": {"type": "test.add", "links": {"a": link("loop_b")}},
    "loop_b": {"type": "test.add", "links": {"a": link("loop_a")}},
}


def test_every_error_kind_is_reported_at_once_naming_node_and_input(counting_plugins):
    issues = validate(wf(EVERY_KIND), counting_plugins.registry, SETTINGS)
    found = {(i.kind, i.node_id, i.input) for i in issues}
    expected = {
        ("unknown_node_type", "unknown", None),
        ("version_mismatch", "future", None),
        ("unknown_input", "extra", "valeu"),
        ("unknown_output", "bad_output", "a"),
        ("missing_input", "needs_value", "value"),
        ("missing_node", "dangling", "a"),
        ("duplicate_input", "both", "a"),
        ("type_mismatch", "wrong_type", "a"),
        ("invalid_literal", "wrong_literal", "value"),
        ("out_of_bounds", "too_many", "steps"),
        ("not_in_choices", "bad_choice", "operation"),
        ("no_output_node", None, None),
    }
    assert expected <= found
    cycle = next(i for i in issues if i.kind == "cycle")
    assert "'loop_a'" in cycle.message and "'loop_b'" in cycle.message
    assert {i.kind for i in issues} | {"unknown_target"} == set(KINDS)


def test_messages_say_what_is_wrong(counting_plugins):
    issues = {i.node_id: i.message for i in validate(wf(EVERY_KIND), counting_plugins.registry, SETTINGS)}
    assert "acme-nodes" in issues["unknown"]
    assert "expects INT but node 'v' output 'result' gives FLOAT" in issues["wrong_type"]
    assert "5000 is outside [1, 1000]" in issues["too_many"]
    assert "'sqrt' is not one of" in issues["bad_choice"] and "'add'" in issues["bad_choice"]
    assert "it has: value" in issues["extra"]


def test_int_output_may_feed_a_float_input(counting_plugins):
    workflow = wf(
        {
            "i": {"type": "graphflow.primitive.int", "inputs": {"value": 2}},
            "s": {"type": "test.sink", "links": {"value": link("i")}},
        }
    )
    assert validate(workflow, counting_plugins.registry, SETTINGS) == []


def test_plan_runs_only_ancestors_of_outputs_in_order(counting_plugins):
    workflow = wf(
        {
            "a": {"type": "test.value"},
            "b": {"type": "test.add", "links": {"a": link("a")}},
            "orphan": {"type": "test.value"},
            "s": {"type": "test.sink", "links": {"value": link("b")}},
        }
    )
    order = [n.node_id for n in plan(workflow, counting_plugins.registry, SETTINGS).order]
    assert order == ["a", "b", "s"]
    assert [n.node_id for n in plan(workflow, counting_plugins.registry, SETTINGS, targets=["a"]).order] == ["a"]


def test_plan_raises_with_all_issues(counting_plugins):
    with pytest.raises(WorkflowInvalid) as err:
        plan(wf({"x": {"type": "test.sink"}, "y": {"type": "nope.node"}}), counting_plugins.registry, SETTINGS)
    assert {i.kind for i in err.value.issues} == {"missing_input", "unknown_node_type"}


def test_unknown_target_is_reported(counting_plugins):
    issues = validate(wf({"s": SINK}), counting_plugins.registry, SETTINGS, targets=["ghost"])
    assert [(i.kind, i.node_id) for i in issues] == [("unknown_target", "ghost")]


def test_old_node_versions_are_upgraded_by_the_node(counting_plugins):
    workflow = wf(
        {
            "j": {
                "type": "graphflow.text.join",
                "version": "1.0.0",
                "inputs": {"first": "a", "second": "b", "sep": "-"},
            },
            "save": {"type": "graphflow.text.save", "links": {"text": link("j")}},
        }
    )
    assert validate(workflow, counting_plugins.registry, SETTINGS) == []
    node = plan(workflow, counting_plugins.registry, SETTINGS).nodes["j"]
    assert node.literals["separator"] == "-"
