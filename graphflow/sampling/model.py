"""MODEL values: latent formats, the discrete noise table of a model, and the model bundle."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import Tensor

from graphflow.patches import ModuleHook, WeightPatch, applied

if TYPE_CHECKING:
    from graphflow.sampling.flow import FlowSampling

PredictionType = Literal["epsilon", "v_prediction", "flow"]
PREDICTION_TYPES: tuple[str, ...] = ("epsilon", "v_prediction")


@dataclass(frozen=True)
class LatentFormat:
    """How a family's latents look: channel count, VAE scaling (and shift) factor and a cheap latent->RGB map.

    Latent samples are (z - shift_factor) * scaling_factor of the VAE's z.
    """

    channels: int
    scaling_factor: float
    latent_rgb_factors: tuple[tuple[float, float, float], ...]
    latent_rgb_factors_bias: tuple[float, float, float] | None = None
    shift_factor: float = 0.0

    def __post_init__(self) -> None:
        if len(self.latent_rgb_factors) != self.channels:
            raise ValueError(
                f"latent_rgb_factors needs one RGB row per latent channel: "
                f"{len(self.latent_rgb_factors)} rows for {self.channels} channels"
            )


# Factors and scales as published in ComfyUI's comfy/latent_formats.py (SD15 and SDXL).
SD1_LATENT_FORMAT = LatentFormat(
    channels=4,
    scaling_factor=0.18215,
    latent_rgb_factors=(
        (0.3512, 0.2297, 0.3227),
        (0.3250, 0.4974, 0.2350),
        (-0.2829, 0.1762, 0.2721),
        (-0.2120, -0.2616, -0.7177),
    ),
)
SD2_LATENT_FORMAT = SD1_LATENT_FORMAT
SDXL_LATENT_FORMAT = LatentFormat(
    channels=4,
    scaling_factor=0.13025,
    latent_rgb_factors=(
        (0.3651, 0.4232, 0.4341),
        (-0.2533, -0.0042, 0.1068),
        (0.1076, 0.1111, -0.0362),
        (-0.3165, -0.2492, -0.2188),
    ),
    latent_rgb_factors_bias=(0.1084, -0.0175, -0.0011),
)
# The 16-channel VAEs of the flow-matching families, as in ComfyUI's comfy/latent_formats.py (SD3 and Flux).
SD3_LATENT_FORMAT = LatentFormat(
    channels=16,
    scaling_factor=1.5305,
    shift_factor=0.0609,
    latent_rgb_factors=(
        (-0.0922, -0.0175, 0.0749),
        (0.0311, 0.0633, 0.0954),
        (0.1994, 0.0927, 0.0458),
        (0.0856, 0.0339, 0.0902),
        (0.0587, 0.0272, -0.0496),
        (-0.0006, 0.1104, 0.0309),
        (0.0978, 0.0306, 0.0427),
        (-0.0042, 0.1038, 0.1358),
        (-0.0194, 0.0020, 0.0669),
        (-0.0488, 0.0130, -0.0268),
        (0.0922, 0.0988, 0.0951),
        (-0.0278, 0.0524, -0.0542),
        (0.0332, 0.0456, 0.0895),
        (-0.0069, -0.0030, -0.0810),
        (-0.0596, -0.0465, -0.0293),
        (-0.1448, -0.1463, -0.1189),
    ),
    latent_rgb_factors_bias=(0.2394, 0.2135, 0.1925),
)
FLUX_LATENT_FORMAT = LatentFormat(
    channels=16,
    scaling_factor=0.3611,
    shift_factor=0.1159,
    latent_rgb_factors=(
        (-0.0346, 0.0244, 0.0681),
        (0.0034, 0.0210, 0.0687),
        (0.0275, -0.0668, -0.0433),
        (-0.0174, 0.0160, 0.0617),
        (0.0859, 0.0721, 0.0329),
        (0.0004, 0.0383, 0.0115),
        (0.0405, 0.0861, 0.0915),
        (-0.0236, -0.0185, -0.0259),
        (-0.0245, 0.0250, 0.1180),
        (0.1008, 0.0755, -0.0421),
        (-0.0515, 0.0201, 0.0011),
        (0.0428, -0.0012, -0.0036),
        (0.0817, 0.0765, 0.0749),
        (-0.1264, -0.0522, -0.1103),
        (-0.0280, -0.0881, -0.0499),
        (-0.1262, -0.0982, -0.0778),
    ),
    latent_rgb_factors_bias=(-0.0329, -0.0718, -0.0851),
)
LATENT_FORMATS: dict[str, LatentFormat] = {
    "sd1": SD1_LATENT_FORMAT,
    "sd2": SD2_LATENT_FORMAT,
    "sdxl": SDXL_LATENT_FORMAT,
    "sd3": SD3_LATENT_FORMAT,
    "flux": FLUX_LATENT_FORMAT,
}


def per_sample(sigma: Tensor | float, like: Tensor) -> Tensor:
    """Sigma (scalar or [B]) shaped to broadcast over `like` [B, ...]."""
    sigma = torch.as_tensor(sigma, dtype=like.dtype, device=like.device)
    if sigma.ndim == 0:
        return sigma
    return sigma.reshape(-1, *([1] * (like.ndim - 1)))


class SigmaTable:
    """A model's table of noise levels, lowest first; the schedules read it."""

    sigmas: Tensor

    @property
    def sigma_min(self) -> float:
        """Smallest sigma of the table."""
        return float(self.sigmas[0])

    @property
    def sigma_max(self) -> float:
        """Largest sigma of the table."""
        return float(self.sigmas[-1])


