"""The cases of issue 14 as written there: each odd input ends in the project's own problem, naming the node,
input or file at fault, in a message short enough to read."""

import json
import math
import re

import pytest

from graphflow.graph import WorkflowInvalid, plan, validate
from graphflow.problems import ValidationIssue, shown, summarise
from graphflow.settings import Settings
from graphflow.workflow import MAX_DEPTH, WorkflowFileError, load_workflow, loads_json, parse_workflow

SETTINGS = Settings()
SINK = {"type": "test.sink", "inputs": {"value": 1.0}}


def data(nodes, version=1):
    return {"format": "graphflow.workflow", "version": version, "nodes": nodes}


def issues_of(nodes, registry):
    return [i for i in validate(parse_workflow(data(nodes)), registry, SETTINGS) if i.kind != "no_output_node"]


def test_a_node_version_with_a_superscript_two_is_a_version_mismatch_naming_the_node(counting_plugins):
    (issue,) = issues_of({"v": {"type": "test.value", "version": "².0.0"}}, counting_plugins.registry)
    assert (issue.node_id, issue.kind) == ("v", "version_mismatch")
    assert issue.message == "saved with test.value version '².0.0', which is not a version like 1.0.0"


@pytest.mark.parametrize("version", ["١.0.0", "99999999999999999999.0.0", "", "x" * 10_000])
def test_other_odd_node_versions_are_version_mismatches_too(counting_plugins, version):
    (issue,) = issues_of({"v": {"type": "test.value", "version": version}}, counting_plugins.registry)
    assert issue.kind == "version_mismatch" and len(issue.message) < 200


def test_version_zero_with_a_list_of_nodes_is_a_file_problem_naming_the_nodes_field():
    with pytest.raises(WorkflowFileError) as caught:
        parse_workflow(data([1, 2], version=0), source="w.json")
    assert str(caught.value) == "w.json: nodes: Input should be a valid dictionary"
    assert [(i.kind, i.node_id) for i in caught.value.issues] == [("invalid_file", None)]


def test_version_zero_connections_that_are_not_pairs_name_the_node_and_input():
    nodes = {"a": {"type": "test.value", "connections": {"value": ["b"]}}}
    with pytest.raises(WorkflowFileError) as caught:
        parse_workflow(data(nodes, version=0), source="w.json")
    assert "w.json: node 'a', input 'value': connection 'value' must be a [node, output] pair" in str(caught.value)


