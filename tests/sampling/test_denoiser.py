"""The UNet denoiser: guidance, batching of conditionings, SDXL size hints, class labels, inpainting."""

from __future__ import annotations

import pytest
import torch

from graphflow.sampling.conditioning import CondEntry
from graphflow.sampling.denoiser import cfg_denoiser, masked_denoiser
from graphflow.sampling.model import DiffusionModel
from tests.sampling.helpers import text, tiny_model

SIGMA = torch.tensor([3.0, 3.0])


def _x(seed: int = 0) -> torch.Tensor:
    return torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(seed)) * 3


class UnetCalls:
    """Records the keyword arguments of every forward call of a UNet (a real forward hook)."""

    def __init__(self, model: DiffusionModel) -> None:
        self.calls: list[dict] = []
        self._handle = model.unet.register_forward_pre_hook(self._record, with_kwargs=True)

    def _record(self, module, args, kwargs) -> None:
        self.calls.append({"sample": args[0], **kwargs})

    def __enter__(self) -> UnetCalls:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.remove()


def test_cfg_one_is_the_conditional_prediction_and_skips_uncond(model: DiffusionModel) -> None:
    x, positive = _x(), text(1)
    with torch.no_grad():
        x_in = x / (SIGMA[:, None, None, None] ** 2 + 1) ** 0.5
        context = positive.context.expand(2, -1, -1)
        eps = model.unet(x_in, model.sampling.timestep(SIGMA), encoder_hidden_states=context).sample
    with UnetCalls(model) as record:
        denoised = cfg_denoiser(model, (positive,), (), 1.0)(x, SIGMA)
    assert torch.allclose(denoised, x - eps * 3.0, atol=1e-5)
    assert len(record.calls) == 1 and record.calls[0]["sample"].shape[0] == 2


def test_guidance_mixes_cond_and_uncond_in_one_batched_call(model: DiffusionModel) -> None:
    x, positive, negative = _x(), text(1, tokens=77), text(2, tokens=154)
    cond = cfg_denoiser(model, (positive,), (), 1.0)(x, SIGMA)
    uncond = cfg_denoiser(model, (negative,), (), 1.0)(x, SIGMA)
    with UnetCalls(model) as record:
        guided = cfg_denoiser(model, (positive,), (negative,), 7.5)(x, SIGMA)
    assert len(record.calls) == 1
    assert record.calls[0]["encoder_hidden_states"].shape == (4, 154, 16)
    assert torch.allclose(guided, uncond + 7.5 * (cond - uncond), atol=1e-4)


def test_contexts_too_different_in_length_run_in_separate_calls(model: DiffusionModel) -> None:
    x, positive, negative = _x(), text(1, tokens=77), text(2, tokens=385)
    cond = cfg_denoiser(model, (positive,), (), 1.0)(x, SIGMA)
    uncond = cfg_denoiser(model, (negative,), (), 1.0)(x, SIGMA)
    with UnetCalls(model) as record:
        guided = cfg_denoiser(model, (positive,), (negative,), 4.0)(x, SIGMA)
    assert len(record.calls) == 2
    assert torch.allclose(guided, uncond + 4.0 * (cond - uncond), atol=1e-4)


def test_several_entries_are_averaged_by_strength(model: DiffusionModel) -> None:
    x, a, b = _x(), text(1), text(2, strength=3.0)
    alone_a = cfg_denoiser(model, (a,), (), 1.0)(x, SIGMA)
    alone_b = cfg_denoiser(model, (b,), (), 1.0)(x, SIGMA)
    both = cfg_denoiser(model, (a, b), (), 1.0)(x, SIGMA)
    assert torch.allclose(both, (alone_a + 3 * alone_b) / 4, atol=1e-5)


def test_v_prediction_model_output_is_converted_to_x0() -> None:
    model = tiny_model(prediction_type="v_prediction")
    x, positive = _x(), text(1)
    with torch.no_grad():
        context = positive.context.expand(2, -1, -1)
        v = model.unet(x / 10**0.5, model.sampling.timestep(SIGMA), encoder_hidden_states=context).sample
    expected = x / 10 - v * 3 / 10**0.5
    assert torch.allclose(cfg_denoiser(model, (positive,), (), 1.0)(x, SIGMA), expected, atol=1e-5)


def _sdxl_model() -> DiffusionModel:
    return tiny_model(
        family="sdxl",
        addition_embed_type="text_time",
        addition_time_embed_dim=4,
        projection_class_embeddings_input_dim=12 + 6 * 4,  # pooled width + 6 size hints x 4
    )


