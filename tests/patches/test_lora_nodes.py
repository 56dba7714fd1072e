"""The Load LoRA nodes in workflows: patched pictures, stacking, reports, and a base model that never changes."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import torch

from graphflow.cache import ModelCache
from graphflow.context import Context
from graphflow.executor import Executor
from graphflow.graph import WorkflowInvalid
from graphflow.models.cache import file_identity
from graphflow.models.loader import load_checkpoint
from graphflow.models.tiny import build_tiny, save_tiny_checkpoint
from graphflow.nodes.lora import LoadLora, LoadLoraModelOnly
from graphflow.plugins import Plugins, build_plugins
from graphflow.runs import RunResult
from graphflow.sampling.model import DiffusionModel
from graphflow.text.encoder import TextEncoder
from graphflow.workflow import parse_workflow
from tests.patches.lora_files import (
    KOHYA,
    PEFT_FOLDED,
    TEXT_TARGETS,
    UNET_TARGETS,
    canonical_text_path,
    dotted_stem,
    kohya_stem,
    random_lora,
    save_lora,
)
from tests.running import executor_for, settings_under

CHECKPOINT = "tiny-sd1.safetensors"
STRAY = "lora_unet_down_blocks_9_attentions_0_proj_in"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Models with the tiny SD1 checkpoint and LoRAs: style (UNet + text), detail (UNet only), strays, xl."""
    root = tmp_path_factory.mktemp("lora-models")
    models = build_tiny("sd1", seed=0)
    save_tiny_checkpoint(models, root / "checkpoints" / CHECKPOINT)
    unet, text = models.unet, models.text_models["clip_l"]
    unet_lora = random_lora(unet, UNET_TARGETS, rank=4, alpha=4.0, seed=1)
    text_lora = random_lora(text, TEXT_TARGETS, rank=4, alpha=4.0, seed=2)
    text_lora.factors = {canonical_text_path(p): f for p, f in text_lora.factors.items()}
    style = KOHYA.tensors(unet_lora, kohya_stem("lora_unet_")) | KOHYA.tensors(text_lora, kohya_stem("lora_te_"))
    save_lora(root / "loras" / "style.safetensors", style)
    detail = random_lora(unet, ("to_q", "to_k", "to_v", "to_out.0"), rank=2, alpha=1.0, seed=3)
    save_lora(root / "loras" / "more" / "detail.safetensors", PEFT_FOLDED.tensors(detail, dotted_stem("unet.")))
    strays = {f"{STRAY}.lora_down.weight": torch.zeros(2, 32), f"{STRAY}.lora_up.weight": torch.zeros(32, 2)}
    save_lora(root / "loras" / "strays.safetensors", style | strays)
    xl = {
        "lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": torch.zeros(4, 1280),
        "lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_up.weight": torch.zeros(5120, 4),
    }
    save_lora(root / "loras" / "xl.safetensors", xl)
    return root


@pytest.fixture(scope="module")
def plugins() -> Plugins:
    return build_plugins(entry_points=False)


@pytest.fixture
def executor(plugins: Plugins, tmp_path: Path, models_dir: Path) -> Executor:
    """A fresh executor with its own model cache."""
    return executor_for(plugins, tmp_path, models_dir=models_dir)


def _link(node: str, output: str) -> dict[str, str]:
    return {"node": node, "output": output}


def _workflow(*loras: dict[str, Any]) -> dict[str, Any]:
    """txt2img on the tiny model through the given LoRA nodes (chained in order, model-only ones without clip)."""
    nodes: dict[str, Any] = {
        "checkpoint": {"type": "graphflow.loaders.checkpoint", "inputs": {"checkpoint": CHECKPOINT}}
    }
    model, clip = _link("checkpoint", "model"), _link("checkpoint", "clip")
    for i, inputs in enumerate(loras):
        name = f"lora{i}"
        if "strength_clip" in inputs:
            nodes[name] = {"type": "graphflow.loaders.lora", "inputs": inputs, "links": {"model": model, "clip": clip}}
            clip = _link(name, "patched_clip")
        else:
            nodes[name] = {"type": "graphflow.loaders.lora_model_only", "inputs": inputs, "links": {"model": model}}
        model = _link(name, "patched_model")
    nodes |= {
        "prompt": {
            "type": "graphflow.conditioning.encode",
            "inputs": {"text": "a red square"},
            "links": {"clip": clip},
        },
        "negative": {"type": "graphflow.conditioning.encode", "inputs": {"text": ""}, "links": {"clip": clip}},
        "latent": {"type": "graphflow.latent.empty", "inputs": {"width": 32, "height": 32, "batch_size": 1}},
        "sampler": {
            "type": "graphflow.sampling.sample",
            "inputs": {"seed": 7, "steps": 3, "cfg": 3.0, "sampler_name": "euler", "scheduler": "normal"},
            "links": {
                "model": model,
                "positive": _link("prompt", "conditioning"),
                "negative": _link("negative", "conditioning"),
                "latent": _link("latent", "latent"),
            },
        },
        "decode": {
            "type": "graphflow.vae.decode",
            "links": {"latent": _link("sampler", "result"), "vae": _link("checkpoint", "vae")},
        },
    }
    return {"format": "graphflow.workflow", "version": 1, "nodes": nodes}


