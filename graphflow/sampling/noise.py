"""Noise: the seeded initial noise of a latent and the noise samplers of stochastic samplers.

All noise is drawn on the CPU from a seed and then moved, so a seed gives the same image on any device.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import Tensor

from graphflow.sampling.latent import Latent

NoiseSampler = Callable[[Tensor, Tensor], Tensor]


def _random_seed() -> int:
    return int(torch.randint(0, 2**63 - 1, ()).item())


def prepare_noise(latent: Latent, seed: int) -> Tensor:
    """Initial noise for a latent: CPU torch.randn of its shape from a generator seeded with `seed`.

    With `batch_index`, item k gets the noise the item at position batch_index[k] of a full batch
    would get, so a latent cut from a batch reproduces its image (ComfyUI's prepare_noise).
    """
    generator = torch.Generator("cpu").manual_seed(seed)
    shape = tuple(latent.samples.shape)
    if latent.batch_index is None:
        return torch.randn(shape, generator=generator, dtype=torch.float32)
    per_item = torch.randn((max(latent.batch_index) + 1, *shape[1:]), generator=generator, dtype=torch.float32)
    return per_item[list(latent.batch_index)]


def seeded_noise_sampler(x: Tensor, seed: int | None = None) -> NoiseSampler:
    """Gaussian noise like x for each step, from one CPU generator seeded with `seed` (random if None)."""
    generator = torch.Generator("cpu").manual_seed(_random_seed() if seed is None else seed)

    def sample(sigma: Tensor, sigma_next: Tensor) -> Tensor:
        return torch.randn(x.shape, generator=generator, dtype=torch.float32).to(x)

    return sample


class BrownianTreeNoiseSampler:
    """Noise from one torchsde Brownian tree over [sigma_min, sigma_max], for SDE samplers.

    Calls with (sigma, sigma_next) return the normalised Brownian increment between the two
    sigmas, so noise is consistent across step counts (k-diffusion's BrownianTreeNoiseSampler).
    The tree lives on the CPU; results are moved to x's device and dtype.
    """

    def __init__(self, x: Tensor, sigma_min: float, sigma_max: float, seed: int | None = None) -> None:
        import torchsde  # only the SDE samplers need torchsde

        self._like = x
        low, high = sorted((float(sigma_min), float(sigma_max)))
        dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
        start = torch.zeros(x.shape, dtype=dtype)
        entropy = _random_seed() if seed is None else seed
        self._tree = torchsde.BrownianTree(low, start, high, entropy=entropy)

    def __call__(self, sigma: Tensor, sigma_next: Tensor) -> Tensor:
        """Normalised Brownian increment from sigma to sigma_next."""
        a, b = float(sigma), float(sigma_next)
        low, high = min(a, b), max(a, b)
        sign = 1.0 if a < b else -1.0
        with warnings.catch_warnings():
            # Round-off can put a query a hair outside the tree's interval; torchsde clamps it.
            warnings.filterwarnings("ignore", message="Should have", category=UserWarning)
            increment = self._tree(low, high) * sign / (high - low) ** 0.5
        return increment.to(self._like)
