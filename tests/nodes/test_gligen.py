"""GLIGEN: original-layout files load, grounded boxes drive a plain UNet as diffusers' gated UNet drives itself,
the modules are attached only for the call (LoRA patches keep working), and the nodes run in a workflow."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import save_file

from graphflow.models.convert import UNET_PREFIX
from graphflow.models.gligen import GligenBoxes, gligen_from_state_dict, gligen_weights_of, load_gligen
from graphflow.models.tiny import build_tiny, save_tiny_checkpoint
from graphflow.patches import WeightPatch
from graphflow.sampling.conditioning import Area, CondEntry
from graphflow.sampling.denoiser import cfg_denoiser
from graphflow.sampling.model import SD1_LATENT_FORMAT, DiffusionModel, ModelSampling
from graphflow.workflow import parse_workflow

SIGMA = torch.tensor([2.5])


@pytest.fixture(scope="module")
def tiny() -> SimpleNamespace:
    """A tiny SD1 model, the same UNet built "gated" (diffusers' GLIGEN UNet) with random GLIGEN layers."""
    torch.set_num_threads(1)
    models = build_tiny("sd1", seed=0)
    config = {k: v for k, v in models.unet.config.items() if not k.startswith("_")}
    gated = UNet2DConditionModel(**{**config, "attention_type": "gated"}).eval()
    gated.load_state_dict(models.unet.state_dict(), strict=False)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, parameter in gated.named_parameters():
            if ".fuser." in name or name.startswith("position_net."):
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    return SimpleNamespace(models=models, gated=gated, weights=gligen_weights_of(gated))


@pytest.fixture
def models_dir(tmp_path_factory: pytest.TempPathFactory, tiny: SimpleNamespace) -> Path:
    root = tmp_path_factory.mktemp("gligen_models")
    save_tiny_checkpoint(tiny.models, root / "checkpoints" / "tiny-sd1.safetensors")
    (root / "gligen").mkdir()
    save_file(tiny.weights, str(root / "gligen" / "tiny-gligen.safetensors"))
    return root


def _model(unet: torch.nn.Module, patches: tuple = ()) -> DiffusionModel:
    sampling = ModelSampling.from_betas()
    return DiffusionModel(unet, sampling, "sd1", SD1_LATENT_FORMAT, torch.device("cpu"), torch.float32, patches)


def _phrase(seed: int) -> torch.Tensor:
    return torch.randn(1, 32, generator=torch.Generator().manual_seed(seed))


def _gated_x0(tiny: SimpleNamespace, x: torch.Tensor, context: torch.Tensor, gligen: dict) -> torch.Tensor:
    """diffusers' gated UNet on the same inputs, as an x0 estimate."""
    sampling = ModelSampling.from_betas()
    with torch.no_grad():
        eps = tiny.gated(
            sampling.calculate_input(SIGMA, x),
            sampling.timestep(SIGMA),
            encoder_hidden_states=context,
            cross_attention_kwargs={"gligen": gligen},
        ).sample
    return sampling.calculate_denoised(SIGMA, eps, x)


def test_grounded_boxes_drive_a_plain_unet_as_diffusers_gated_unet(tiny: SimpleNamespace) -> None:
    gligen = gligen_from_state_dict(tiny.weights, "tiny")
    x = torch.randn(1, 4, 8, 16, generator=torch.Generator().manual_seed(2))
    context = torch.randn(1, 77, 32, generator=torch.Generator().manual_seed(3))
    boxes = GligenBoxes(gligen, ((_phrase(4), 4, 8, 0, 0), (_phrase(5), 8, 6, 0, 10)))
    ours = cfg_denoiser(_model(tiny.models.unet), (CondEntry(context=context, gligen=boxes),), (), 1.0)(x, SIGMA)
    # ComfyUI's set_position: (x1, y1, x2, y2) as fractions of the latent, 30 slots, the unused ones masked
    expected_boxes = torch.zeros(1, 30, 4)
    expected_boxes[0, 0] = torch.tensor([0 / 16, 0 / 8, 8 / 16, 4 / 8])
    expected_boxes[0, 1] = torch.tensor([10 / 16, 0 / 8, 16 / 16, 8 / 8])
    masks = torch.zeros(1, 30)
    masks[0, :2] = 1.0
    embeddings = torch.zeros(1, 30, 32)
    embeddings[0, 0], embeddings[0, 1] = _phrase(4)[0], _phrase(5)[0]
    inputs = {"boxes": expected_boxes, "masks": masks, "positive_embeddings": embeddings}
    assert torch.allclose(ours, _gated_x0(tiny, x, context, inputs), atol=1e-5)
    plain = cfg_denoiser(_model(tiny.models.unet), (CondEntry(context=context),), (), 1.0)(x, SIGMA)
    assert (ours - plain).abs().max() > 1e-2  # the boxes do change the prediction


def test_the_modules_are_attached_only_for_the_call_and_lora_patches_still_apply(tiny: SimpleNamespace) -> None:
    gligen = gligen_from_state_dict(tiny.weights, "tiny")
    unet = tiny.models.unet
    key = "conv_in.weight"
    before = {name for name, _ in unet.named_modules()}
    original = unet.get_parameter(key).detach().clone()
    patch = WeightPatch(key, lambda weight: torch.full_like(weight, 0.01), 1.0)
    model = _model(unet, (patch,))
    x, context = torch.randn(1, 4, 8, 8), torch.randn(1, 77, 32)
    entry = CondEntry(context=context, gligen=GligenBoxes(gligen, ((_phrase(6), 4, 4, 2, 2),)))
    with model.active_unet():
        patched = cfg_denoiser(model, (entry,), (), 1.0)(x, SIGMA)
    assert {name for name, _ in unet.named_modules()} == before
    assert torch.equal(unet.get_parameter(key), original)
    with torch.no_grad():
        tiny.gated.get_parameter(key).add_(0.01)
        try:
            inputs = GligenBoxes(gligen, ((_phrase(6), 4, 4, 2, 2),)).inputs(1, 8, 8)
            expected = _gated_x0(tiny, x, context, inputs)
        finally:
            tiny.gated.get_parameter(key).sub_(0.01)
    assert torch.allclose(patched, expected, atol=1e-5)


def test_a_grounded_area_entry_places_its_boxes_on_its_crop(tiny: SimpleNamespace) -> None:
    gligen = gligen_from_state_dict(tiny.weights, "tiny")
    boxes = GligenBoxes(gligen, ((_phrase(7), 4, 4, 0, 0),))
    seen: list[dict] = []
    handle = tiny.models.unet.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs.get("cross_attention_kwargs") or {}), with_kwargs=True
    )
    try:
        entry = CondEntry(context=torch.randn(1, 77, 32), area=Area(8, 8, 0, 8), gligen=boxes)
        cfg_denoiser(_model(tiny.models.unet), (CondEntry(context=torch.randn(1, 77, 32)), entry), (), 1.0)(
            torch.randn(1, 4, 8, 16), SIGMA
        )
    finally:
        handle.remove()
    grounded = [call["gligen"]["boxes"][0, 0] for call in seen if "gligen" in call]
    assert len(grounded) == 1 and torch.equal(grounded[0], torch.tensor([0.0, 0.0, 0.5, 0.5]))


