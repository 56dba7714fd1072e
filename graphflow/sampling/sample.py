"""One entry point for KSampler / KSamplerAdvanced: noise, sigmas, guidance, inpainting, sampler."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from graphflow.sampling.conditioning import Conditioning
from graphflow.sampling.denoiser import cfg_denoiser, masked_denoiser
from graphflow.sampling.flow_samplers import sampler_for
from graphflow.sampling.latent import Latent, resize_noise_mask
from graphflow.sampling.model import DiffusionModel
from graphflow.sampling.noise import BrownianTreeNoiseSampler, prepare_noise, seeded_noise_sampler
from graphflow.sampling.samplers import SamplerSpec, get_sampler_spec
from graphflow.sampling.schedules import get_sigmas
from graphflow.sampling.stepping import SamplingCancelled, cancellable

__all__ = ["Sampled", "SamplingCancelled", "prepare_noise", "sample", "sample_sigmas", "step_window"]

ProgressCallback = Callable[[dict[str, Any]], None]
"""Receives {x, i, sigma, sigma_hat, denoised, total} once per step (denoised = x0 estimate)."""

# Samplers whose inpainting keeps the original under fresh noise from seed + 1 (ComfyUI's ddim).
_RANDOM_INPAINT_NOISE = frozenset({"ddim"})


def step_window(
    sigmas: Tensor, start_step: int | None, end_step: int | None, force_full_denoise: bool
) -> Tensor | None:
    """Cut a schedule to steps [start_step, end_step) like KSamplerAdvanced; None if nothing is left.

    When the run stops early and `force_full_denoise` is set, the last sigma becomes 0.
    """
    if end_step is not None and end_step < len(sigmas) - 1:
        sigmas = sigmas[: end_step + 1].clone()
        if force_full_denoise:
            sigmas[-1] = 0
    if start_step is not None:
        if start_step >= len(sigmas) - 1:
            return None
        sigmas = sigmas[start_step:]
    return sigmas if len(sigmas) > 1 else None


def _model_latent(model: DiffusionModel, samples: Tensor) -> Tensor:
    """The latent in the model's channel count; an all-zero (empty) latent of another size is remade."""
    channels = model.latent_format.channels
    if samples.shape[1] == channels:
        return samples
    if not samples.any():
        return samples.new_zeros(samples.shape[0], channels, *samples.shape[2:])
    raise ValueError(
        f"the latent has {samples.shape[1]} channels but this {model.family} model works on {channels}: "
        "encode the image with this model's VAE"
    )


def _noise_options(spec: SamplerSpec, x: Tensor, sigmas: Tensor, seed: int) -> dict[str, Any]:
    if spec.noise == "gaussian":
        return {"noise_sampler": seeded_noise_sampler(x, seed)}
    if spec.noise == "brownian":
        positive = sigmas[sigmas > 0]
        return {"noise_sampler": BrownianTreeNoiseSampler(x, float(positive.min()), float(sigmas.max()), seed)}
    return {}


@dataclass(frozen=True)
class Sampled:
    """What one sampling run gives: the new latent samples and the last x0 estimate (None if no step ran)."""

    samples: Tensor
    denoised: Tensor | None


def sample(
    model: DiffusionModel,
    *,
    positive: Conditioning,
    negative: Conditioning,
    latent: Latent,
    seed: int,
    steps: int,
    cfg: float,
    sampler_name: str,
    scheduler: str,
    denoise: float = 1.0,
    start_step: int | None = None,
    end_step: int | None = None,
    add_noise: bool = True,
    return_with_leftover_noise: bool = False,
    noise: Tensor | None = None,
    callback: ProgressCallback | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Tensor:
    """Denoise a latent: KSampler (denoise) and KSamplerAdvanced (steps window, noise options) in one.

    Returns the new latent samples as a float32 CPU tensor. `noise` overrides the seeded noise
    (prepare_noise(latent, seed)); `cancelled()` is asked before every model evaluation and
    raises SamplingCancelled when true.
    """
    spec = get_sampler_spec(sampler_name)
    sigmas = get_sigmas(model.sampling, scheduler, steps, denoise, sampler_name)
    window = step_window(sigmas, start_step, end_step, force_full_denoise=not return_with_leftover_noise)
    if window is None:
        return _model_latent(model, latent.samples).float().cpu().clone()
    return sample_sigmas(
        model,
        positive=positive,
        negative=negative,
        latent=latent,
        sigmas=window,
        sampler=spec,
        seed=seed,
        cfg=cfg,
        add_noise=add_noise,
        noise=noise,
        callback=callback,
        cancelled=cancelled,
    ).samples


def sample_sigmas(
    model: DiffusionModel,
    *,
    positive: Conditioning,
    negative: Conditioning,
    latent: Latent,
    sigmas: Tensor,
    sampler: SamplerSpec,
    seed: int,
    cfg: float,
    add_noise: bool = True,
    noise: Tensor | None = None,
    callback: ProgressCallback | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Sampled:
    """Denoise a latent along a given schedule (ComfyUI's SamplerCustom); what KSampler runs after making sigmas.

    Fewer than two sigmas leave the latent as it is. `seed` draws the start noise (unless `add_noise`
    is off or `noise` is given) and the sampler's own noise. Results are float32 CPU tensors.
    """
    latent_image = _model_latent(model, latent.samples).float()
    if len(sigmas) < 2:
        return Sampled(latent_image.cpu().clone(), None)
    sampler = sampler_for(model.sampling, sampler, sigmas)
    if noise is None and add_noise:
        noise = prepare_noise(Latent(latent_image, batch_index=latent.batch_index), seed)
    elif noise is None:
        noise = torch.zeros_like(latent_image)

    device = model.device
    image = latent_image.to(device)
    noise = noise.to(device, torch.float32)
    sigmas = sigmas.to(device, torch.float32)
    max_denoise = (
        math.isclose(float(sigmas[0]), model.sampling.sigma_max, rel_tol=1e-5)
        or float(sigmas[0]) > model.sampling.sigma_max
    )
    x = model.sampling.noise_scaling(sigmas[0], noise, image, max_denoise)

    denoiser = cfg_denoiser(model, positive, negative, cfg, seed=seed)
    if latent.noise_mask is not None:
        mask = resize_noise_mask(latent.noise_mask, x.shape).to(device)
        inpaint_noise = noise
        if sampler.name in _RANDOM_INPAINT_NOISE:
            inpaint_noise = prepare_noise(Latent(latent_image), seed + 1).to(device)
        denoiser = masked_denoiser(denoiser, image, inpaint_noise, mask, model.sampling)
    if cancelled is not None:
        denoiser = cancellable(denoiser, cancelled)

    total = len(sigmas) - 1
    last: dict[str, Tensor] = {}

    def step_callback(info: dict[str, Any]) -> None:
        last["denoised"] = info["denoised"]
        if callback is not None:
            callback({**info, "total": total})

    with torch.no_grad(), model.active_unet():
        out = sampler.function(denoiser, x, sigmas, callback=step_callback, **_noise_options(sampler, x, sigmas, seed))
    samples = model.sampling.inverse_noise_scaling(sigmas[-1], out).float().cpu()
    denoised = last.get("denoised")
    return Sampled(samples, None if denoised is None else denoised.float().cpu())
