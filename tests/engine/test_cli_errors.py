"""`graphflow validate`, `run` and `import` on hostile files: the problems are printed, the exit status is 2 for
an invalid workflow or file and 1 for a failed run, and a traceback appears only with --debug."""

import io
import json
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from graphflow.cli import main

ROOT = Path(__file__).resolve().parents[2]
ARITHMETIC = ROOT / "graphflow" / "workflows" / "arithmetic.json"
COMFY_API = ROOT / "graphflow" / "workflows" / "comfyui" / "txt2img_api.json"


def _arithmetic(change):
    data = json.loads(ARITHMETIC.read_text())
    change(data["nodes"])
    return json.dumps(data)


def _comfy(change):
    prompt = json.loads(COMFY_API.read_text())
    change(prompt)
    return json.dumps(prompt)


def _cycle(count: int) -> str:
    nodes = {
        f"n{i}": {"type": "graphflow.math.float", "links": {"a": {"node": f"n{(i + 1) % count}", "output": "result"}}}
        for i in range(count)
    }
    return json.dumps({"format": "graphflow.workflow", "version": 1, "nodes": nodes})


def _bad_links(count: int) -> str:
    prompt = {str(i): {"class_type": "ImageInvert", "inputs": {"image": [f"ghost{i}", 0]}} for i in range(count)}
    return json.dumps(prompt)


def _png(text: dict[str, str] | None = None) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


HOSTILE = {
    "nested 100,000 deep.json": '{"format": "graphflow.workflow", "version": 1, "ui": '
    + "[" * 100_000
    + "]" * 100_000
    + "}",
    "5000 digits.json": '{"format": "graphflow.workflow", "version": 1, "ui": {"n": ' + "9" * 5000 + "}}",
    "superscript version.json": _arithmetic(lambda n: n["width"].update(version="².0.0")),
    "nan literal.json": _arithmetic(lambda n: n["scale"]["inputs"].update(value=float("nan"))),
    "infinite literal.json": _arithmetic(lambda n: n["scale"]["inputs"].update(value=float("-inf"))),
    "version zero list.json": '{"format": "graphflow.workflow", "version": 0, "nodes": [1, 2]}',
    "empty.json": "",
    "a list.json": "[1, 2]",
    "binary.json": b"\x00\xff\xfe\x81",
    "nan link.json": _comfy(lambda p: p["3"]["inputs"].update(model=["4", float("nan")])),
    "inputs list.json": _comfy(lambda p: p["3"].update(inputs=[1, 2])),
    "ui nodes number.json": '{"nodes": 5, "links": [], "version": 0.4}',
    "ui slots strings.json": '{"nodes": [{"id": 1, "type": "KSampler", "inputs": "abc"}], "links": []}',
    "10000 node cycle.json": _cycle(10_000),
    "1000 bad links.json": _bad_links(1_000),
    "damaged.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
    "no workflow.png": _png(),
    "deep chunk.png": _png({"prompt": "[" * 100_000 + "]" * 100_000}),
}

READABLE_BUT_INVALID = {
    "superscript version.json",
    "nan literal.json",
    "infinite literal.json",
    "10000 node cycle.json",
}


@pytest.fixture
def hostile_file(tmp_path, request):
    name = request.param
    path = tmp_path / name
    content = HOSTILE[name]
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    return path


@pytest.mark.parametrize("command", ["validate", "run", "import"])
@pytest.mark.parametrize("hostile_file", list(HOSTILE), indirect=True)
def test_a_hostile_file_is_answered_with_its_problems_and_exit_status_2(command, hostile_file, tmp_path, capsys):
    args = {
        "validate": ["validate", str(hostile_file)],
        "run": ["run", str(hostile_file), "--output", str(tmp_path / "out"), "--quiet"],
        "import": ["import", "comfy", str(hostile_file)],
    }[command]
    status = main(args)
    err = capsys.readouterr().err
    if command == "import" and hostile_file.name in READABLE_BUT_INVALID:
        assert status == 0, err  # import converts; only validate and run check
        return
    assert status == 2, err
    assert "Traceback" not in err and 0 < len(err) < 5_000
    assert hostile_file.name in err


def test_a_file_that_is_a_folder_is_no_such_file(tmp_path, capsys):
    assert main(["validate", str(tmp_path)]) == 2
    assert f"{tmp_path}: no such file" in capsys.readouterr().err


def test_validate_json_lists_a_files_problems_in_the_issue_shape(tmp_path, capsys):
    path = tmp_path / "w.json"
    path.write_text('{"format": "graphflow.workflow", "version": 1, "nodes": {"a": 5, "b": {"type": 3}}}')
    assert main(["validate", str(path), "--json"]) == 2
    assert json.loads(capsys.readouterr().out) == [
        {"node_id": "a", "input": None, "kind": "invalid_file", "message": "Input should be a valid dictionary"},
        {"node_id": "b", "input": None, "kind": "invalid_file", "message": "type: Input should be a valid string"},
    ]


def test_a_run_that_fails_exits_1_naming_the_node(tmp_path, capsys):
    args = ["run", str(ARITHMETIC), "--set", "scaled.operation=divide", "--set", "scale.value=0"]
    assert main([*args, "--output", str(tmp_path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "node 'scaled' (graphflow.math.float) failed: ZeroDivisionError" in err and "Traceback" not in err


def test_debug_shows_the_traceback_of_a_failed_run(tmp_path, capsys):
    args = ["run", str(ARITHMETIC), "--set", "scaled.operation=divide", "--set", "scale.value=0"]
    assert main(["--debug", *args, "--output", str(tmp_path), "--quiet"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_a_file_that_cannot_be_written_is_one_line_and_the_traceback_only_with_debug(tmp_path, capsys):
    out = tmp_path / "missing" / "w.json"
    assert main(["import", "comfy", str(COMFY_API), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "No such file or directory" in err and "Traceback" not in err
    assert main(["import", "comfy", str(COMFY_API), "-o", str(out), "--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["9" * 5000, "[" * 10_000, "NaN"])
def test_odd_set_values_are_a_usage_error_or_a_validation_problem(value, tmp_path, capsys):
    status = main(["run", str(ARITHMETIC), "--set", f"scale.value={value}", "--output", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err and len(err) < 5_000
    if value == "NaN":
        assert "node 'scale', input 'value': nan is not a finite number [invalid_literal]" in err
    else:
        assert "is not a valid FLOAT" in err
