"""Loading tiny SD3 and Flux models from every layout people store them in, offline."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from graphflow.models.detect import UnknownModelLayoutError
from graphflow.models.flow_loader import load_flow_transformer, load_text_encoder_files, load_text_encoders
from graphflow.models.loader import load_checkpoint, load_vae
from graphflow.models.precision import PartPrecision
from graphflow.models.streaming import streamer_of
from graphflow.models.tiny_flow import (
    TinyFlow,
    build_tiny_flow,
    save_tiny_flow_checkpoint,
    save_tiny_flow_folder,
    save_tiny_flow_transformer,
    save_tiny_flow_vae,
    save_tiny_text_encoder,
)
from graphflow.text.encoder import TextEncoderError

F32 = torch.float32


@pytest.fixture(scope="module")
def tiny() -> dict[str, TinyFlow]:
    """The tiny models by variant."""
    return {variant: build_tiny_flow(variant) for variant in ("sd3", "flux-dev", "flux-schnell", "flow-demo")}


def _same_weights(module: torch.nn.Module, reference: torch.nn.Module) -> bool:
    loaded, expected = module.state_dict(), reference.state_dict()
    return set(expected) <= set(loaded) and all(torch.equal(loaded[k].float(), expected[k].float()) for k in expected)


def _velocity(transformer: torch.nn.Module, family: str) -> torch.Tensor:
    """One call of a tiny transformer on fixed inputs (Flux: 4 packed tokens)."""
    generator = torch.Generator().manual_seed(0)
    config = transformer.config
    text = torch.randn(1, 3, config.joint_attention_dim, generator=generator)
    pooled = torch.randn(1, config.pooled_projection_dim, generator=generator)
    with torch.no_grad():
        if family == "flux":
            ids = torch.tensor([[0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 1]], dtype=F32)
            return transformer(
                hidden_states=torch.randn(1, 4, config.in_channels, generator=generator),
                encoder_hidden_states=text,
                pooled_projections=pooled,
                timestep=torch.tensor([0.5]),
                img_ids=ids,
                txt_ids=torch.zeros(3, 3),
                guidance=torch.tensor([3.5]) if config.guidance_embeds else None,
                return_dict=False,
            )[0]
        return transformer(
            hidden_states=torch.randn(1, config.in_channels, 4, 4, generator=generator),
            encoder_hidden_states=text,
            pooled_projections=pooled,
            timestep=torch.tensor([500.0]),
            return_dict=False,
        )[0]


def test_an_sd3_single_file_loads_its_transformer_vae_and_three_text_encoders(tiny, tmp_path: Path):
    path = save_tiny_flow_checkpoint(tiny["sd3"], tmp_path / "sd3_medium_incl_clips_t5xxl.safetensors")
    model, clip, vae = load_checkpoint(path, device="cpu", dtype=F32)
    assert model.family == "sd3" and _same_weights(model.unet, tiny["sd3"].transformer)
    assert (model.sampling.kind, model.sampling.shift, model.sampling.multiplier) == ("sd3", 3.0, 1000.0)
    assert (model.latent_format.channels, model.latent_format.scaling_factor) == (16, 1.5305)
    assert model.latent_format.shift_factor == pytest.approx(0.0609)
    assert (vae.scaling_factor, vae.shift_factor) == (1.5305, pytest.approx(0.0609))
    assert _same_weights(vae.model, tiny["sd3"].vae)
    assert clip.family == "sd3" and [part.name for part in clip.parts] == ["clip_l", "clip_g", "t5xxl"]
    for part in clip.parts:
        assert _same_weights(part.model, tiny["sd3"].text_models[part.name])


def test_an_sd3_file_without_text_encoders_gives_a_clip_that_points_to_the_clip_loaders(tiny, tmp_path: Path):
    path = save_tiny_flow_checkpoint(tiny["sd3"], tmp_path / "sd3_medium.safetensors", text_encoders=False)
    whole, clip, vae = load_checkpoint(path, device="cpu")  # as ComfyUI, whose CLIP is then None
    assert whole.family == "sd3" and vae.latent_channels == 16 and clip.parts == ()
    with pytest.raises(TextEncoderError, match=r"sd3_medium\.safetensors holds no text encoders.*Triple CLIP"):
        clip.encode("a cat")
    model = load_flow_transformer(path, device="cpu")  # Load Diffusion Model takes its transformer
    assert model.family == "sd3" and _same_weights(model.unet, tiny["sd3"].transformer)


@pytest.mark.parametrize(
    ("dtype", "prefix"),
    [(torch.bfloat16, "model.diffusion_model."), (torch.float16, ""), (torch.float8_e4m3fn, "")],
)
def test_flux_transformer_files_keep_the_dtype_they_are_stored_in(tiny, tmp_path: Path, dtype, prefix):
    path = save_tiny_flow_transformer(tiny["flux-dev"], tmp_path / "flux1-dev.safetensors", dtype=dtype, prefix=prefix)
    model = load_flow_transformer(path, device="cpu")
    assert {p.dtype for p in model.unet.parameters() if p.ndim >= 2} == {dtype}
    assert model.dtype == F32 and streamer_of(model.unet) is not None  # cast layer by layer as it runs
    reference = copy.deepcopy(tiny["flux-dev"].transformer).to(dtype).to(F32)  # the same rounding of the weights
    expected = _velocity(reference, "flux")
    assert torch.allclose(_velocity(model.unet, "flux"), expected, atol=1e-4)


def test_fp8_weight_dtype_stores_an_fp16_files_matrices_in_8_bits(tiny, tmp_path: Path):
    path = save_tiny_flow_transformer(tiny["flux-schnell"], tmp_path / "flux1-schnell.sft", dtype=torch.float16)
    model = load_flow_transformer(path, device="cpu", weight_dtype="fp8_e4m3fn")
    assert {p.dtype for p in model.unet.parameters() if p.ndim >= 2} == {torch.float8_e4m3fn}
    assert {p.dtype for p in model.unet.parameters() if p.ndim == 1} == {torch.float16}
    assert _velocity(model.unet, "flux").isfinite().all()


def test_flux_dev_and_schnell_sample_as_comfyui_sets_them(tiny, tmp_path: Path):
    for variant, shift in (("flux-dev", 1.15), ("flux-schnell", 1.0)):
        path = save_tiny_flow_transformer(tiny[variant], tmp_path / f"{variant}.safetensors")
        model = load_flow_transformer(path, device="cpu")
        sampling = model.sampling
        assert (model.family, sampling.kind, sampling.shift, sampling.multiplier) == ("flux", "flux", shift, 1.0)
        assert len(sampling.sigmas) == 10000 and model.latent_format.scaling_factor == 0.3611
        assert bool(model.unet.config.guidance_embeds) == (variant == "flux-dev")


@pytest.mark.parametrize("variant", ["sd3", "flux-dev", "flow-demo"])
def test_diffusers_folders_load_as_their_family(tiny, tmp_path: Path, variant: str):
    models = tiny[variant]
    model, clip, vae = load_checkpoint(save_tiny_flow_folder(models, tmp_path / variant), device="cpu", dtype=F32)
    assert model.family == clip.family == models.family
    assert _same_weights(model.unet, models.transformer) and _same_weights(vae.model, models.vae)
    assert {part.name for part in clip.parts} == set(models.text_models)
    assert model.latent_format.channels == vae.latent_channels
    assert model.latent_format.scaling_factor == vae.scaling_factor
    if variant == "flow-demo":
        assert (model.sampling.kind, model.sampling.shift) == ("sd3", models.scheduler["shift"])
        assert clip.parts[0].tokenizer.vocab_size == models.text_models["clip_l"].config.vocab_size


def test_text_encoder_files_are_told_apart_by_their_weights(tiny, tmp_path: Path):
    sd3 = tiny["sd3"]
    paths = [
        save_tiny_text_encoder(sd3, part, tmp_path / f"{part}.safetensors") for part in ("t5xxl", "clip_g", "clip_l")
    ]
    clip = load_text_encoders(paths, "sd3", device="cpu", precision="fp32")
    assert [part.name for part in clip.parts] == ["clip_l", "clip_g", "t5xxl"]
    for part in clip.parts:
        assert _same_weights(part.model, sd3.text_models[part.name])
    assert clip.parts[2].tokenizer.ids("a red circle")  # T5's tokenizer, read from beside its file


def test_a_t5_file_without_its_tokenizer_names_where_it_was_looked_for(tiny, tmp_path: Path):
    path = save_tiny_text_encoder(tiny["flux-dev"], "t5xxl", tmp_path / "t5xxl_fp16.safetensors", tokenizer=False)
    clip_l = save_tiny_text_encoder(tiny["flux-dev"], "clip_l", tmp_path / "clip_l.safetensors")
    with pytest.raises(FileNotFoundError, match=f"no T5 tokenizer .* looked in: {tmp_path}"):
        load_text_encoders([clip_l, path], "flux", device="cpu")


def test_fp16_text_encoders_are_kept_in_fp16_and_computed_in_fp32_on_the_cpu(tiny, tmp_path: Path):
    flux = tiny["flux-dev"]
    paths = [
        save_tiny_text_encoder(flux, part, tmp_path / f"{part}.safetensors", dtype=torch.float16)
        for part in flux.text_models
    ]
    clip = load_text_encoders(paths, "flux", device="cpu")
    # T5's `wo` is read in fp32, as transformers keeps it for a folder: T5 casts its input to that weight's dtype
    stored = {(".wo." in name, p.dtype) for part in clip.parts for name, p in part.model.named_parameters()}
    assert stored == {(False, torch.float16), (True, F32)}
    assert all(streamer_of(part.model).dtype == F32 for part in clip.parts)
    (entry,) = clip.encode("a cat")
    assert entry.context.dtype == F32 and torch.isfinite(entry.context).all()


def test_a_t5_file_in_fp16_throughout_keeps_its_feed_forward_output_in_fp32_as_transformers_does(tiny, tmp_path: Path):
    flux = tiny["flux-dev"]
    paths = [save_tiny_text_encoder(flux, part, tmp_path / f"{part}.safetensors") for part in flux.text_models]
    half = PartPrecision(torch.float16, torch.float16, torch.float16, torch.float16)  # as on a GPU
    clip = load_text_encoder_files(paths, "flux", torch.device("cpu"), half)
    t5 = next(part for part in clip.parts if part.name == "t5xxl")
    stored = {(".wo." in name, p.dtype) for name, p in t5.model.named_parameters()}
    assert stored == {(False, torch.float16), (True, F32)} and streamer_of(t5.model) is None


def test_the_16_channel_vae_file_takes_its_familys_scaling(tiny, tmp_path: Path):
    path = save_tiny_flow_vae(tiny["flux-dev"], tmp_path / "ae.safetensors")
    vae = load_vae(path, device="cpu", family="flux")
    assert (vae.latent_channels, vae.scaling_factor, vae.shift_factor) == (16, 0.3611, pytest.approx(0.1159))
    assert _same_weights(vae.model, tiny["flux-dev"].vae)
    with pytest.raises(UnknownModelLayoutError, match=r"ae\.safetensors is a 16-channel VAE, not a sd1 one"):
        load_vae(path, device="cpu", family="sd1")


def test_a_file_without_a_flow_transformer_is_not_a_diffusion_model(tmp_path: Path, tiny):
    path = save_tiny_flow_vae(tiny["sd3"], tmp_path / "not-a-transformer.safetensors")
    with pytest.raises(UnknownModelLayoutError, match=r"not-a-transformer\.safetensors holds no SD3 or Flux"):
        load_flow_transformer(path, device="cpu")
