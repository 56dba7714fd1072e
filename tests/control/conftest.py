"""A tiny SD1 model with tiny ControlNets and T2I-Adapters on disk in each layout, and helpers to run workflows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from graphflow.cache import ModelCache
from graphflow.executor import Executor
from graphflow.plugins import Plugins, build_plugins
from graphflow.runs import RunResult
from graphflow.sampling.model import DiffusionModel
from graphflow.workflow import parse_workflow
from tests.running import executor_for

CHECKPOINT = "tiny-sd1"
HINT = "hint.png"
SIZE = 64
# widths of the tiny SD1 UNet's down blocks (graphflow.models.tiny)
UNET_BLOCKS = (32, 64)


def hint_picture(size: int = SIZE) -> Image.Image:
    """A hint with structure: a white ring and a bar on black, plus a soft gradient."""
    y, x = np.mgrid[0:size, 0:size] / size
    ring = (np.abs(np.hypot(x - 0.4, y - 0.45) - 0.25) < 0.05).astype(float)
    bar = ((x > 0.7) & (x < 0.8) & (y > 0.2)).astype(float)
    pixels = np.clip(ring + bar + 0.3 * x[..., None].squeeze(-1) * y, 0, 1)
    rgb = np.stack([pixels, pixels * 0.8, 1 - pixels * 0.5], axis=-1)
    return Image.fromarray((rgb * 255).round().astype(np.uint8))


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The tiny SD1 model and its controls, as objects and saved under a models folder ("root")."""
    from graphflow.control.tiny import controlnet_from_unet, save_adapter_file, save_controlnet_file, tiny_adapter
    from graphflow.models.tiny import build_tiny, save_tiny_diffusers

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("models")
    models = build_tiny("sd1", seed=0)
    save_tiny_diffusers(models, root / "checkpoints" / CHECKPOINT)
    controlnets = root / "controlnet"
    first = controlnet_from_unet(models.unet, seed=1)
    second = controlnet_from_unet(models.unet, seed=2)
    first.save_pretrained(controlnets / "tiny-cn")
    second.save_pretrained(controlnets / "tiny-cn-2")
    save_controlnet_file(first, controlnets / "control_tiny_sd15.safetensors")
    save_controlnet_file(first, controlnets / "bare_tiny_sd15.safetensors", prefix=False)
    save_controlnet_file(first, controlnets / "diffusers_tiny_sd15.safetensors", layout="diffusers")
    save_controlnet_file(first, controlnets / "diff_control_tiny_sd15.safetensors", base=models.unet)
    adapter = tiny_adapter(UNET_BLOCKS, seed=3)
    adapter.save_pretrained(controlnets / "tiny-t2i")
    four_levels = tiny_adapter((*UNET_BLOCKS, 64, 64), seed=4)
    save_adapter_file(four_levels, controlnets / "t2iadapter_tiny_sd14v1.safetensors")
    inputs = root.parent / "inputs"
    inputs.mkdir(exist_ok=True)
    hint_picture().save(inputs / HINT)
    return {
        "root": root,
        "inputs": inputs,
        "models": models,
        "controlnet": first,
        "controlnet_2": second,
        "adapter": adapter,
        "adapter_4": four_levels,
    }


@pytest.fixture(scope="session")
def plugins() -> Plugins:
    """The built-in nodes only."""
    return build_plugins(entry_points=False)


@pytest.fixture(scope="session")
def shared_models() -> ModelCache:
    """One model cache for the session, so tests share loaded models."""
    return ModelCache()


@pytest.fixture
def executor(plugins: Plugins, tmp_path: Path, tiny: dict[str, Any], shared_models: ModelCache) -> Executor:
    """An executor on the tiny models folder and the hint's input folder, writing under this test's folder."""
    return executor_for(plugins, tmp_path, input_dir=tiny["inputs"], models_dir=tiny["root"], models=shared_models)


