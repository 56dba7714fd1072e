"""Upscale-model nodes load a file from models/upscale_models and enlarge an image through the executor."""

import pytest
import torch
from safetensors.torch import save_file

from graphflow.api import hookimpl
from graphflow.plugins import build_plugins
from graphflow.workflow import parse_workflow
from tests.running import executor_for, settings_under
from tests.upscale.tiny import compact_spec, rrdb_spec, tiny_network


class ProgressRecorder:
    """Collects the progress events of a run."""

    def __init__(self):
        self.steps = []

    @hookimpl
    def on_progress(self, run, node_id, step, total, preview):
        self.steps.append((node_id, step, total))


@pytest.fixture
def models_dir(tmp_path):
    """models/upscale_models under the test's folder, where `settings_under(tmp_path)` looks."""
    folder = tmp_path / "models" / "upscale_models"
    folder.mkdir(parents=True)
    return folder


def _workflow(model_name: str, tile_size: int = 512, overlap: int = 32, width: int = 20, height: int = 12):
    return parse_workflow(
        {
            "format": "graphflow.workflow",
            "version": 1,
            "nodes": {
                "grey": {"type": "graphflow.mask.solid", "inputs": {"value": 0.5, "width": width, "height": height}},
                "image": {"type": "graphflow.mask.to_image", "links": {"mask": {"node": "grey", "output": "mask"}}},
                "model": {"type": "graphflow.upscale.load_model", "inputs": {"model_name": model_name}},
                "up": {
                    "type": "graphflow.upscale.with_model",
                    "inputs": {"tile_size": tile_size, "overlap": overlap},
                    "links": {
                        "upscale_model": {"node": "model", "output": "upscale_model"},
                        "image": {"node": "image", "output": "image"},
                    },
                },
            },
        }
    )


def _run(tmp_path, workflow):
    plugins = build_plugins(entry_points=False)
    recorder = ProgressRecorder()
    plugins.manager.register(recorder)
    result = executor_for(plugins, tmp_path, device="cpu").run(workflow, targets=["up"])
    return result, recorder.steps


@pytest.mark.parametrize(("spec", "name"), [(compact_spec(2), "compact.safetensors"), (rrdb_spec(4), "esrgan.pth")])
def test_a_model_file_upscales_an_image_in_a_workflow(tmp_path, models_dir, spec, name):
    network = tiny_network(spec)
    if name.endswith(".pth"):
        torch.save(network.state_dict(), models_dir / name)
    else:
        save_file(network.state_dict(), str(models_dir / name))
    result, steps = _run(tmp_path, _workflow(name, tile_size=32, overlap=8))
    assert result.status == "success", result.error
    upscaled = result.outputs["up"]["result"]
    with torch.no_grad():
        expected = network(torch.full((1, 3, 12, 20), 0.5)).clamp(0, 1).permute(0, 2, 3, 1)
    assert upscaled.shape == (1, 12 * spec.scale, 20 * spec.scale, 3)
    torch.testing.assert_close(upscaled, expected)
    assert steps == [("up", 1, 1)]


def test_progress_is_reported_for_each_tile(tmp_path, models_dir):
    save_file(tiny_network(compact_spec(2)).state_dict(), str(models_dir / "c.safetensors"))
    result, steps = _run(tmp_path, _workflow("c.safetensors", tile_size=32, overlap=0, width=70, height=40))
    assert result.status == "success", result.error
    assert steps == [("up", i, 6) for i in range(1, 7)]  # tiles at y 0, 8 and x 0, 32, 38


def test_a_file_that_is_not_an_upscale_model_fails_with_its_name(tmp_path, models_dir):
    save_file(
        {"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(4, 4, 3, 3)}, str(models_dir / "unet.safetensors")
    )
    result, _ = _run(tmp_path, _workflow("unet.safetensors"))
    assert result.status == "error"
    assert "unet.safetensors: not an ESRGAN/RRDBNet or Real-ESRGAN compact state dict" in str(result.error)


def test_the_model_list_shows_the_files_in_the_folder(models_dir, tmp_path):
    save_file(tiny_network(compact_spec(2)).state_dict(), str(models_dir / "a.safetensors"))
    spec = build_plugins(entry_points=False).registry.specs["graphflow.upscale.load_model"]
    assert spec.inputs["model_name"].current_choices(settings_under(tmp_path)) == ("builtin:shapes-x2", "a.safetensors")