class ModelSampling(SigmaTable):
    """Noise table of a discrete-time (DDPM-trained) model in the k-diffusion sigma view.

    sigma_t = sqrt((1 - alphas_cumprod[t]) / alphas_cumprod[t]); x_sigma = x0 + sigma * noise.
    """

    def __init__(
        self, alphas_cumprod: Tensor, prediction_type: str = "epsilon", discrete_timesteps: bool = False
    ) -> None:
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(
                f"unknown prediction type {prediction_type!r}: expected one of {', '.join(PREDICTION_TYPES)}"
            )
        alphas_cumprod = torch.as_tensor(alphas_cumprod, dtype=torch.float64).flatten()
        if alphas_cumprod.numel() < 2:
            raise ValueError("alphas_cumprod needs at least two timesteps")
        self.prediction_type: PredictionType = prediction_type  # type: ignore[assignment]
        self.alphas_cumprod = alphas_cumprod
        self.sigmas = ((1 - alphas_cumprod) / alphas_cumprod).sqrt().float()
        self.log_sigmas = self.sigmas.log()
        # True: timestep() gives the nearest table index, as ComfyUI's ModelSamplingDiscrete does
        self.discrete_timesteps = discrete_timesteps

    @classmethod
    def from_betas(
        cls,
        beta_schedule: str = "scaled_linear",
        beta_start: float = 0.00085,
        beta_end: float = 0.012,
        num_timesteps: int = 1000,
        prediction_type: str = "epsilon",
    ) -> ModelSampling:
        """The noise table of a beta schedule ("scaled_linear" is Stable Diffusion's, "linear" DDPM's)."""
        if beta_schedule == "scaled_linear":
            betas = torch.linspace(beta_start**0.5, beta_end**0.5, num_timesteps, dtype=torch.float64) ** 2
        elif beta_schedule == "linear":
            betas = torch.linspace(beta_start, beta_end, num_timesteps, dtype=torch.float64)
        else:
            raise ValueError(f"unsupported beta_schedule {beta_schedule!r}: expected 'scaled_linear' or 'linear'")
        return cls(torch.cumprod(1 - betas, dim=0), prediction_type)

    @classmethod
    def from_scheduler_config(cls, config: Mapping[str, Any]) -> ModelSampling:
        """Build from a diffusers scheduler config (beta_schedule, beta_start/end, trained_betas, ...)."""
        prediction_type = config.get("prediction_type", "epsilon")
        trained = config.get("trained_betas")
        if trained is not None:
            betas = torch.as_tensor(trained, dtype=torch.float64)
            return cls(torch.cumprod(1 - betas, dim=0), prediction_type)
        return cls.from_betas(
            beta_schedule=config.get("beta_schedule", "scaled_linear"),
            beta_start=float(config.get("beta_start", 0.00085)),
            beta_end=float(config.get("beta_end", 0.012)),
            num_timesteps=int(config.get("num_train_timesteps", 1000)),
            prediction_type=prediction_type,
        )

    def with_discrete_timesteps(self) -> ModelSampling:
        """A copy whose timestep() rounds to the nearest training timestep (ComfyUI's behaviour)."""
        copy = object.__new__(ModelSampling)
        copy.__dict__.update(self.__dict__, discrete_timesteps=True)
        return copy

    def timestep(self, sigma: Tensor | float) -> Tensor:
        """Fractional timestep of a sigma, interpolating linearly in log-sigma (clamped to the table);
        with `discrete_timesteps`, the index of the nearest table entry in log-sigma."""
        sigma = torch.as_tensor(sigma)
        log_sigmas = self.log_sigmas.to(sigma.device)
        if self.discrete_timesteps:
            distances = sigma.float().log().reshape(1, -1) - log_sigmas[:, None]
            return distances.abs().argmin(dim=0).view(sigma.shape).float()
        log_sigma = sigma.float().log().clamp(log_sigmas[0], log_sigmas[-1])
        high = torch.searchsorted(log_sigmas, log_sigma.contiguous()).clamp(1, len(log_sigmas) - 1)
        low_value, high_value = log_sigmas[high - 1], log_sigmas[high]
        weight = (log_sigma - low_value) / (high_value - low_value)
        return (high - 1).float() + weight.clamp(0, 1)

    def sigma(self, timestep: Tensor | float) -> Tensor:
        """Sigma at a (fractional) timestep, interpolating linearly in log-sigma."""
        timestep = torch.as_tensor(timestep)
        log_sigmas = self.log_sigmas.to(timestep.device)
        t = timestep.float().clamp(0, len(log_sigmas) - 1)
        low, high = t.floor().long(), t.ceil().long()
        weight = t - low
        return ((1 - weight) * log_sigmas[low] + weight * log_sigmas[high]).exp()

    def percent_to_sigma(self, percent: float) -> float:
        """The sigma reached after `percent` of the timestep range (0: infinity, 1: zero), as ComfyUI counts."""
        if percent <= 0.0:
            return math.inf
        if percent >= 1.0:
            return 0.0
        return float(self.sigma(torch.tensor((1.0 - percent) * (len(self.sigmas) - 1))))

    def calculate_input(self, sigma: Tensor | float, x: Tensor) -> Tensor:
        """The UNet's input for a noisy latent x at sigma: x / sqrt(sigma^2 + 1)."""
        return x / (per_sample(sigma, x) ** 2 + 1) ** 0.5

    def calculate_denoised(self, sigma: Tensor | float, model_output: Tensor, x: Tensor) -> Tensor:
        """The x0 estimate from the UNet output (epsilon or v) at noisy latent x."""
        sigma = per_sample(sigma, x)
        if self.prediction_type == "epsilon":
            return x - model_output * sigma
        return x / (sigma**2 + 1) - model_output * sigma / (sigma**2 + 1) ** 0.5

    def noise_scaling(
        self, sigma: Tensor | float, noise: Tensor, latent_image: Tensor, max_denoise: bool = False
    ) -> Tensor:
        """Noisy start latent: latent + noise * sigma (noise * sqrt(1 + sigma^2) at full denoise)."""
        sigma = per_sample(sigma, noise)
        scale = (1 + sigma**2) ** 0.5 if max_denoise else sigma
        return latent_image + noise * scale

    def inverse_noise_scaling(self, sigma: Tensor | float, latent: Tensor) -> Tensor:
        """Undo noise_scaling's output transform (the identity for these models)."""
        return latent


