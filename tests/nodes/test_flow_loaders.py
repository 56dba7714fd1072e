"""The loader nodes of models shipped in pieces: Load Diffusion Model, Load CLIP, Dual and Triple CLIP Loader."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from graphflow.models.paths import list_models
from graphflow.models.tiny_flow import (
    build_tiny_flow,
    save_tiny_flow_checkpoint,
    save_tiny_flow_folder,
    save_tiny_flow_transformer,
    save_tiny_text_encoder,
)
from graphflow.nodes.flow_loaders import DualClipLoader, LoadClip, LoadDiffusionModel, TripleClipLoader
from graphflow.nodes.loaders import LoadCheckpoint
from tests.running import context_for


@pytest.fixture(scope="module")
def models_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A test root whose models folder holds Flux and SD3 pieces in ComfyUI's folders (old and new names)."""
    root = tmp_path_factory.mktemp("flow-loaders")
    models = root / "models"
    flux, sd3 = build_tiny_flow("flux-dev"), build_tiny_flow("sd3")
    save_tiny_flow_transformer(
        flux, models / "diffusion_models" / "flux1-dev-fp8.safetensors", dtype=torch.float8_e4m3fn
    )
    save_tiny_flow_transformer(sd3, models / "unet" / "sd3_medium.safetensors", prefix="model.diffusion_model.")
    save_tiny_flow_folder(flux, models / "diffusers-flux")
    (models / "diffusion_models" / "flux-transformer").symlink_to(models / "diffusers-flux" / "transformer")
    for part in ("clip_l", "t5xxl"):
        save_tiny_text_encoder(flux, part, models / "text_encoders" / "flux" / f"{part}.safetensors")
    for part in ("clip_l", "clip_g", "t5xxl"):
        save_tiny_text_encoder(sd3, part, models / "clip" / "sd3" / f"{part}.safetensors")
    save_tiny_flow_checkpoint(sd3, models / "checkpoints" / "sd3_medium_incl_clips.safetensors")
    return root


def test_diffusion_models_and_unet_folders_are_listed_together(models_root: Path):
    listed = list_models(models_root / "models", "diffusion_models")
    assert listed == ["flux-transformer", "flux1-dev-fp8.safetensors", "sd3_medium.safetensors"]
    assert list_models(models_root / "models", "text_encoders") == sorted(
        [f"flux/{p}.safetensors" for p in ("clip_l", "t5xxl")]
        + [f"sd3/{p}.safetensors" for p in ("clip_g", "clip_l", "t5xxl")]
    )


def test_load_diffusion_model_reads_files_and_diffusers_transformer_folders(models_root: Path):
    ctx = context_for(models_root)
    flux = LoadDiffusionModel().run(ctx, "flux1-dev-fp8.safetensors", "default")
    assert flux.family == "flux" and flux.sampling.shift == 1.15
    assert {p.dtype for p in flux.unet.parameters() if p.ndim >= 2} == {torch.float8_e4m3fn}
    sd3 = LoadDiffusionModel().run(ctx, "sd3_medium.safetensors", "fp8_e5m2")
    assert sd3.family == "sd3" and {p.dtype for p in sd3.unet.parameters() if p.ndim >= 2} == {torch.float8_e5m2}
    folder = LoadDiffusionModel().run(ctx, "flux-transformer", "default")
    assert folder.family == "flux" and folder.sampling.shift == 1.15
    assert LoadDiffusionModel.fingerprint(ctx.settings, unet_name="sd3_medium.safetensors")[1] > 0


def test_the_clip_loaders_build_each_familys_text_encoder(models_root: Path):
    ctx = context_for(models_root)
    flux = DualClipLoader().run(ctx, "flux/t5xxl.safetensors", "flux/clip_l.safetensors", "flux")
    assert flux.family == "flux" and [p.name for p in flux.parts] == ["clip_l", "t5xxl"]
    sd3 = TripleClipLoader().run(ctx, "sd3/clip_l.safetensors", "sd3/clip_g.safetensors", "sd3/t5xxl.safetensors")
    assert sd3.family == "sd3" and [p.name for p in sd3.parts] == ["clip_l", "clip_g", "t5xxl"]
    t5_only = LoadClip().run(ctx, "sd3/t5xxl.safetensors", "sd3")
    assert [p.name for p in t5_only.parts] == ["t5xxl"]
    names = ("sd3/clip_l.safetensors", "sd3/clip_g.safetensors", "sd3/t5xxl.safetensors")
    assert len(TripleClipLoader.fingerprint(ctx.settings, *names)) == 3


def test_a_flux_clip_needs_both_its_text_encoders(models_root: Path):
    with pytest.raises(ValueError, match="flux text encoder needs clip_l \\+ t5xxl"):
        LoadClip().run(context_for(models_root), "flux/clip_l.safetensors", "flux")


def test_load_checkpoint_loads_an_sd3_single_file(models_root: Path):
    model, clip, vae = LoadCheckpoint().run(
        context_for(models_root), "sd3_medium_incl_clips.safetensors", "auto", "continuous"
    )
    assert model.family == clip.family == "sd3" and vae.latent_channels == 16
