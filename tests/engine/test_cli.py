"""The command line: run with overrides, validate listing every problem, nodes, schema, clear errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from graphflow.cli import main

ROOT = Path(__file__).resolve().parents[2]
ARITHMETIC = ROOT / "graphflow" / "workflows" / "arithmetic.json"


def test_run_with_set_writes_the_result_and_prints_its_path(tmp_path, capsys):
    code = main(
        [
            "run",
            str(ARITHMETIC),
            "--set",
            "scale.value=2",
            "--set",
            "sentence.first=width is",
            "--output",
            str(tmp_path),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    saved = Path(out.strip())
    assert saved.parent == tmp_path and saved.read_text() == "width is 1024"
    assert "[3/6] scaled (graphflow.math.float)" in err and "success" in err


def test_an_example_runs_by_name_from_any_folder_and_the_environment_is_left_alone(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = dict(os.environ)
    assert main(["run", "arithmetic", "--models", "m", "--input", "i", "--device", "cpu", "--quiet"]) == 0
    assert Path(capsys.readouterr().out.strip()).read_text() == "upscaled width: 768"
    assert dict(os.environ) == before


def test_examples_lists_the_shipped_workflows(capsys):
    assert main(["examples"]) == 0
    names = capsys.readouterr().out.split()
    assert {"txt2img", "img2img", "arithmetic", "comfyui/txt2img_api"} <= set(names)


def test_runs_never_overwrite_earlier_outputs(tmp_path, capsys):
    for _ in range(2):
        assert main(["run", str(ARITHMETIC), "--output", str(tmp_path), "--quiet"]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.txt")) == ["arithmetic_00001_.txt", "arithmetic_00002_.txt"]


def test_quiet_runs_print_only_the_saved_file_while_models_load(tmp_path):
    # a fresh process, so the demo model really loads (and its libraries would draw their progress bars)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "graphflow.cli",
            "run",
            "txt2img",
            "--set",
            "sampler.steps=1",
            "--output",
            str(tmp_path),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "txt2img_00001_.png")
    assert "Loading" not in done.stderr and "%|" not in done.stderr, done.stderr


def test_validate_lists_every_problem_with_node_and_input(tmp_path, capsys):
    broken = json.loads(ARITHMETIC.read_text())
    broken["nodes"]["width"]["inputs"]["value"] = "wide"
    broken["nodes"]["scaled"]["inputs"]["operation"] = "sqrt"
    broken["nodes"]["as_text"]["links"]["value"]["output"] = "res"
    broken["nodes"]["blur"] = {"type": "acme.blur"}
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "4 problems" in err
    assert "node 'width', input 'value': expects INT, got str 'wide' [invalid_literal]" in err
    assert "node 'scaled', input 'operation'" in err and "[not_in_choices]" in err
    assert "node 'as_text', input 'value'" in err and "[unknown_output]" in err
    assert "node 'blur': unknown node type 'acme.blur'" in err
    assert main(["validate", str(path), "--json"]) == 2
    assert len(json.loads(capsys.readouterr().out)) == 4


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "missing.json"], "missing.json: no such file"),
        (["run", str(ARITHMETIC), "--set", "scale"], "expected NODE.INPUT=VALUE"),
        (["run", str(ARITHMETIC), "--set", "nope.value=1"], "no node 'nope'"),
        (["run", str(ARITHMETIC), "--set", "scale.valu=1"], "has no input 'valu' (it has: value)"),
        (["run", str(ARITHMETIC), "--set", "scale.value=abc"], "'abc' is not a valid FLOAT"),
    ],
)
def test_command_line_mistakes_give_one_clear_line(args, fragment, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_json_gives_one_clear_line(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert main(["validate", str(bad)]) == 2
    assert "bad.json: not valid JSON" in capsys.readouterr().err


def test_nodes_lists_each_node_with_its_plugin(capsys):
    assert main(["nodes"]) == 0
    out = capsys.readouterr().out
    assert "graphflow.math.float 1.0.0 (builtin.math)" in out and "inputs: a: FLOAT, b: FLOAT" in out
    assert main(["nodes", "--json"]) == 0
    catalogue = json.loads(capsys.readouterr().out)
    save = next(n for n in catalogue if n["type"] == "graphflow.text.save")
    assert save["output_node"] and save["plugin"] == "builtin.text"


def test_schema_prints_the_workflow_json_schema(capsys):
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "Workflow"