@dataclass(frozen=True, eq=False)
class DiffusionModel:
    """A loaded diffusion model: a diffusers UNet2DConditionModel (or a flow transformer) plus how to sample it.

    `patches` (e.g. from LoRAs, merges) are applied to the UNet and `hooks` (e.g. hypernetworks) installed
    only while it samples (`active_unet`); the cached UNet itself is never changed.
    """

    unet: Any
    sampling: ModelSampling | FlowSampling
    family: str
    latent_format: LatentFormat
    device: torch.device
    dtype: torch.dtype
    patches: tuple[WeightPatch, ...] = ()
    hooks: tuple[ModuleHook, ...] = ()

    def with_patches(self, patches: Sequence[WeightPatch]) -> DiffusionModel:
        """A copy that carries `patches` after the ones it already has."""
        return dataclasses.replace(self, patches=(*self.patches, *patches))

    def with_hooks(self, hooks: Sequence[ModuleHook]) -> DiffusionModel:
        """A copy that carries module `hooks` (e.g. hypernetworks) after the ones it already has."""
        return dataclasses.replace(self, hooks=(*self.hooks, *hooks))

    @contextmanager
    def active_unet(self) -> Iterator[Any]:
        """The UNet with this model's patches applied and its hooks installed, for the length of the block."""
        with applied(self.unet, self.patches) as unet, ExitStack() as stack:
            for hook in self.hooks:
                stack.enter_context(hook.installed(unet))
            yield unet


@contextmanager
def attached(root: torch.nn.Module, modules: Mapping[str, torch.nn.Module]) -> Iterator[torch.nn.Module]:
    """`root` with extra submodules set at dotted names (e.g. GLIGEN's `down_blocks.0....fuser`) for the block.

    Whatever was at a name before comes back afterwards (an attribute that did not exist is removed), so a
    cached model is left as it was; the model's weights, and any patches applied to them, are not touched.
    """
    missing = object()
    saved: list[tuple[torch.nn.Module, str, Any]] = []
    try:
        for name, module in modules.items():
            parent_name, _, attribute = name.rpartition(".")
            parent = root.get_submodule(parent_name) if parent_name else root
            if attribute not in parent._modules and hasattr(parent, attribute):
                raise ValueError(f"cannot attach a module at {name!r}: {type(parent).__name__} has such an attribute")
            saved.append((parent, attribute, parent._modules.get(attribute, missing)))
            setattr(parent, attribute, module)
        yield root
    finally:
        for parent, attribute, previous in reversed(saved):
            if previous is missing:
                delattr(parent, attribute)
            else:
                setattr(parent, attribute, previous)