def test_sdxl_gets_pooled_text_and_size_hints_from_the_latent_or_extras() -> None:
    model = _sdxl_model()
    pooled = torch.ones(1, 12)
    plain = text(1, pooled=pooled)
    hinted = text(2, pooled=pooled, extras={"width": 1024, "height": 768, "crop_w": 16, "crop_h": 8})
    with UnetCalls(model) as record:
        cfg_denoiser(model, (plain,), (hinted,), 5.0)(_x(), SIGMA)
    added = record.calls[0]["added_cond_kwargs"]
    assert torch.equal(added["text_embeds"], pooled.expand(4, -1))
    assert added["time_ids"][0].tolist() == [64, 64, 0, 0, 64, 64]
    assert added["time_ids"][2].tolist() == [768, 1024, 8, 16, 768, 1024]


def test_sdxl_without_pooled_text_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="positive conditioning has no pooled text embedding"):
        cfg_denoiser(_sdxl_model(), (text(1),), (text(2),), 5.0)


def test_wrong_context_width_names_both_widths(model: DiffusionModel) -> None:
    with pytest.raises(ValueError, match="negative conditioning has width 32 but this sd1 model expects 16"):
        cfg_denoiser(model, (text(1),), (text(2, width=32),), 5.0)


def test_class_conditional_model_uses_each_entrys_labels() -> None:
    model = tiny_model(family="demo", num_class_embeds=10)
    three = text(1, class_labels=torch.tensor([3]))
    five = three.replace(class_labels=torch.tensor([5]))
    x = _x()
    out_three = cfg_denoiser(model, (three,), (), 1.0)(x, SIGMA)
    assert not torch.allclose(out_three, cfg_denoiser(model, (five,), (), 1.0)(x, SIGMA))
    with UnetCalls(model) as record:
        cfg_denoiser(model, (three,), (five,), 2.0)(x, SIGMA)
    assert record.calls[0]["class_labels"].tolist() == [3, 3, 5, 5]
    with pytest.raises(ValueError, match="no class labels"):
        cfg_denoiser(model, (text(1),), (), 1.0)


def test_masked_denoiser_keeps_the_original_outside_the_mask(model: DiffusionModel) -> None:
    image, noise = torch.full((2, 4, 8, 8), 0.5), torch.randn(2, 4, 8, 8)
    mask = torch.zeros(2, 4, 8, 8)
    mask[..., :4] = 1
    seen: list[torch.Tensor] = []

    def inner(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        seen.append(x)
        return torch.zeros_like(x)

    out = masked_denoiser(inner, image, noise, mask, model.sampling)(_x(), SIGMA)
    assert torch.equal(out[..., 4:], image[..., 4:]) and torch.equal(out[..., :4], torch.zeros(2, 4, 8, 4))
    assert torch.allclose(seen[0][..., 4:], image[..., 4:] + 3 * noise[..., 4:])
    assert torch.equal(seen[0][..., :4], _x()[..., :4])


def test_empty_positive_conditioning_is_a_clear_error(model: DiffusionModel) -> None:
    with pytest.raises(ValueError, match="positive conditioning is empty"):
        cfg_denoiser(model, (), (text(1),), 5.0)


def test_entry_strength_zero_contributes_nothing(model: DiffusionModel) -> None:
    entry = CondEntry(context=text(1).context, strength=0.0)
    assert torch.equal(cfg_denoiser(model, (entry,), (), 1.0)(_x(), SIGMA), torch.zeros(2, 4, 8, 8))


def test_a_conditioning_with_one_prompt_per_latent_guides_each_latent_with_its_own(model: DiffusionModel) -> None:
    first, second = (
        torch.randn(1, 77, model.unet.config.cross_attention_dim, generator=torch.Generator().manual_seed(s))
        for s in (1, 2)
    )
    negative = (CondEntry(torch.zeros_like(first)),)
    x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    sigma = torch.tensor(3.0)
    batched = cfg_denoiser(model, (CondEntry(torch.cat([first, second])),), negative, 4.0)(x, sigma)
    alone = [
        cfg_denoiser(model, (CondEntry(c),), negative, 4.0)(x[i : i + 1], sigma) for i, c in enumerate((first, second))
    ]
    torch.testing.assert_close(batched, torch.cat(alone), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="holds 2 prompts but the latent batch has 3"):
        cfg_denoiser(model, (CondEntry(torch.cat([first, second])),), negative, 4.0)(torch.randn(3, 4, 8, 8), sigma)
