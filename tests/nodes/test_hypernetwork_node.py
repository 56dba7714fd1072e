"""Load Hypernetwork on the tiny SD1 model: read from models/hypernetworks, changes the picture, changes nothing
for good, and says when a file was made for another model."""

from pathlib import Path

import pytest
import torch

from graphflow.models.paths import list_models
from tests.nodes.conftest import link, run_graph
from tests.patches.test_hypernetwork import a1111_file
from tests.running import executor_for

WIDTH = 32  # the tiny SD1 model's text width and first block width


@pytest.fixture
def models_dir(models_root: Path, tmp_path: Path) -> Path:
    """The tiny models plus a hypernetwork folder with one file for them and one for SD1's real widths."""
    root = tmp_path / "models"
    root.mkdir()
    (root / "checkpoints").symlink_to(models_root / "checkpoints")
    (root / "hypernetworks").mkdir()
    a1111_file(root / "hypernetworks" / "tiny.pt", widths=(WIDTH,), activation="relu")
    a1111_file(root / "hypernetworks" / "sd1-sized.pt", widths=(768, 320))
    return root


def _nodes(strength: float | None, name: str = "tiny.pt") -> dict:
    nodes = {
        "checkpoint": {"type": "graphflow.loaders.checkpoint", "inputs": {"checkpoint": "tiny-sd1.safetensors"}},
        "prompt": {
            "type": "graphflow.conditioning.encode",
            "inputs": {"text": "a cat"},
            "links": {"clip": link("checkpoint", "clip")},
        },
        "negative": {
            "type": "graphflow.conditioning.encode",
            "inputs": {"text": ""},
            "links": {"clip": link("checkpoint", "clip")},
        },
        "latent": {"type": "graphflow.latent.empty", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "sampler": {
            "type": "graphflow.sampling.sample",
            "inputs": {"seed": 3, "steps": 3, "cfg": 3.0, "sampler_name": "euler", "scheduler": "normal"},
            "links": {
                "model": link(
                    "hyper" if strength is not None else "checkpoint",
                    "patched_model" if strength is not None else "model",
                ),
                "positive": link("prompt", "conditioning"),
                "negative": link("negative", "conditioning"),
                "latent": link("latent", "latent"),
            },
        },
    }
    if strength is not None:
        nodes["hyper"] = {
            "type": "graphflow.loaders.hypernetwork",
            "inputs": {"hypernetwork_name": name, "strength": strength},
            "links": {"model": link("checkpoint", "model")},
        }
    return nodes


def _picture(executor, strength: float | None) -> torch.Tensor:
    return run_graph(executor, _nodes(strength), "sampler").outputs["sampler"]["result"].samples


def test_the_hypernetworks_folder_is_listed(models_dir):
    assert list_models(models_dir, "hypernetworks") == ["sd1-sized.pt", "tiny.pt"]


def test_a_hypernetwork_changes_the_picture_and_the_model_is_unchanged_afterwards(
    executor, plugins, tmp_path, models_dir, folder_settings, shared_models
):
    before = _picture(executor, None)
    hooked = _picture(executor, 1.0)
    assert not torch.allclose(hooked, before)
    assert not torch.allclose(_picture(executor, 0.5), hooked)
    fresh = executor_for(
        plugins, tmp_path / "again", input_dir=folder_settings, models_dir=models_dir, models=shared_models
    )
    assert torch.equal(_picture(fresh, None), before)


def test_strength_zero_gives_the_model_itself(executor):
    result = run_graph(executor, _nodes(0.0), "hyper", "checkpoint")
    assert result.outputs["hyper"]["patched_model"] is result.outputs["checkpoint"]["model"]


def test_a_hypernetwork_for_other_widths_is_a_clear_error(executor):
    with pytest.raises(Exception, match=r"widths \[320, 768\].*another model family"):
        run_graph(executor, _nodes(1.0, "sd1-sized.pt"), "sampler")
