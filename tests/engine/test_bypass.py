"""Muted and bypassed nodes: they never run, bypassed ones pass their inputs through, and problems name the nodes."""

import pytest

from graphflow.graph import validate
from graphflow.settings import Settings
from graphflow.workflow import WorkflowFileError, parse_workflow
from tests.running import executor_for


def wf(nodes):
    return parse_workflow({"format": "graphflow.workflow", "version": 1, "nodes": nodes})


def link(node, output="result"):
    return {"node": node, "output": output}


def latent_chain(mode):
    return wf(
        {
            "empty": {"type": "graphflow.latent.empty", "inputs": {"width": 64, "height": 32}},
            "grow": {
                "type": "graphflow.latent.upscale",
                "mode": mode,
                "links": {"latent": link("empty", "latent")},
                "inputs": {"width": 256, "height": 256},
            },
            "half": {
                "type": "graphflow.latent.upscale_by",
                "links": {"latent": link("grow")},
                "inputs": {"scale_by": 0.5},
            },
        }
    )


def test_bypassed_upscale_passes_its_latent_through_and_does_not_run(counting_plugins, tmp_path):
    result = executor_for(counting_plugins, tmp_path).run(latent_chain("bypass"), targets=["half"])
    assert result.status == "success", result.error
    assert "grow" not in result.executed
    assert tuple(result.outputs["half"]["result"].samples.shape[-2:]) == (2, 4)  # 32x64 pixels halved, not 256


def test_the_same_chain_without_a_mode_runs_the_upscale(counting_plugins, tmp_path):
    result = executor_for(counting_plugins, tmp_path).run(latent_chain(None), targets=["half"])
    assert "grow" in result.executed
    assert tuple(result.outputs["half"]["result"].samples.shape[-2:]) == (16, 16)


def test_a_bypass_chain_passes_through_every_bypassed_node(counting_plugins, tmp_path):
    nodes = {
        "v": {"type": "test.value", "inputs": {"value": 3.0}},
        "n1": {"type": "test.negate", "mode": "bypass", "links": {"value": link("v")}},
        "n2": {"type": "test.negate", "mode": "bypass", "links": {"value": link("n1")}},
        "sink": {"type": "test.sink", "links": {"value": link("n2")}},
    }
    result = executor_for(counting_plugins, tmp_path).run(wf(nodes))
    assert result.status == "success", result.error
    assert counting_plugins.runs == ["v", "sink"]
    assert result.ui["sink"]["values"] == [3.0]


def test_a_muted_output_node_does_not_run_while_the_others_do(counting_plugins, tmp_path):
    nodes = {
        "v": {"type": "test.value", "inputs": {"value": 2.0}},
        "kept": {"type": "test.sink", "links": {"value": link("v")}},
        "quiet": {"type": "test.sink", "mode": "mute", "links": {"value": link("v")}},
    }
    result = executor_for(counting_plugins, tmp_path).run(wf(nodes))
    assert result.status == "success", result.error
    assert sorted(result.executed) == ["kept", "v"]
    assert "quiet" not in result.ui


def test_a_required_input_fed_by_a_muted_node_is_an_error_naming_both_nodes(counting_plugins):
    nodes = {
        "v": {"type": "test.value", "mode": "mute"},
        "sink": {"type": "test.sink", "links": {"value": link("v")}},
    }
    (issue,) = validate(wf(nodes), counting_plugins.registry, Settings())
    assert (issue.kind, issue.node_id, issue.input) == ("missing_input", "sink", "value")
    assert "node 'v', which is muted" in issue.message


def test_an_input_with_a_default_fed_by_a_muted_node_falls_back_to_its_default(counting_plugins, tmp_path):
    nodes = {
        "v": {"type": "test.value", "mode": "mute", "inputs": {"value": 5.0}},
        "add": {"type": "test.add", "links": {"a": link("v")}, "inputs": {"b": 1.0}},
        "sink": {"type": "test.sink", "links": {"value": link("add")}},
    }
    result = executor_for(counting_plugins, tmp_path).run(wf(nodes))
    assert result.ui["sink"]["values"] == [1.0]


def test_a_muted_node_feeding_only_muted_or_bypassed_nodes_is_no_problem(counting_plugins):
    nodes = {
        "v": {"type": "test.value", "mode": "mute"},
        "n": {"type": "test.negate", "mode": "mute", "links": {"value": link("v")}},
        "w": {"type": "test.value", "inputs": {"value": 1.0}},
        "sink": {"type": "test.sink", "links": {"value": link("w")}},
    }
    assert validate(wf(nodes), counting_plugins.registry, Settings()) == []


def test_a_bypassed_output_with_no_input_of_its_type_is_an_error_naming_node_and_output(counting_plugins):
    nodes = {
        "v": {"type": "test.value", "mode": "bypass", "inputs": {"value": 1.0}},
        "sink": {"type": "test.sink", "links": {"value": link("v")}},
    }
    (issue,) = validate(wf(nodes), counting_plugins.registry, Settings())
    assert (issue.kind, issue.node_id, issue.input) == ("missing_input", "sink", "value")
    assert "node 'v', which is bypassed and has no linked FLOAT input to pass to its output 'result'" in issue.message


def test_a_mode_other_than_bypass_or_mute_is_refused_by_the_file_format():
    with pytest.raises(WorkflowFileError, match="mode"):
        wf({"v": {"type": "test.value", "mode": "sleep"}})


def test_the_mode_is_written_back_and_left_out_when_unset():
    text = wf({"a": {"type": "test.value", "mode": "mute"}, "b": {"type": "test.value"}}).to_json()
    assert '"mode": "mute"' in text and text.count('"mode"') == 1
