"""Controls on conditioning: attaching them, their active window, and what they hand the UNet in a batched call."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from graphflow.control.control import Control, apply_control, fill_uncond
from graphflow.control.hint import fit_size, per_latent
from graphflow.control.loader import load_control_model
from graphflow.control.model import ControlModel
from graphflow.sampling.conditioning import CondEntry
from graphflow.sampling.denoiser import cfg_denoiser
from graphflow.sampling.latent import Latent
from graphflow.sampling.model import DiffusionModel
from graphflow.sampling.sample import sample

SIGMA = torch.tensor([4.0])


def _entry(seed: int, **fields: Any) -> CondEntry:
    return CondEntry(context=torch.randn(1, 77, 32, generator=torch.Generator().manual_seed(seed)), **fields)


def _image(seed: int = 0, height: int = 64, width: int = 64, batch: int = 1) -> torch.Tensor:
    return torch.rand(batch, height, width, 3, generator=torch.Generator().manual_seed(seed))


def _x(batch: int = 1) -> torch.Tensor:
    return torch.randn(batch, 4, 8, 8, generator=torch.Generator().manual_seed(7)) * 4


@pytest.fixture(scope="module")
def controlnet(tiny: dict[str, Any]) -> ControlModel:
    return load_control_model(tiny["root"] / "controlnet" / "tiny-cn", device="cpu")


@pytest.fixture(scope="module")
def adapter(tiny: dict[str, Any]) -> ControlModel:
    return load_control_model(tiny["root"] / "controlnet" / "tiny-t2i", device="cpu")


class Recorder:
    """Records the keyword arguments (list arguments copied: the UNet pops from them) and outputs of a module."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.calls: list[dict[str, Any]] = []
        self.outputs: list[Any] = []
        self._handles = [
            module.register_forward_pre_hook(self._before, with_kwargs=True),
            module.register_forward_hook(self._after),
        ]

    def _before(self, module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        copied = {k: list(v) if isinstance(v, list) else v for k, v in kwargs.items()}
        self.calls.append({"args": args, **copied})

    def _after(self, module: torch.nn.Module, args: tuple, output: Any) -> None:
        self.outputs.append(output)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()


def test_zero_strength_leaves_the_conditionings_as_they_are(controlnet):
    positive, negative = (_entry(1),), (_entry(2),)
    assert apply_control([positive, negative], controlnet, _image(), 0.0) == (positive, negative)


def test_a_control_is_attached_after_the_previous_one_and_every_other_field_is_kept(controlnet, adapter):
    entry = _entry(1, pooled=torch.ones(1, 8), strength=0.5, class_labels=torch.tensor([2]), extras={"width": 512})
    ((first,),) = apply_control([(entry,)], controlnet, _image(), 0.7, 0.1, 0.9)
    ((second,),) = apply_control([(first,)], adapter, _image(1), 1.5)
    for kept in ("context", "pooled", "class_labels"):
        assert getattr(second, kept) is getattr(entry, kept)
    assert (second.strength, dict(second.extras)) == (0.5, {"width": 512})
    assert second.control.previous is first.control and first.control.previous is None
    assert [c.model for c in second.control.chain()] == [controlnet, adapter]
    assert (first.control.strength, first.control.start_percent, first.control.end_percent) == (0.7, 0.1, 0.9)
    assert first.control.hint.shape == (1, 3, 64, 64)


def test_entries_that_carried_the_same_control_share_one_new_control(controlnet):
    ((a,), (b,)) = apply_control([(_entry(1),), (_entry(2),)], controlnet, _image(), 1.0)
    assert a.control is b.control
    ((c,), (d,)) = apply_control([(a,), (_entry(3),)], controlnet, _image(), 1.0)
    assert c.control is not d.control and c.control.previous is a.control and d.control.previous is None


def test_percent_to_sigma_counts_the_timestep_range_as_comfyui_does(diffusion_model):
    sampling = diffusion_model.sampling
    assert sampling.percent_to_sigma(0.0) == float("inf") and sampling.percent_to_sigma(1.0) == 0.0
    assert sampling.percent_to_sigma(0.25) == pytest.approx(float(sampling.sigma(torch.tensor(0.75 * 999))))
    assert sampling.percent_to_sigma(0.001) == pytest.approx(sampling.sigma_max, rel=0.01)


def test_controlnet_residuals_scaled_by_strength_reach_the_unet_for_both_guidance_halves(diffusion_model, controlnet):
    positive, negative = apply_control([(_entry(1),), (_entry(2),)], controlnet, _image(), 0.6)
    with Recorder(controlnet.module) as control_calls, Recorder(diffusion_model.unet) as unet_calls:
        cfg_denoiser(diffusion_model, positive, negative, 5.0)(_x(), SIGMA)
    assert len(control_calls.calls) == 1 and len(unet_calls.calls) == 1  # one batched call each
    down, mid = control_calls.outputs[0]
    call = unet_calls.calls[0]
    assert control_calls.calls[0]["conditioning_scale"] == 0.6 and call["args"][0].shape[0] == 2
    assert all(a is b for a, b in zip(call["down_block_additional_residuals"], down, strict=True))
    assert call["mid_block_additional_residual"] is mid


def test_t2i_adapter_features_times_strength_reach_the_unet_as_intrablock_residuals(diffusion_model, adapter):
    image = _image(3)
    (positive,) = apply_control([(_entry(1),)], adapter, image, 0.5)
    with Recorder(diffusion_model.unet) as unet_calls:
        denoised = cfg_denoiser(diffusion_model, positive, (), 1.0)(_x(), SIGMA)
    received = unet_calls.calls[0]["down_intrablock_additional_residuals"]
    with torch.no_grad():
        expected = [f * 0.5 for f in adapter.module(image.movedim(-1, 1).contiguous())]
        assert len(received) == len(expected) == 2
        assert all(torch.equal(r, e) for r, e in zip(received, expected, strict=True))
        x, sampling = _x(), diffusion_model.sampling
        eps = diffusion_model.unet(
            sampling.calculate_input(SIGMA, x),
            sampling.timestep(SIGMA),
            encoder_hidden_states=positive[0].context,
            down_intrablock_additional_residuals=[e.clone() for e in expected],
        ).sample
    assert torch.allclose(denoised, x - eps * SIGMA, atol=1e-5)


def test_a_control_on_one_prompt_leaves_the_others_rows_of_the_batched_call_bit_identical(diffusion_model, controlnet):
    positive, negative = (_entry(1),), (_entry(2),)
    (controlled,) = apply_control([positive], controlnet, _image(), 1.0)
    with Recorder(diffusion_model.unet) as plain:
        cfg_denoiser(diffusion_model, positive, negative, 5.0)(_x(), SIGMA)
    with Recorder(diffusion_model.unet) as mixed:
        cfg_denoiser(diffusion_model, controlled, negative, 5.0)(_x(), SIGMA)
    assert len(mixed.calls) == 1
    assert not mixed.calls[0]["mid_block_additional_residual"][1].any()  # zeros for the negative prompt's row
    (mixed_output,), (plain_output,) = mixed.outputs, plain.outputs
    assert torch.equal(mixed_output[0][1], plain_output[0][1])
    assert not torch.allclose(mixed_output[0][0], plain_output[0][0])


def test_entries_with_different_controls_each_get_their_own_residuals_in_one_call(diffusion_model, controlnet, adapter):
    ((first,),) = apply_control([(_entry(1),)], controlnet, _image(), 1.0)
    ((second,),) = apply_control([(_entry(2),)], adapter, _image(1), 1.0)
    alone = [cfg_denoiser(diffusion_model, (entry,), (), 1.0)(_x(), SIGMA) for entry in (first, second)]
    with Recorder(diffusion_model.unet) as calls:
        both = cfg_denoiser(diffusion_model, (first, second), (), 1.0)(_x(), SIGMA)
    assert len(calls.calls) == 1 and calls.calls[0]["args"][0].shape[0] == 2
    assert torch.allclose(both, (alone[0] + alone[1]) / 2, atol=1e-5)


def test_the_older_apply_controlnet_drives_a_negative_side_that_has_no_control(controlnet):
    (positive,) = apply_control([(_entry(1),)], controlnet, _image(), 1.0, apply_to_uncond=True)
    negative = (_entry(2), _entry(3))
    filled = fill_uncond(positive, negative)
    assert filled[0].control is positive[0].control and filled[1].control is None
    (advanced,) = apply_control([(_entry(1),)], controlnet, _image(), 1.0)
    assert fill_uncond(advanced, negative) == negative
    (own,) = apply_control([negative], controlnet, _image(), 1.0)
    assert fill_uncond(positive, own) is own


def test_a_control_acts_only_at_the_sigmas_inside_its_window(diffusion_model, controlnet):
    (positive,) = apply_control([(_entry(1),)], controlnet, _image(), 1.0, 0.3, 0.7)
    high, low = positive[0].control.sigma_window(diffusion_model.sampling)
    seen: list[float] = []
    with Recorder(controlnet.module) as calls:
        sample(
            diffusion_model,
            positive=positive,
            negative=(),
            latent=Latent(torch.zeros(1, 4, 8, 8)),
            seed=0,
            steps=12,
            cfg=1.0,
            sampler_name="euler",
            scheduler="normal",
            callback=lambda info: seen.append(float(info["sigma"])),
        )
    inside = [s for s in seen if low <= s <= high]
    assert 0 < len(inside) < len(seen) and len(calls.calls) == len(inside)
    timesteps = [float(call["args"][1][0]) for call in calls.calls]
    assert timesteps == pytest.approx([float(diffusion_model.sampling.timestep(torch.tensor(s))) for s in inside])


def test_the_hint_is_centre_cropped_and_resized_to_the_latent_in_pixels(diffusion_model, controlnet):
    wide = torch.zeros(1, 3, 40, 120)
    wide[..., 40:80] = 1.0  # the middle third: what a square crop keeps
    assert torch.equal(fit_size(wide, 64, 64), torch.ones(1, 3, 64, 64))
    hint = torch.rand(1, 3, 64, 64)
    assert fit_size(hint, 64, 64) is hint
    (positive,) = apply_control([(_entry(1),)], controlnet, _image(0, 30, 90), 1.0)
    with Recorder(controlnet.module) as calls:
        cfg_denoiser(diffusion_model, positive, (), 1.0)(torch.zeros(1, 4, 6, 10), SIGMA)
    assert calls.calls[0]["controlnet_cond"].shape == (1, 3, 48, 80)


def test_a_batch_of_hints_repeats_over_the_latent_batch(diffusion_model, controlnet):
    rows = torch.arange(2.0).reshape(2, 1, 1, 1)
    assert per_latent(rows, 5).flatten().tolist() == [0, 1, 0, 1, 0]
    (positive,) = apply_control([(_entry(1),)], controlnet, _image(0, batch=2), 1.0)
    with Recorder(controlnet.module) as calls:
        cfg_denoiser(diffusion_model, positive, (), 1.0)(_x(3), SIGMA.expand(3))
    hint = calls.calls[0]["controlnet_cond"]
    assert hint.shape[0] == 3 and torch.equal(hint[2], hint[0]) and not torch.equal(hint[1], hint[0])


def test_a_control_made_for_another_model_family_is_refused_before_sampling(diffusion_model, tmp_path):
    from graphflow.control.tiny import controlnet_from_unet, save_controlnet_file
    from graphflow.models.tiny import build_tiny

    path = save_controlnet_file(controlnet_from_unet(build_tiny("sd2").unet), tmp_path / "control_sd21.safetensors")
    (positive,) = apply_control([(_entry(1),)], load_control_model(path, device="cpu"), _image(), 1.0)
    with pytest.raises(ValueError, match=r"positive conditioning: sd2 ControlNet control_sd21\.safetensors does not"):
        cfg_denoiser(diffusion_model, positive, (), 1.0)


def test_a_control_hint_that_is_not_a_picture_batch_is_refused(controlnet):
    with pytest.raises(ValueError, match=r"\[batch, channels, height, width\]"):
        Control(model=controlnet, hint=torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match=r"end_percent must lie in 0..1"):
        Control(model=controlnet, hint=torch.zeros(1, 3, 8, 8), end_percent=1.5)


def test_a_model_carrying_weight_patches_samples_with_a_control_and_is_restored_after(diffusion_model, controlnet):
    from graphflow.patches import WeightPatch

    key = "conv_in.weight"
    before = diffusion_model.unet.get_parameter(key).detach().clone()
    patched: DiffusionModel = diffusion_model.with_patches([WeightPatch(key, lambda w: torch.ones_like(w), 0.01)])
    (positive,) = apply_control([(_entry(1),)], controlnet, _image(), 1.0)
    options = {"negative": (), "seed": 0, "steps": 3, "cfg": 1.0, "sampler_name": "euler", "scheduler": "normal"}
    latent = Latent(torch.zeros(1, 4, 8, 8))
    with_patch = sample(patched, positive=positive, latent=latent, **options)
    without = sample(diffusion_model, positive=positive, latent=latent, **options)
    assert not torch.equal(with_patch, without)
    assert torch.equal(diffusion_model.unet.get_parameter(key), before)


def test_an_sdxl_controlnet_gets_the_pooled_text_and_size_hints_the_unet_gets():
    from graphflow.control.tiny import controlnet_from_unet
    from graphflow.models.tiny import build_tiny
    from graphflow.sampling.model import SDXL_LATENT_FORMAT, ModelSampling

    unet = build_tiny("sdxl").unet
    model = DiffusionModel(
        unet, ModelSampling.from_betas(), "sdxl", SDXL_LATENT_FORMAT, torch.device("cpu"), torch.float32
    )
    module = controlnet_from_unet(unet, seed=6)
    control = ControlModel("controlnet", module, "sdxl", "tiny-sdxl-cn", torch.device("cpu"), torch.float32)
    generator = torch.Generator().manual_seed(8)
    entry = CondEntry(
        context=torch.randn(1, 77, 64, generator=generator), pooled=torch.randn(1, 32, generator=generator)
    )
    image = _image(4)
    (positive,) = apply_control([(entry,)], control, image, 0.9)
    x = _x()
    denoised = cfg_denoiser(model, positive, (), 1.0)(x, SIGMA)
    with torch.no_grad():
        x_in, timestep = model.sampling.calculate_input(SIGMA, x), model.sampling.timestep(SIGMA)
        added = {"text_embeds": entry.pooled, "time_ids": torch.tensor([[64.0, 64.0, 0.0, 0.0, 64.0, 64.0]])}
        down, mid = module(
            x_in,
            timestep,
            encoder_hidden_states=entry.context,
            controlnet_cond=image.movedim(-1, 1),
            conditioning_scale=0.9,
            added_cond_kwargs=added,
            return_dict=False,
        )
        eps = unet(
            x_in,
            timestep,
            encoder_hidden_states=entry.context,
            added_cond_kwargs=added,
            down_block_additional_residuals=down,
            mid_block_additional_residual=mid,
        ).sample
    plain = cfg_denoiser(model, (entry,), (), 1.0)(x, SIGMA)
    assert torch.allclose(denoised, x - eps * SIGMA, atol=1e-5) and not torch.allclose(denoised, plain, atol=1e-3)
