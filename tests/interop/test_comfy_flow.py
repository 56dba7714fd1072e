"""The SD3 and Flux ComfyUI examples: their loaders, prompts, model sampling and advanced sampler import as
ComfyUI means them, and what graphflow cannot do is refused naming the node and the value."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from PIL import Image

from graphflow.graph import validate
from graphflow.interop import export_api, import_api
from tests.interop.conftest import example, overrides


def _run(graphflow_cli, path: Path, output: Path, **changes: object) -> bytes:
    """The picture an example (or a changed copy) saves, run small."""
    sets = {**overrides(path.name.rsplit("_", 1)[0], "api"), **changes}
    args = [a for key, value in sets.items() for a in ("--set", f"{key}={value}")]
    run = graphflow_cli("run", path, "--output", output, "--quiet", *args)
    assert run.status == 0, run.stderr
    with Image.open(run.saved[0]) as image:
        return image.tobytes()


def test_importing_a_flux_example_writes_a_graphflow_workflow_that_validates(graphflow_cli, tmp_path):
    out = tmp_path / "flux_dev.json"
    run = graphflow_cli("import", "comfy", example("flux_dev", "workflow"), "-o", out)
    assert run.status == 0, run.stderr
    data = json.loads(out.read_text())
    assert data["nodes"]["13"]["type"] == "graphflow.sampling.custom_advanced"
    assert data["nodes"]["13"]["links"]["guider"] == {"node": "22", "output": "guider"}
    assert data["nodes"]["10"]["inputs"]["family"] == "flux"  # ae.safetensors is Flux's VAE
    assert data["nodes"]["25"]["inputs"] == {"noise_seed": 219670278747233}  # the control slot is skipped
    assert graphflow_cli("validate", out).status == 0


def test_a_dual_clip_loader_type_graphflow_cannot_encode_for_is_refused_naming_the_node_and_value(
    graphflow_cli, tmp_path
):
    prompt = json.loads(example("flux_dev", "api").read_text())
    prompt["11"]["inputs"]["type"] = "hunyuan_video"
    path = tmp_path / "hunyuan_api.json"
    path.write_text(json.dumps(prompt))
    run = graphflow_cli("run", path, "--output", tmp_path / "out")
    assert run.status == 2 and "Traceback" not in run.stderr
    assert "node '11'" in run.stderr and "DualCLIPLoader" in run.stderr and "'hunyuan_video'" in run.stderr
    assert "sdxl, sd3, flux" in run.stderr


def test_the_clip_loaders_device_is_ignored_and_written_back_on_export(plugins, settings):
    prompt = json.loads(example("flux_dev", "api").read_text())
    prompt["11"]["inputs"]["device"] = "cpu"
    workflow = import_api(copy.deepcopy(prompt), registry=plugins.registry)
    assert "device" not in workflow.nodes["11"].inputs
    assert validate(workflow, plugins.registry, settings) == []
    assert export_api(workflow)["11"]["inputs"]["device"] == "cpu"


def test_sd3_prompts_empty_prompt_padding_is_graphflows_empty_padding_and_back():
    prompt = json.loads(example("sd3", "api").read_text())
    prompt["6"]["inputs"]["empty_padding"] = "empty_prompt"
    workflow = import_api(copy.deepcopy(prompt))
    assert workflow.nodes["6"].inputs["empty_padding"] == "empty_padding"
    assert export_api(workflow) == prompt


@pytest.mark.parametrize("weight_dtype", ["default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2"])
def test_the_diffusion_model_loads_with_each_of_comfyuis_weight_dtypes(graphflow_cli, tmp_path, weight_dtype):
    picture = _run(graphflow_cli, example("flux_dev", "api"), tmp_path, **{"12.weight_dtype": weight_dtype})
    assert len(set(picture)) > 1  # a picture, not one flat colour


SEEDS = {"flux_dev": "25.noise_seed", "flux_schnell": "31.seed", "sd3": "3.seed"}


@pytest.mark.parametrize(("name", "seed"), SEEDS.items())
def test_another_seed_gives_another_picture(graphflow_cli, tmp_path, name, seed):
    first = _run(graphflow_cli, example(name, "api"), tmp_path / "first", **{seed: 1})
    second = _run(graphflow_cli, example(name, "api"), tmp_path / "second", **{seed: 2})
    assert first != second


def test_an_sd3_checkpoint_without_text_encoders_runs_beside_a_triple_clip_loader_as_in_comfyuis_sd35_template(
    graphflow_cli, tmp_path
):
    prompt = json.loads(example("sd3", "api").read_text())
    prompt["4"]["inputs"]["ckpt_name"] = "sd3.5_medium.safetensors"
    path = tmp_path / "sd3_api.json"
    path.write_text(json.dumps(prompt))
    assert _run(graphflow_cli, path, tmp_path / "out")
    prompt["71"]["inputs"]["clip"] = ["4", 1]  # the checkpoint's CLIP, which holds nothing
    path.write_text(json.dumps(prompt))
    sets = [a for key, value in overrides("sd3", "api").items() for a in ("--set", f"{key}={value}")]
    run = graphflow_cli("run", path, "--output", tmp_path / "out", "--quiet", *sets)
    assert run.status == 1 and "Traceback" not in run.stderr
    assert "node '71'" in run.stderr and "sd3.5_medium.safetensors holds no text encoders" in run.stderr