@pytest.fixture(scope="session")
def diffusion_model(tiny: dict[str, Any]) -> DiffusionModel:
    """The tiny SD1 checkpoint loaded as graphflow loads it (CPU, float32)."""
    from graphflow.models.loader import load_checkpoint

    model, _, _ = load_checkpoint(tiny["root"] / "checkpoints" / CHECKPOINT, device="cpu")
    return model


def link(node: str, output: str) -> dict[str, str]:
    """A link to `output` of `node`."""
    return {"node": node, "output": output}


def txt2img_nodes(prompt: str, negative: str, *, steps: int, cfg: float, seed: int) -> dict[str, dict[str, Any]]:
    """A plain txt2img graph on the tiny checkpoint, up to a "decode" node (Euler, normal schedule)."""
    return {
        "checkpoint": {"type": "graphflow.loaders.checkpoint", "inputs": {"checkpoint": CHECKPOINT}},
        "prompt": {
            "type": "graphflow.conditioning.encode",
            "inputs": {"text": prompt},
            "links": {"clip": link("checkpoint", "clip")},
        },
        "negative": {
            "type": "graphflow.conditioning.encode",
            "inputs": {"text": negative},
            "links": {"clip": link("checkpoint", "clip")},
        },
        "latent": {"type": "graphflow.latent.empty", "inputs": {"width": SIZE, "height": SIZE, "batch_size": 1}},
        "sampler": {
            "type": "graphflow.sampling.sample",
            "inputs": {"seed": seed, "steps": steps, "cfg": cfg, "sampler_name": "euler", "scheduler": "normal"},
            "links": {
                "model": link("checkpoint", "model"),
                "positive": link("prompt", "conditioning"),
                "negative": link("negative", "conditioning"),
                "latent": link("latent", "latent"),
            },
        },
        "decode": {
            "type": "graphflow.vae.decode",
            "links": {"latent": link("sampler", "result"), "vae": link("checkpoint", "vae")},
        },
    }


def with_controls(nodes: dict[str, dict[str, Any]], *controls: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`nodes` with Apply ControlNet (Advanced) nodes chained between the prompts and the sampler.

    Each control is a dict with `name` (a models/controlnet choice) and optional strength, start_percent,
    end_percent; all read the hint picture.
    """
    nodes = {**nodes, "hint": {"type": "graphflow.image.load", "inputs": {"image": HINT}}}
    positive, negative = link("prompt", "conditioning"), link("negative", "conditioning")
    for index, control in enumerate(controls):
        loader, apply = f"control_loader_{index}", f"control_{index}"
        nodes[loader] = {"type": "graphflow.loaders.controlnet", "inputs": {"control_net_name": control["name"]}}
        settings = {k: v for k, v in control.items() if k != "name"}
        nodes[apply] = {
            "type": "graphflow.conditioning.controlnet_advanced",
            "inputs": {"strength": 1.0, "start_percent": 0.0, "end_percent": 1.0, **settings},
            "links": {
                "positive": positive,
                "negative": negative,
                "control_net": link(loader, "control_net"),
                "image": link("hint", "pixels"),
            },
        }
        positive, negative = link(apply, "positive_out"), link(apply, "negative_out")
    sampler = nodes["sampler"]
    nodes["sampler"] = {**sampler, "links": {**sampler["links"], "positive": positive, "negative": negative}}
    return nodes


def run_nodes(executor: Executor, nodes: dict[str, dict[str, Any]], *targets: str) -> RunResult:
    """Run `nodes` up to `targets` and fail with the node's error if one failed."""
    workflow = parse_workflow({"format": "graphflow.workflow", "version": 1, "nodes": nodes})
    result = executor.run(workflow, targets=list(targets) or None)
    if result.status == "error":
        raise result.error
    return result


def decoded(executor: Executor, nodes: dict[str, dict[str, Any]]) -> torch.Tensor:
    """The "decode" node's image of a run of `nodes`."""
    return run_nodes(executor, nodes, "decode").outputs["decode"]["image"]
