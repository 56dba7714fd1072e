"""CLIP vision models: both file layouts load offline into transformers' model, pictures are prepared as ComfyUI does,
the architecture is told from the weights, and the loader and encode nodes run in a workflow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from graphflow.models.clip_vision import ClipVision, clip_vision_from_state_dict, load_clip_vision, vision_config
from graphflow.models.clip_vision_keys import from_openclip, to_openclip
from graphflow.models.tiny_unclip import save_clip_vision_file, tiny_clip_vision
from graphflow.workflow import parse_workflow


@pytest.fixture(scope="module")
def encoder() -> torch.nn.Module:
    torch.set_num_threads(1)
    return tiny_clip_vision(seed=0)


@pytest.fixture
def models_dir(tmp_path_factory: pytest.TempPathFactory, encoder: torch.nn.Module) -> Path:
    root = tmp_path_factory.mktemp("vision_models")
    save_clip_vision_file(encoder, root / "clip_vision" / "tiny-vision.safetensors")
    save_clip_vision_file(encoder, root / "clip_vision" / "tiny-openclip.safetensors", layout="openclip")
    return root


def _picture(seed: int = 0, height: int = 40, width: int = 56) -> torch.Tensor:
    return torch.rand(2, height, width, 3, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("layout", ["transformers", "openclip"])
def test_a_file_in_either_layout_encodes_as_the_transformers_model(
    layout: str, encoder: torch.nn.Module, tmp_path: Path
) -> None:
    path = save_clip_vision_file(encoder, tmp_path / "vision.safetensors", layout=layout)
    vision = load_clip_vision(path, device="cpu")
    picture = _picture()
    out = vision.encode_image(picture)
    with torch.no_grad():
        expected = encoder(pixel_values=vision.preprocess(picture), output_hidden_states=True)
    assert out.image_embeds.shape == (2, 16)
    assert torch.allclose(out.image_embeds, expected.image_embeds, atol=1e-6)
    assert torch.allclose(out.last_hidden_state, expected.last_hidden_state, atol=1e-6)
    assert torch.allclose(out.penultimate_hidden_states, expected.hidden_states[-2], atol=1e-6)


def test_openclip_keys_convert_both_ways(encoder: torch.nn.Module) -> None:
    weights = {k: v for k, v in encoder.state_dict().items() if not k.endswith("position_ids")}
    back = from_openclip(to_openclip(weights, "embedder.model.visual."), "embedder.model.visual.")
    assert set(back) == set(weights)
    assert all(torch.equal(back[k], weights[k]) for k in weights)


def test_preprocessing_scales_the_shorter_side_and_crops_the_middle(encoder: torch.nn.Module) -> None:
    vision = ClipVision(encoder, torch.device("cpu"), torch.float32)
    picture = torch.zeros(1, 32, 96, 3)
    picture[:, :, 32:64] = 1.0  # white middle third, black sides
    centred = vision.preprocess(picture, crop=True)
    squashed = vision.preprocess(picture, crop=False)
    white = (1.0 - torch.tensor(vision.image_mean)) / torch.tensor(vision.image_std)
    assert centred.shape == squashed.shape == (1, 3, 32, 32)
    assert torch.allclose(centred[0, :, 16, 16], white, atol=1e-5)
    assert torch.allclose(centred[0, :, 16, 12], white, atol=1e-5)  # the crop is all middle third
    assert not torch.allclose(squashed[0, :, 16, 2], white, atol=0.1)  # squashing keeps the black sides


def test_pixels_are_rounded_to_eight_bits_as_comfyui_does(encoder: torch.nn.Module) -> None:
    vision = ClipVision(encoder, torch.device("cpu"), torch.float32)
    picture = torch.full((1, 32, 32, 3), 0.5004)
    expected = (torch.tensor(128 / 255) - torch.tensor(vision.image_mean)) / torch.tensor(vision.image_std)
    assert torch.allclose(vision.preprocess(picture)[0, :, 0, 0], expected, atol=1e-6)


def _shaped(layers: int, width: int, positions: int = 257, projection: int | None = None) -> dict[str, torch.Tensor]:
    """Weights of the shapes the architecture is told from (values do not matter)."""
    state = {
        "vision_model.embeddings.class_embedding": torch.zeros(width),
        "vision_model.embeddings.position_embedding.weight": torch.zeros(positions, 1),
    }
    state |= {f"vision_model.encoder.layers.{i}.layer_norm1.weight": torch.zeros(1) for i in range(layers)}
    if projection is not None:
        state["visual_projection.weight"] = torch.zeros(projection, 1)
    return state


@pytest.mark.parametrize(
    ("layers", "width", "positions", "projection", "image_size", "activation"),
    [
        (24, 1024, 257, 768, 224, "quick_gelu"),  # ViT-L/14
        (24, 1024, 577, 768, 336, "quick_gelu"),  # ViT-L/14 at 336 pixels
        (32, 1280, 257, 1024, 224, "gelu"),  # ViT-H/14 (SD 2.1 unCLIP, IP-Adapter)
        (48, 1664, 257, 1280, 224, "gelu"),  # ViT-bigG/14 (SDXL revision)
    ],
)
def test_the_architecture_is_told_by_the_layer_count_with_shipped_configs(
    layers: int, width: int, positions: int, projection: int, image_size: int, activation: str
) -> None:
    config = vision_config(_shaped(layers, width, positions, projection), {}, "test")
    assert (config["num_hidden_layers"], config["hidden_size"], config["projection_dim"]) == (layers, width, projection)
    assert (config["image_size"], config["hidden_act"], config["num_attention_heads"]) == (image_size, activation, 16)


def test_an_unknown_shape_without_its_config_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"12 layers of width 768 is none of ViT-L/14, ViT-H/14 or ViT-bigG/14"):
        vision_config(_shaped(12, 768), {}, "vit-b.safetensors")
    with pytest.raises(ValueError, match="do not match vit-h-14"):
        vision_config(_shaped(32, 1024), {}, "odd.safetensors")


def test_a_file_without_vision_weights_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"text\.safetensors is not a CLIP vision model"):
        clip_vision_from_state_dict({"text_model.embeddings.x": torch.zeros(1)}, "text.safetensors")


def _encode_workflow(clip_name: str, crop: str) -> dict:
    return {
        "format": "graphflow.workflow",
        "version": 1,
        "nodes": {
            "vision": {"type": "graphflow.loaders.clip_vision", "inputs": {"clip_name": clip_name}},
            "picture": {"type": "graphflow.image.load", "inputs": {"image": "picture.png"}},
            "encode": {
                "type": "graphflow.conditioning.clip_vision_encode",
                "inputs": {"crop": crop},
                "links": {
                    "clip_vision": {"node": "vision", "output": "clip_vision"},
                    "image": {"node": "picture", "output": "pixels"},
                },
            },
        },
    }


@pytest.mark.parametrize("crop", ["center", "none"])
def test_the_loader_and_encode_nodes_run_in_a_workflow(executor, folder_settings: Path, crop: str) -> None:
    pixels = (np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(folder_settings / "picture.png")
    outputs = []
    for name in ("tiny-vision.safetensors", "tiny-openclip.safetensors"):
        result = executor.run(parse_workflow(_encode_workflow(name, crop)), targets=["encode"])
        assert result.status == "success", result.error
        outputs.append(result.outputs["encode"]["clip_vision_output"])
    assert outputs[0].image_embeds.shape == (1, 16)
    assert torch.allclose(outputs[0].image_embeds, outputs[1].image_embeds, atol=1e-6)
