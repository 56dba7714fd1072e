"""Model sampling of flow-matching models (SD3/SD3.5, Flux): straight paths from data to noise, shifted in time.

A flow model sees x_sigma = (1 - sigma) * x0 + sigma * noise for sigma in [0, 1] and predicts the velocity
v = noise - x0, so x0 = x - sigma * v (ComfyUI's CONST model sampling). Which sigma a time t in (0, 1] stands
for is shifted towards noise, more for larger pictures:

- SD3: sigma = shift * t / (1 + (shift - 1) * t), shift 3.0 by default (ComfyUI's ModelSamplingDiscreteFlow,
  diffusers' FlowMatchEulerDiscreteScheduler `shift`); the model takes timestep sigma * 1000.
- Flux: sigma = e^mu / (e^mu + 1/t - 1) with mu = `shift` (ComfyUI's ModelSamplingFlux, diffusers' dynamic
  shifting); the model takes timestep sigma. The shift grows linearly with the picture's token count
  (`flux_shift_for_size`).

`FlowSampling` answers the same questions as `ModelSampling` (sigmas table, timestep <-> sigma, input and
output transforms), so every schedule and sampler that works on sigmas works on flow models too.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from graphflow.sampling.model import SigmaTable, per_sample

SD3_SHIFT = 3.0
FLUX_SHIFT = 1.15
FLUX_BASE_SHIFT = 0.5
# Token counts between which Flux's shift grows linearly (ComfyUI's ModelSamplingFlux node, diffusers' FluxPipeline).
FLUX_BASE_TOKENS, FLUX_MAX_TOKENS = 256, 4096
# Per kind: default shift, timestep multiplier and table size (ComfyUI's ModelSamplingDiscreteFlow, ModelSamplingFlux).
_DEFAULTS: dict[str, tuple[float, float, int]] = {"sd3": (SD3_SHIFT, 1000.0, 1000), "flux": (FLUX_SHIFT, 1.0, 10000)}


def snr_shift(shift: float, t: Tensor) -> Tensor:
    """SD3's time shift: shift * t / (1 + (shift - 1) * t) (the identity at shift 1)."""
    if shift == 1.0:
        return t
    return shift * t / (1 + (shift - 1) * t)


def exponential_shift(mu: float, t: Tensor) -> Tensor:
    """Flux's time shift: e^mu / (e^mu + 1/t - 1)."""
    return math.exp(mu) / (math.exp(mu) + (1 / t - 1))


def flux_shift_for_size(
    width: int, height: int, max_shift: float = FLUX_SHIFT, base_shift: float = FLUX_BASE_SHIFT
) -> float:
    """Flux's shift for a picture of `width` x `height` pixels: linear in its 2x2-patch token count (16 px each)."""
    slope = (max_shift - base_shift) / (FLUX_MAX_TOKENS - FLUX_BASE_TOKENS)
    return (width * height / (8 * 8 * 2 * 2)) * slope + base_shift - slope * FLUX_BASE_TOKENS


class FlowSampling(SigmaTable):
    """Sigma view of a flow-matching model; `kind` "sd3" (shift on t) or "flux" (mu = `shift`).

    `sigmas` is the table of the model's times 1/N .. 1 (N = `timesteps`), shifted; the schedules read it as
    they read a discrete model's table. Left out, shift, multiplier and table size are the kind's as ComfyUI
    sets them: SD3 3.0, 1000, 1000 (ModelSamplingDiscreteFlow); Flux 1.15, 1, 10000 (ModelSamplingFlux).
    """

    prediction_type = "flow"
    discrete_timesteps = False

    def __init__(
        self,
        kind: str = "sd3",
        shift: float | None = None,
        multiplier: float | None = None,
        timesteps: int | None = None,
    ):
        if kind not in _DEFAULTS:
            raise ValueError(f"unknown flow model sampling {kind!r}: expected 'sd3' or 'flux'")
        default_shift, default_multiplier, default_timesteps = _DEFAULTS[kind]
        shift = default_shift if shift is None else float(shift)
        multiplier = default_multiplier if multiplier is None else float(multiplier)
        timesteps = default_timesteps if timesteps is None else timesteps
        if not math.isfinite(shift) or (shift <= 0 and kind == "sd3"):
            raise ValueError(f"the shift must be a positive number, got {shift}")
        if multiplier <= 0 or timesteps < 2:
            raise ValueError(f"multiplier must be positive and timesteps at least 2, got {multiplier}, {timesteps}")
        self.kind, self.shift, self.multiplier, self.timesteps = kind, shift, multiplier, timesteps
        self.sigmas = self.sigma(torch.arange(1, timesteps + 1, dtype=torch.float64) / timesteps * multiplier).float()
        self.log_sigmas = self.sigmas.log()

    def with_shift(self, shift: float, kind: str | None = None) -> FlowSampling:
        """The same model sampling with another shift, and optionally the other `kind` of shift (ComfyUI's
        ModelSamplingSD3 / ModelSamplingFlux nodes); the model's timestep multiplier is kept either way."""
        if kind is None or kind == self.kind:
            return FlowSampling(self.kind, shift, self.multiplier, self.timesteps)
        return FlowSampling(kind, shift, self.multiplier)

    def with_discrete_timesteps(self) -> FlowSampling:
        """Flow models take continuous times: the same sampling."""
        return self

    def timestep(self, sigma: Tensor | float) -> Tensor:
        """The time the model is called with at `sigma`: sigma * multiplier (ComfyUI's convention)."""
        return torch.as_tensor(sigma).float() * self.multiplier

    def sigma(self, timestep: Tensor | float) -> Tensor:
        """The shifted sigma of a model time (0 .. multiplier)."""
        t = torch.as_tensor(timestep, dtype=torch.float64) / self.multiplier
        if self.kind == "flux":
            return exponential_shift(self.shift, t.clamp_min(1e-12)).float()
        return snr_shift(self.shift, t).float()

    def percent_to_sigma(self, percent: float) -> float:
        """The sigma after `percent` of the sampling (0 gives 1, pure noise; 1 gives 0)."""
        if percent <= 0.0:
            return 1.0
        if percent >= 1.0:
            return 0.0
        return float(self.sigma((1.0 - percent) * self.multiplier))

    def calculate_input(self, sigma: Tensor | float, x: Tensor) -> Tensor:
        """The model's input is the noisy latent as it is."""
        return x

    def calculate_denoised(self, sigma: Tensor | float, model_output: Tensor, x: Tensor) -> Tensor:
        """x0 from the predicted velocity: x - sigma * v."""
        return x - model_output * per_sample(sigma, x)

    def noise_scaling(
        self, sigma: Tensor | float, noise: Tensor, latent_image: Tensor, max_denoise: bool = False
    ) -> Tensor:
        """The noisy start latent on the straight path: sigma * noise + (1 - sigma) * latent."""
        sigma = per_sample(sigma, noise)
        return sigma * noise + (1 - sigma) * latent_image

    def inverse_noise_scaling(self, sigma: Tensor | float, latent: Tensor) -> Tensor:
        """Undo the path's scaling of the data at the last sigma: latent / (1 - sigma)."""
        return latent / (1 - per_sample(sigma, latent))

    def __repr__(self) -> str:
        return f"FlowSampling(kind={self.kind!r}, shift={self.shift}, multiplier={self.multiplier})"
