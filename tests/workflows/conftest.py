"""Example-workflow fixtures: run a shipped example workflow on the demo model when it is shipped, else on tiny SD1."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageSequence

from graphflow.models.builtin import builtin_checkpoints
from graphflow.workflow import Workflow
from tests.nodes.conftest import folder_settings, graphflow_cli, models_dir, models_root, plugins

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "graphflow" / "workflows"
INPUTS = WORKFLOWS / "inputs"
DEMO = "builtin:shapes-demo"
TINY = "tiny-sd1.safetensors"
HAS_DEMO = DEMO in builtin_checkpoints()
needs_demo = pytest.mark.skipif(not HAS_DEMO, reason="the demo model is not in graphflow/demo/weights/shapes-demo")

# Fewer steps than the examples use, so each runs in a second or two; the shape of every graph is kept.
FAST: dict[str, dict[str, Any]] = {
    "img2img": {"sampler.steps": 5},
    "sketch_to_image": {"sampler.steps": 5},
    "inpaint": {"sampler.steps": 4},
    "hires_fix": {"sampler.steps": 4, "hires.steps": 4},
    "upscale_model": {"sampler.steps": 4},
    "interpolate": {"invert_a.steps": 4, "invert_b.steps": 4, "frames.steps": 4},
    "class_conditional": {"sampler.steps": 10},
}


def checkpoint_overrides(workflow: Workflow) -> dict[str, str]:
    """NODE.INPUT -> tiny SD1 for each loader asking for the demo model, when the demo model is not shipped."""
    if HAS_DEMO:
        return {}
    return {
        f"{node_id}.checkpoint": TINY
        for node_id, node in workflow.nodes.items()
        if node.type == "graphflow.loaders.checkpoint" and node.inputs.get("checkpoint") == DEMO
    }


def read_rgb(path: Path) -> np.ndarray:
    """An image file's RGB pixels as float [H, W, 3] in 0..1."""
    with Image.open(path) as picture:
        return np.asarray(picture.convert("RGB"), dtype=np.float64) / 255.0


def read_frames(path: Path) -> list[np.ndarray]:
    """Every frame of an animation as float RGB [H, W, 3] in 0..1."""
    with Image.open(path) as picture:
        return [np.asarray(frame.convert("RGB"), dtype=np.float64) / 255.0 for frame in ImageSequence.Iterator(picture)]


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two same-sized pictures' pixel values."""
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.fixture
def run_example(graphflow_cli, plugins, tmp_path: Path) -> Callable[..., Path]:
    """Run example NAME as the docs say (its inputs found without flags), quickly; returns the one saved file."""
    from graphflow.interop import load_any

    def run(name: str, **sets: Any) -> Path:
        path = WORKFLOWS / f"{name}.json"
        overrides = {**checkpoint_overrides(load_any(path, plugins.registry)), **FAST[name], **sets}
        args = ["run", name, "--output", tmp_path / "output", "--quiet"]
        result = graphflow_cli(*args, *(a for key, value in overrides.items() for a in ("--set", f"{key}={value}")))
        assert result.status == 0, result.stderr
        assert len(result.saved) == 1, result.stdout
        return result.saved[0]

    return run


@pytest.fixture(scope="session")
def example_models(models_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder holding every model file the example workflows name (tiny stand-ins)."""
    from graphflow.models.builtin import builtin_upscale_models
    from tests.interop.conftest import write_addon_stand_ins

    root = tmp_path_factory.mktemp("example_models")
    (root / "checkpoints").mkdir()
    (root / "upscale_models").mkdir()
    tiny = models_root / "checkpoints"
    for name, source in {
        TINY: "tiny-sd1.safetensors",
        "v1-5-pruned-emaonly.safetensors": "tiny-sd1.safetensors",
        "sd_xl_base_1.0.safetensors": "tiny-sdxl.safetensors",
    }.items():
        os.link(tiny / source, root / "checkpoints" / name)
    comfy_upscaler = root / "upscale_models" / "RealESRGAN_x2plus.safetensors"
    shutil.copy(builtin_upscale_models()["builtin:shapes-x2"], comfy_upscaler)
    write_addon_stand_ins(root)
    return root


@pytest.fixture
def example_inputs(folder_settings: Path) -> Path:
    """The input folder with every image the ComfyUI examples load (graphflow's own come with the package)."""
    from tests.interop.conftest import write_inputs

    write_inputs(folder_settings)
    return folder_settings
