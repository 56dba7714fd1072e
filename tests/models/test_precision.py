"""Precision per part: --precision for the U-Net and VAE, text encoders stored in fp16 on the CPU."""

import pytest
import torch

from graphflow.cache import ModelCache
from graphflow.models.loader import load_checkpoint, load_vae
from graphflow.models.options import load_options
from graphflow.models.precision import part_precision
from graphflow.models.streaming import streamer_of
from graphflow.settings import Settings

PROMPT = "a photo of a cat"


def _dtypes(module: torch.nn.Module) -> set[torch.dtype]:
    return {p.dtype for p in module.parameters()}


def test_on_the_cpu_auto_keeps_unet_and_vae_in_fp32_and_stores_text_encoders_in_fp16(saved_tiny) -> None:
    model, clip, vae = load_checkpoint(saved_tiny["sdxl"].checkpoint, device="cpu", cache=ModelCache())
    assert _dtypes(model.unet) == _dtypes(vae.model) == {torch.float32} and model.dtype == torch.float32
    for part in clip.parts:
        assert _dtypes(part.model) == {torch.float16}
        assert streamer_of(part.model) is not None and streamer_of(part.model).dtype == torch.float32
    assert clip.encode(PROMPT)[0].context.dtype == torch.float32


@pytest.mark.parametrize(
    ("precision", "unet", "vae"),
    [("bf16", torch.bfloat16, torch.bfloat16), ("fp16", torch.float16, torch.float32)],  # fp16 VAEs overflow
)
def test_the_precision_option_sets_the_unet_and_vae_dtype(
    saved_tiny, precision: str, unet: torch.dtype, vae: torch.dtype
) -> None:
    model, clip, decoder = load_checkpoint(saved_tiny["sd1"].checkpoint, device="cpu", precision=precision)
    assert _dtypes(model.unet) == {unet} and model.dtype == unet
    assert _dtypes(decoder.model) == {vae} and decoder.dtype == vae
    assert _dtypes(clip.parts[0].model) == {torch.float16}


def test_fp32_precision_keeps_every_part_in_fp32(saved_tiny) -> None:
    model, clip, vae = load_checkpoint(saved_tiny["sd1"].checkpoint, device="cpu", precision="fp32")
    assert _dtypes(model.unet) == _dtypes(vae.model) == _dtypes(clip.parts[0].model) == {torch.float32}
    assert streamer_of(clip.parts[0].model) is None


def test_a_text_encoder_stored_in_fp16_encodes_as_the_fp32_one_within_fp16_rounding(saved_tiny) -> None:
    _, half, _ = load_checkpoint(saved_tiny["sd2"].checkpoint, device="cpu", cache=ModelCache())
    _, full, _ = load_checkpoint(saved_tiny["sd2"].checkpoint, device="cpu", precision="fp32", cache=ModelCache())
    a, b = half.encode(PROMPT)[0].context, full.encode(PROMPT)[0].context
    torch.testing.assert_close(a, b, rtol=1e-2, atol=1e-2)


def test_on_a_cpu_with_bf16_units_auto_runs_the_vae_in_bf16_within_a_shade_of_fp32(saved_tiny, monkeypatch) -> None:
    import graphflow.models.precision as precision

    monkeypatch.setattr(precision, "cpu_computes_bf16_fast", lambda: True)
    model, _, fast = load_checkpoint(saved_tiny["sd1"].checkpoint, device="cpu", cache=ModelCache())
    _, _, exact = load_checkpoint(saved_tiny["sd1"].checkpoint, device="cpu", precision="fp32", cache=ModelCache())
    assert _dtypes(fast.model) == {torch.bfloat16} and _dtypes(model.unet) == {torch.float32}
    latent = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    pixels, reference = fast.decode(latent), exact.decode(latent)
    assert pixels.dtype == torch.float32 and pixels.is_contiguous()
    assert (pixels - reference).abs().mean() < 4 / 255
    assert part_precision(torch.device("cpu"), "fp32").vae == torch.float32  # an explicit precision wins


@pytest.mark.parametrize(
    ("precision", "family", "dtype"),
    [("bf16", "sd1", torch.bfloat16), ("fp16", "sd1", torch.float32), ("fp16", "sdxl", torch.float32)],
)
def test_a_standalone_vae_takes_the_precision_a_checkpoints_vae_would(
    saved_tiny, precision: str, family: str, dtype: torch.dtype
) -> None:
    vae = load_vae(saved_tiny[family].checkpoint, device="cpu", family=family, precision=precision)
    assert _dtypes(vae.model) == {dtype} and vae.dtype == dtype


def test_on_a_gpu_auto_is_fp16_with_an_fp32_vae_where_its_config_asks() -> None:
    cuda = torch.device("cuda")
    plain = part_precision(cuda)
    assert (plain.unet, plain.vae, plain.text, plain.text_compute) == (torch.float16,) * 4
    assert part_precision(cuda, vae_needs_fp32=True).vae == torch.float32
    assert part_precision(cuda, "bf16", vae_needs_fp32=True).vae == torch.bfloat16  # bf16 does not overflow


def test_the_precision_option_reaches_the_loader_through_the_settings(saved_tiny) -> None:
    from graphflow.cli import _parser
    from graphflow.models.options import model_settings

    args = _parser().parse_args(["run", "w.json", "--precision", "bf16"])
    settings = Settings.from_environment({}, **model_settings(args))
    model, _, _ = load_checkpoint(saved_tiny["sd1"].checkpoint, device="cpu", **load_options(settings))
    assert _dtypes(model.unet) == {torch.bfloat16}
    assert Settings.from_environment({"GRAPHFLOW_PRECISION": "fp16"}).precision == "fp16"
    with pytest.raises(ValueError, match="precision 'fp8'"):
        Settings(precision="fp8")
