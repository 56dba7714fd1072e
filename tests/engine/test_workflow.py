"""The workflow file format: explicit links, a version, ui kept verbatim, migrations, PNG embedding."""

import json
import re

import pytest
from PIL import Image, PngImagePlugin

from graphflow.workflow import (
    FORMAT_VERSION,
    PNG_KEY,
    Workflow,
    WorkflowFileError,
    load_workflow,
    migrate,
    parse_workflow,
    save_workflow,
)

DATA = {
    "format": "graphflow.workflow",
    "version": 1,
    "nodes": {
        "a": {"type": "graphflow.primitive.int", "version": "1.0.0", "inputs": {"value": 3}},
        "b": {
            "type": "graphflow.math.to_int",
            "version": "1.0.0",
            "links": {"value": {"node": "a", "output": "result"}},
        },
    },
    "ui": {
        "nodes": {"a": {"pos": [10, 20], "size": [200, 80]}},
        "groups": [{"title": "G", "bounding": [0, 0, 5, 5]}],
        "notes": [{"text": "hello", "pos": [1, 2]}],
        "future_key": {"anything": [1, 2, 3]},
    },
}


def test_save_and_load_keep_the_ui_block_unchanged(tmp_path):
    path = tmp_path / "w.json"
    save_workflow(parse_workflow(DATA), path)
    again = load_workflow(path)
    assert again.ui == DATA["ui"]
    assert again.nodes["b"].links["value"].node == "a"
    assert json.loads(path.read_text())["nodes"]["a"]["inputs"] == {"value": 3}


def test_version_zero_files_are_migrated_to_link_objects():
    old = {
        "format": "graphflow.workflow",
        "version": 0,
        "nodes": {
            "a": {"type": "graphflow.primitive.int", "inputs": {"value": 1}},
            "b": {"type": "graphflow.math.to_int", "connections": {"value": ["a", "result"]}},
        },
    }
    workflow = parse_workflow(old)
    assert workflow.version == FORMAT_VERSION
    assert workflow.nodes["b"].links["value"].model_dump() == {"node": "a", "output": "result"}


def test_newer_format_versions_are_refused_with_advice():
    with pytest.raises(WorkflowFileError, match="newer than this graphflow"):
        migrate({**DATA, "version": FORMAT_VERSION + 1})


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ([], "expected a JSON object"),
        ({"nodes": {}}, "not a graphflow workflow"),
        ({**DATA, "nodes": {"a": {"type": "x.y", "bogus": 1}}}, "node 'a': bogus: Extra inputs are not permitted"),
        (
            {**DATA, "nodes": {"a": {"type": "x.y", "links": {"v": ["a", "result"]}}}},
            "node 'a', input 'v': links.v: Input should be a valid dictionary",
        ),
    ],
)
def test_malformed_files_give_one_clear_error(data, fragment):
    with pytest.raises(WorkflowFileError, match=re.escape(fragment)):
        parse_workflow(data, source="w.json")


def test_bad_json_and_missing_files_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(WorkflowFileError, match=re.escape("bad.json: not valid JSON")):
        load_workflow(bad)
    with pytest.raises(WorkflowFileError, match=re.escape("missing.json: no such file")):
        load_workflow(tmp_path / "missing.json")


def test_a_png_carrying_a_workflow_loads_it(tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text(PNG_KEY, json.dumps(DATA))
    path = tmp_path / "image.png"
    Image.new("RGB", (4, 4)).save(path, pnginfo=info)
    assert set(load_workflow(path).nodes) == {"a", "b"}
    Image.new("RGB", (4, 4)).save(tmp_path / "plain.png")
    with pytest.raises(WorkflowFileError, match="carries no workflow"):
        load_workflow(tmp_path / "plain.png")


def test_json_schema_describes_links_as_objects():
    schema = Workflow.model_json_schema()
    assert schema["$defs"]["Link"]["required"] == ["node", "output"]