def test_json_nested_100000_deep_is_refused_as_nested_too_deeply(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"format": "graphflow.workflow", "version": 1, "ui": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(WorkflowFileError, match=re.escape(f"{path}: not valid JSON (nested too deeply)")):
        load_workflow(path)


def test_data_nested_past_the_limit_is_refused_before_anything_recursive_walks_it():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(WorkflowFileError, match=re.escape(f"w: nested too deeply (more than {MAX_DEPTH} levels)")):
        parse_workflow({**data({}), "ui": {"x": deep}}, source="w")


def test_a_5000_digit_integer_in_a_file_is_refused_with_the_digit_limit(tmp_path):
    path = tmp_path / "huge.json"
    path.write_text('{"format": "graphflow.workflow", "version": 1, "ui": {"n": ' + "7" * 5000 + "}}")
    with pytest.raises(WorkflowFileError, match=r"huge\.json: not valid JSON \(a number has more than 4300 digits\)"):
        load_workflow(path)


def test_a_5000_digit_integer_handed_in_as_data_is_refused_too():
    with pytest.raises(WorkflowFileError, match="a number has more than 4300 digits"):
        parse_workflow({**data({}), "meta": {"n": 10**5000}}, source="w")


@pytest.mark.parametrize(("value", "shown_as"), [(math.nan, "nan"), (math.inf, "inf"), (-math.inf, "-inf")])
def test_non_finite_floats_are_invalid_literals_for_float_inputs(counting_plugins, value, shown_as):
    (issue,) = issues_of({"v": {"type": "test.value", "inputs": {"value": value}}}, counting_plugins.registry)
    assert (issue.node_id, issue.input, issue.kind) == ("v", "value", "invalid_literal")
    assert issue.message == f"{shown_as} is not a finite number"


def test_nan_and_infinity_literals_in_a_file_are_reported_at_their_node_and_input(tmp_path, counting_plugins):
    path = tmp_path / "nan.json"
    path.write_text(
        '{"format": "graphflow.workflow", "version": 1, "nodes": {'
        '"a": {"type": "test.value", "inputs": {"value": NaN}},'
        '"b": {"type": "test.steps", "inputs": {"steps": Infinity}}}}'
    )
    issues = validate(load_workflow(path), counting_plugins.registry, SETTINGS)
    found = {(i.node_id, i.input, i.kind, i.message) for i in issues if i.kind != "no_output_node"}
    assert found == {
        ("a", "value", "invalid_literal", "nan is not a finite number"),
        ("b", "steps", "invalid_literal", "expects INT, got float inf"),
    }


def test_integers_past_64_bits_are_invalid_literals(counting_plugins):
    (issue,) = issues_of({"v": {"type": "test.value", "inputs": {"value": 2**70}}}, counting_plugins.registry)
    assert (issue.node_id, issue.input) == ("v", "value")
    assert issue.message == "1180591620717411303424 is too large: whole numbers must fit in 64 bits"


def test_a_10000_node_cycle_is_named_by_its_first_nodes_and_its_length(counting_plugins):
    count = 10_000
    nodes = {
        f"n{i}": {"type": "test.add", "links": {"a": {"node": f"n{(i + 1) % count}", "output": "result"}}}
        for i in range(count)
    }
    (issue,) = issues_of(nodes, counting_plugins.registry)
    assert issue.kind == "cycle" and len(issue.message) < 200
    assert re.fullmatch(r"nodes form a cycle of 10,000 nodes: ('n\d+' -> ){5}\.\.\. -> 'n\d+'", issue.message)
    with pytest.raises(WorkflowInvalid) as caught:
        plan(parse_workflow(data({**nodes, "sink": SINK})), counting_plugins.registry, SETTINGS)
    assert len(str(caught.value)) < 500


def test_ten_thousand_problems_are_summarised_as_the_first_twenty_and_how_many_more(counting_plugins):
    nodes = {f"n{i}": {"type": "test.value", "inputs": {"value": "x"}} for i in range(10_000)}
    issues = issues_of(nodes, counting_plugins.registry)
    message = str(WorkflowInvalid(issues))
    assert len(issues) == 10_000 and len(message) < 5_000
    assert message.startswith("workflow is invalid (10,000 problems):\n")
    assert message.endswith("  - and 9,980 more of this kind [invalid_literal]")


def test_a_summary_shares_its_lines_among_the_kinds():
    issues = [ValidationIssue(f"a{i}", None, "cycle", "c") for i in range(30)]
    issues += [ValidationIssue(f"b{i}", "x", "missing_input", "m") for i in range(3)]
    lines = summarise(issues)
    assert lines[10] == "and 20 more of this kind [cycle]"
    assert lines[11:] == [
        "node 'b0', input 'x': m [missing_input]",
        "node 'b1', input 'x': m [missing_input]",
        "node 'b2', input 'x': m [missing_input]",
    ]


def test_values_are_shown_short_whatever_they_are():
    assert shown(10**5000) == "<integer of about 5,001 digits>"
    assert shown("x" * 1000) == "'" + "x" * 27 + "..." + "x" * 28 + "'"
    assert shown([[[[[1]]]]]) == "[[[[...]]]]"


def test_a_node_id_of_a_megabyte_is_cut_short_in_messages(counting_plugins):
    name = "n" * 1_000_000
    (issue,) = issues_of({name: {"type": "test.value", "inputs": {"value": "x"}}}, counting_plugins.registry)
    assert issue.node_id == name and len(str(issue)) < 200


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "Expecting value: line 1 column 1 (char 0)"),
        (b"\xff\xfe\x00", "not UTF-8 text"),
        ("[1,", "Expecting value: line 1 column 4 (char 3)"),
    ],
)
def test_text_that_is_not_json_is_named_as_such(text, reason):
    with pytest.raises(WorkflowFileError, match=re.escape(f"f.json: not valid JSON ({reason})")):
        loads_json(text, "f.json")


def test_unreadable_files_are_file_problems_not_os_errors(tmp_path):
    with pytest.raises(WorkflowFileError, match="no such file"):
        load_workflow(tmp_path)  # a folder
    with pytest.raises(WorkflowFileError, match="no such file"):
        load_workflow(tmp_path / "a\x00b.json")


@pytest.mark.parametrize("raw", [b"", b"\x89PNG\r\n\x1a\n", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, b"GIF89a" + b"1" * 20])
def test_a_damaged_png_is_not_a_readable_png(tmp_path, raw):
    path = tmp_path / "broken.png"
    path.write_bytes(raw)
    with pytest.raises(WorkflowFileError, match=re.escape(f"{path}: not a readable PNG (")):
        load_workflow(path)


def test_a_png_whose_workflow_chunk_is_nested_too_deeply_says_so(tmp_path):
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("graphflow.workflow", "[" * 5000 + "]" * 5000)
    Image.new("RGB", (4, 4)).save(tmp_path / "deep.png", pnginfo=info)
    with pytest.raises(WorkflowFileError) as caught:
        load_workflow(tmp_path / "deep.png")
    assert "its 'graphflow.workflow' text chunk: not valid JSON (nested too deeply)" in str(caught.value)


def test_problems_keep_their_json_shape():
    with pytest.raises(WorkflowFileError) as caught:
        parse_workflow(data({"a": {"type": 3}}), source="w.json")
    assert [i.to_dict() for i in caught.value.issues] == [
        {"node_id": "a", "input": None, "kind": "invalid_file", "message": "type: Input should be a valid string"}
    ]
    assert json.dumps([i.to_dict() for i in caught.value.issues])