def _run(executor: Executor, *loras: dict[str, Any]) -> RunResult:
    result = executor.run(parse_workflow(_workflow(*loras)), targets=["decode"])
    if result.status == "error":
        raise result.error
    return result


def _picture(result: RunResult) -> torch.Tensor:
    return result.outputs["decode"]["image"]


def _style(strength_model: float = 1.0, strength_clip: float = 1.0, name: str = "style.safetensors") -> dict:
    return {"lora_name": name, "strength_model": strength_model, "strength_clip": strength_clip}


def test_after_a_lora_run_the_base_picture_is_bit_identical_to_a_fresh_executors(plugins, tmp_path, models_dir):
    seen = executor_for(plugins, tmp_path / "seen", models_dir=models_dir)
    with_lora = _picture(_run(seen, _style()))
    after = _picture(_run(seen))
    fresh = _picture(_run(executor_for(plugins, tmp_path / "fresh", models_dir=models_dir)))
    assert torch.equal(after, fresh)
    assert (with_lora - fresh).abs().max() > 1e-3, "the LoRA should change the picture"


def test_the_model_and_clip_strengths_each_change_the_picture_and_zero_changes_nothing(executor):
    base = _picture(_run(executor))
    assert torch.equal(_picture(_run(executor, _style(0.0, 0.0))), base)
    model_only, clip_only = _picture(_run(executor, _style(1.0, 0.0))), _picture(_run(executor, _style(0.0, 1.0)))
    assert not torch.equal(model_only, base) and not torch.equal(clip_only, base)
    assert not torch.equal(model_only, clip_only)


def test_stacked_loras_carry_every_patch_in_order_on_copies_of_the_inputs(tmp_path, models_dir):
    ctx = Context("lora", "graphflow.loaders.lora", settings_under(tmp_path, models_dir=models_dir), ModelCache(), {})
    model, clip, _ = load_checkpoint(models_dir / "checkpoints" / CHECKPOINT, device="cpu", cache=ctx.models)
    first = LoadLora().run(ctx, model, clip, "style.safetensors", 1.0, -0.5)
    second = LoadLoraModelOnly().run(ctx, first.patched_model, "more/detail.safetensors", -2.0)
    assert model.patches == () and all(part.patches == () for part in clip.parts)
    assert second.unet is model.unet and first.patched_clip.parts[0].model is clip.parts[0].model
    assert second.patches[: len(first.patched_model.patches)] == first.patched_model.patches
    added = second.patches[len(first.patched_model.patches) :]
    projections = [n for n, _ in model.unet.named_modules() if n.endswith(("to_q", "to_k", "to_v", "to_out.0"))]
    assert len(added) == len(projections) and all(
        p.source == "detail.safetensors" and p.strength == -2.0 for p in added
    )
    assert {p.strength for p in first.patched_clip.parts[0].patches} == {-0.5}


def test_strength_zero_returns_the_inputs_themselves(tmp_path, models_dir):
    ctx = Context("lora", "graphflow.loaders.lora", settings_under(tmp_path, models_dir=models_dir), ModelCache(), {})
    model, clip = object.__new__(DiffusionModel), object.__new__(TextEncoder)
    assert LoadLora().run(ctx, model, clip, "style.safetensors", 0.0, 0.0) == (model, clip)
    assert LoadLoraModelOnly().run(ctx, model, "style.safetensors", 0.0) is model
    assert len(ctx.models) == 0, "nothing needs reading"


def test_the_parsed_file_is_cached_by_file_identity_and_read_again_when_replaced(executor, models_dir):
    path = models_dir / "loras" / "replaced.safetensors"
    path.write_bytes((models_dir / "loras" / "style.safetensors").read_bytes())
    first = _picture(_run(executor, _style(name=path.name), _style(0.5, 0.5, name=path.name)))
    assert ("graphflow.lora", *file_identity(path)) in executor.models
    path.write_bytes((models_dir / "loras" / "more" / "detail.safetensors").read_bytes())
    assert not torch.equal(_picture(_run(executor, _style(name=path.name), _style(0.5, 0.5, name=path.name))), first)
    assert ("graphflow.lora", *file_identity(path)) in executor.models


def test_unmatched_keys_are_logged_as_a_warning_naming_the_file(executor, caplog):
    with caplog.at_level(logging.WARNING, logger="graphflow.node.graphflow.loaders.lora"):
        _run(executor, _style(name="strays.safetensors"))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(m.startswith("2 of ") and "strays.safetensors match nothing" in m and STRAY in m for m in warnings)


def test_a_lora_that_fits_nothing_fails_the_run_naming_the_file_and_its_family(executor):
    result = executor.run(parse_workflow(_workflow(_style(name="xl.safetensors"))), targets=["decode"])
    assert result.status == "error"
    assert "xl.safetensors" in str(result.error.cause) and "seems made for SDXL" in str(result.error.cause)
    assert result.error.node_id == "lora0"


def test_the_lora_choices_list_the_loras_folder_and_an_unknown_name_is_a_validation_error(executor, plugins):
    spec = plugins.registry.get("graphflow.loaders.lora")
    choices = spec.inputs["lora_name"].current_choices(executor.settings)
    assert {"style.safetensors", "more/detail.safetensors", "xl.safetensors"} <= set(choices)
    with pytest.raises(WorkflowInvalid, match=r"missing\.safetensors"):
        executor.run(parse_workflow(_workflow(_style(name="missing.safetensors"))), targets=["decode"])
