"""The LATENT value: scaled latent samples plus an optional inpainting mask and batch indices."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True, eq=False)
class Latent:
    """Latent samples [B, C, h, w] (already VAE-scaled), an optional noise mask and batch indices.

    `noise_mask` ([B or 1, 1, h, w] or [B, H, W], 1 = re-generate) limits sampling to a region;
    `batch_index` gives each item's position in a larger batch so its noise matches (ComfyUI).
    """

    samples: Tensor
    noise_mask: Tensor | None = None
    batch_index: list[int] | None = None

    def __post_init__(self) -> None:
        if self.samples.ndim != 4:
            raise ValueError(
                f"latent samples must be a 4-D tensor [batch, channels, height, width], "
                f"got shape {tuple(self.samples.shape)}"
            )
        if self.batch_index is not None and len(self.batch_index) != self.batch_size:
            raise ValueError(
                f"latent batch_index has {len(self.batch_index)} entries but the batch holds "
                f"{self.batch_size} samples: give one index per sample"
            )

    @property
    def batch_size(self) -> int:
        """Number of latents in the batch."""
        return int(self.samples.shape[0])

    def with_samples(self, samples: Tensor) -> Latent:
        """A copy holding new samples, keeping the noise mask and batch indices."""
        return dataclasses.replace(self, samples=samples)


def resize_noise_mask(mask: Tensor, shape: torch.Size | tuple[int, ...]) -> Tensor:
    """Bring a noise mask ([h, w], [B, h, w] or [B, 1, h, w], any size) to `shape` [B, C, h, w].

    Resized bilinearly to the latent grid and repeated over channels and batch, as ComfyUI does.
    """
    batch, channels, height, width = shape
    mask = mask.float().reshape(-1, 1, mask.shape[-2], mask.shape[-1])
    if mask.shape[-2:] != (height, width):
        mask = torch.nn.functional.interpolate(mask, size=(height, width), mode="bilinear")
    if batch % mask.shape[0] != 0 and mask.shape[0] < batch:
        raise ValueError(
            f"noise mask has {mask.shape[0]} items but the latent batch has {batch}: give one mask, or one per latent"
        )
    repeats = -(-batch // mask.shape[0])
    return mask.repeat(repeats, channels, 1, 1)[:batch]
