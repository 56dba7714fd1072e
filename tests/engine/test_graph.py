"""Validation returns every problem at once, each naming its node and input."""

import sys

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

CHECKING_PLUGIN = '''
"""A node whose inputs check their typed-in values."""
from graphflow.api import FLOAT, STRING, Context, Input, Output, hookimpl, node

SEEN = []


def known_word(settings, word):
    SEEN.append(word)
    return None if word in ("cat", "dog") else f"{word!r} is not a word in {settings.models_dir.name}"


def whole(settings, value):
    return None if value == int(value) else "give a whole number"


def broken(settings, value):
    if value:
        raise RuntimeError("the checker fell over")
    return None


@node("test.checked", version="1.0.0", category="test")
class Checked:
    """Inputs with their own checks."""
    word = Input(STRING, default="cat", check=known_word)
    amount = Input(FLOAT, default=1.0, check=whole)
    other = Input(STRING, default="", check=broken)
    result = Output(STRING)

    def run(self, ctx: Context, word: str, amount: float, other: str) -> str:
        return word * int(amount)


@hookimpl
def register_nodes(register):
    register(Checked)
'''


@pytest.fixture
def checking_plugins(plugin_dir, request):
    """The counting test plugins plus `test.checked`, whose inputs have checks."""
    plugin_dir("checking", CHECKING_PLUGIN)
    return request.getfixturevalue("counting_plugins")


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
    "unchecked": {"type": "test.checked", "inputs": {"word": "cow", "other": ""}},
    "huge": {"type": "graphflow.latent.empty", "inputs": {"width": 16384, "height": 16384}},
    "v": {"type": "test.value"},
    "loop_a": {"type": "test.add", "links": {"a": link("loop_b")}},
    "loop_b": {"type": "test.add", "links": {"a": link("loop_a")}},
}


def test_every_error_kind_is_reported_at_once_naming_node_and_input(checking_plugins):
    issues = validate(wf(EVERY_KIND), checking_plugins.registry, SETTINGS)
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
        ("invalid_value", "unchecked", "word"),
        ("over_limit", "huge", "width"),
        ("no_output_node", None, None),
    }
    assert expected <= found
    cycle = next(i for i in issues if i.kind == "cycle")
    assert "'loop_a'" in cycle.message and "'loop_b'" in cycle.message
    assert {i.kind for i in issues} | {"unknown_target"} == set(KINDS)


def test_messages_say_what_is_wrong(checking_plugins):
    issues = {i.node_id: i.message for i in validate(wf(EVERY_KIND), checking_plugins.registry, SETTINGS)}
    assert "acme-nodes" in issues["unknown"]
    assert "expects INT but node 'v' output 'result' gives FLOAT" in issues["wrong_type"]
    assert "5000 is outside [1, 1000]" in issues["too_many"]
    assert "'sqrt' is not one of" in issues["bad_choice"] and "'add'" in issues["bad_choice"]
    assert "it has: value" in issues["extra"]
    assert issues["unchecked"] == "'cow' is not a word in models"


def test_an_input_check_sees_the_settings_and_the_typed_value_after_its_type_is_checked(checking_plugins, tmp_path):
    seen = sys.modules["graphflow_local_plugins.checking"].SEEN
    seen.clear()
    settings = Settings(models_dir=tmp_path / "vocabulary")
    workflow = wf(
        {
            "fine": {"type": "test.checked", "inputs": {"word": "dog", "amount": 2, "other": ""}},
            "fraction": {"type": "test.checked", "inputs": {"word": "dog", "amount": 2.5, "other": ""}},
            "mistyped": {"type": "test.checked", "inputs": {"word": 7, "other": ""}},
            "unknown": {"type": "test.checked", "inputs": {"word": "emu", "other": ""}},
            "default": {"type": "test.checked", "inputs": {"other": ""}},
        }
    )
    issues = [i for i in validate(workflow, checking_plugins.registry, settings) if i.kind != "no_output_node"]
    assert {(i.node_id, i.input, i.kind) for i in issues} == {
        ("fraction", "amount", "invalid_value"),
        ("mistyped", "word", "invalid_literal"),
        ("unknown", "word", "invalid_value"),
    }
    assert next(i.message for i in issues if i.node_id == "unknown") == "'emu' is not a word in vocabulary"
    assert seen == ["dog", "dog", "emu"]  # neither defaults nor values of the wrong type are checked


def test_a_check_that_raises_is_reported_as_an_issue_not_raised(checking_plugins):
    workflow = wf({"c": {"type": "test.checked", "inputs": {"other": "x"}}})
    (issue,) = [i for i in validate(workflow, checking_plugins.registry, SETTINGS) if i.kind != "no_output_node"]
    assert (issue.node_id, issue.input, issue.kind) == ("c", "other", "invalid_value")
    assert issue.message == "the value could not be checked: RuntimeError: the checker fell over"


def test_a_linked_value_is_not_checked(checking_plugins):
    workflow = wf(
        {
            "word": {"type": "graphflow.primitive.string", "inputs": {"value": "emu"}},
            "c": {"type": "test.checked", "inputs": {"other": ""}, "links": {"word": link("word")}},
        }
    )
    issues = validate(workflow, checking_plugins.registry, SETTINGS)
    assert [i.kind for i in issues] == ["no_output_node"]


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
