"""The ComfyUI examples run from the command line on tiny models, and `graphflow import comfy` converts them."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from tests.interop.conftest import DATA, FLOW_NAMES, NAMES, example, overrides

# upscale_model: x2 by the model, then x0.5 (API file) or scaled to 96 (UI file)
EXPECTED_SIZE = {
    "txt2img": 64,
    "img2img": 64,
    "inpaint": 64,
    "hires_fix": 96,
    "upscale_model": 64,
    "lora_controlnet": 64,
    "flux_dev": 64,
    "flux_schnell": 64,
    "sd3": 64,
}


@pytest.mark.parametrize("fmt", ["api", "workflow"])
@pytest.mark.parametrize("name", NAMES)
def test_each_example_runs_from_the_cli_and_saves_its_image(graphflow_cli, tmp_path, name, fmt):
    sets = [a for key, value in overrides(name, fmt).items() for a in ("--set", f"{key}={value}")]
    run = graphflow_cli("run", example(name, fmt), "--output", tmp_path / "out", "--quiet", *sets)
    assert run.status == 0, run.stderr
    [saved] = run.saved
    size = 96 if (name, fmt) == ("upscale_model", "workflow") else EXPECTED_SIZE[name]
    with Image.open(saved) as image:
        assert image.size == (size, size)


def test_running_a_file_with_custom_nodes_fails_with_one_line_naming_each(graphflow_cli, tmp_path):
    run = graphflow_cli("run", DATA / "custom_node_api.json", "--output", tmp_path)
    assert run.status == 2 and "Traceback" not in run.stderr
    lines = run.stderr.splitlines()
    assert lines[0].endswith("custom_node_api.json: 2 problems")
    assert "node '20'" in lines[1] and "'FaceDetailer'" in lines[1]
    assert "node '21'" in lines[2] and "'UltimateSDUpscale'" in lines[2] and len(lines) == 3


def test_import_writes_a_graphflow_workflow_that_validates(graphflow_cli, tmp_path):
    out = tmp_path / "converted.json"
    run = graphflow_cli("import", "comfy", example("inpaint", "workflow"), "-o", out)
    assert run.status == 0, run.stderr
    data = json.loads(out.read_text())
    assert data["format"] == "graphflow.workflow" and data["meta"]["comfyui"]["version"] == 0.4
    assert graphflow_cli("validate", out).status == 0


@pytest.mark.parametrize("name", ["txt2img", *FLOW_NAMES])
def test_the_same_seed_gives_the_same_picture_from_both_formats(graphflow_cli, tmp_path, name):
    pictures = []
    for fmt in ("api", "workflow"):
        sets = [a for key, value in overrides(name, fmt).items() for a in ("--set", f"{key}={value}")]
        run = graphflow_cli("run", example(name, fmt), "--output", tmp_path / fmt, "--quiet", *sets)
        with Image.open(run.saved[0]) as image:
            pictures.append(image.tobytes())
    assert pictures[0] == pictures[1]


@pytest.mark.parametrize("fmt", ["api", "workflow"])
def test_the_lora_and_the_controlnet_of_a_comfyui_file_both_change_the_picture(graphflow_cli, tmp_path, caplog, fmt):
    def picture(**changes: float) -> bytes:
        sets = {**overrides("lora_controlnet", fmt), **changes}
        args = [a for key, value in sets.items() for a in ("--set", f"{key}={value}")]
        run = graphflow_cli("run", example("lora_controlnet", fmt), "--output", tmp_path, "--quiet", *args)
        assert run.status == 0, run.stderr
        with Image.open(run.saved[0]) as image:
            return image.tobytes()

    full = picture()
    assert "match nothing" not in caplog.text  # every key of the LoRA found its layer
    assert picture(**{"10.strength_model": 0.0, "10.strength_clip": 0.0}) != full
    assert picture(**{"14.strength": 0.0}) != full