def test_a_gligen_model_for_other_blocks_is_refused_by_name(tiny: SimpleNamespace) -> None:
    weights = {k: v for k, v in tiny.weights.items() if not k.startswith("output_blocks.")}
    gligen = gligen_from_state_dict(weights, "partial.safetensors")
    entry = CondEntry(context=torch.zeros(1, 77, 32), gligen=GligenBoxes(gligen, ((_phrase(1), 1, 1, 0, 0),)))
    with pytest.raises(ValueError, match=r"positive conditioning: the GLIGEN model partial\.safetensors has gated"):
        cfg_denoiser(_model(tiny.models.unet), (entry,), (), 1.0)


def test_files_with_the_unet_prefix_load_and_other_files_are_refused(tiny: SimpleNamespace, tmp_path: Path) -> None:
    path = tmp_path / "prefixed.safetensors"
    save_file({UNET_PREFIX + k: v.contiguous() for k, v in tiny.weights.items()}, str(path))
    gligen = load_gligen(path)
    assert gligen.text_width == 32 and len(gligen.fusers) == len(gligen.blocks_of(tiny.models.unet))
    with pytest.raises(ValueError, match="is not a GLIGEN box-grounding model"):
        gligen_from_state_dict({"conv_in.weight": torch.zeros(1)}, "other.safetensors")
    with pytest.raises(ValueError, match="at most 30 boxes"):
        GligenBoxes(gligen, tuple((_phrase(1), 1, 1, 0, 0) for _ in range(31)))


def _workflow(boxes: list[tuple[str, int]]) -> dict:
    clip = {"clip": {"node": "checkpoint", "output": "clip"}}
    nodes: dict = {
        "checkpoint": {"type": "graphflow.loaders.checkpoint", "inputs": {"checkpoint": "tiny-sd1.safetensors"}},
        "gligen": {"type": "graphflow.loaders.gligen", "inputs": {"gligen_name": "tiny-gligen.safetensors"}},
        "prompt": {"type": "graphflow.conditioning.encode", "inputs": {"text": "two shapes"}, "links": clip},
        "negative": {"type": "graphflow.conditioning.encode", "inputs": {"text": ""}, "links": clip},
        "latent": {"type": "graphflow.latent.empty", "inputs": {"width": 64, "height": 64}},
    }
    previous = {"node": "prompt", "output": "conditioning"}
    for index, (text, x) in enumerate(boxes):
        nodes[f"box{index}"] = {
            "type": "graphflow.conditioning.gligen_box",
            "inputs": {"text": text, "width": 32, "height": 32, "x": x, "y": 16},
            "links": {
                "conditioning_to": previous,
                "gligen_textbox_model": {"node": "gligen", "output": "gligen"},
                **clip,
            },
        }
        previous = {"node": f"box{index}", "output": "result"}
    nodes["sampler"] = {
        "type": "graphflow.sampling.sample",
        "inputs": {"seed": 5, "steps": 3, "cfg": 3.0, "sampler_name": "euler", "scheduler": "normal"},
        "links": {
            "model": {"node": "checkpoint", "output": "model"},
            "positive": previous,
            "negative": {"node": "negative", "output": "conditioning"},
            "latent": {"node": "latent", "output": "latent"},
        },
    }
    return {"format": "graphflow.workflow", "version": 1, "nodes": nodes}


def test_the_gligen_nodes_ground_boxes_in_a_workflow(executor) -> None:
    results = []
    for boxes in ([], [("a red circle", 0), ("a blue square", 32)]):
        targets = ["sampler"] + ([f"box{len(boxes) - 1}"] if boxes else [])
        result = executor.run(parse_workflow(_workflow(boxes)), targets=targets)
        assert result.status == "success", result.error
        results.append(result.outputs)
    grounded = results[1]["box1"]["result"][0].gligen
    assert [box[1:] for box in grounded.boxes] == [(4, 4, 2, 0), (4, 4, 2, 4)]
    assert grounded.boxes[0][0].shape == (1, 32)
    assert not torch.allclose(results[0]["sampler"]["result"].samples, results[1]["sampler"]["result"].samples)
