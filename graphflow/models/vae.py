"""The VAE value: images <-> scaled latents through a diffusers AutoencoderKL, whole or in tiles."""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL
from torch import Tensor

from graphflow.imaging.tiling import blend_tiles

from .device import place


def vae_channels_last(device: torch.device | str) -> bool:
    """Whether a VAE on `device` keeps its tensors channels-last (on the CPU, where oneDNN's convolutions run faster
    so: bf16 ones ~3x, fp32 ~1.2x at 512 px)."""
    return torch.device(device).type == "cpu"


class VaeSizeError(ValueError):
    """An image, latent or tile size the VAE cannot work with."""


class Vae:
    """IMAGE [B,H,W,3] in 0..1 <-> latent samples [B,C,H/f,W/f] already multiplied by the scaling factor."""

    def __init__(
        self,
        model: AutoencoderKL,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        scaling_factor: float | None = None,
    ) -> None:
        if dtype == torch.float16 and getattr(model.config, "force_upcast", False):
            dtype = torch.float32  # e.g. the SDXL VAE overflows in fp16
        self.device = torch.device(device)
        self.memory_format = torch.channels_last if vae_channels_last(self.device) else torch.contiguous_format
        self.model = place(model, device, dtype).to(memory_format=self.memory_format).eval()
        self.dtype = dtype
        self.scaling_factor = float(scaling_factor if scaling_factor is not None else model.config.scaling_factor)
        self.shift_factor = float(getattr(model.config, "shift_factor", None) or 0.0)

    @property
    def downscale(self) -> int:
        """Image pixels per latent pixel along each side."""
        return 2 ** (len(self.model.config.block_out_channels) - 1)

    @property
    def latent_channels(self) -> int:
        """Channels of the latent samples."""
        return int(self.model.config.latent_channels)

    def __repr__(self) -> str:
        return (
            f"Vae(downscale={self.downscale}, scaling_factor={self.scaling_factor}, "
            f"device={self.device}, dtype={self.dtype})"
        )

    def encode(self, image: Tensor) -> Tensor:
        """Scaled latent samples (CPU float32) of an IMAGE batch; H and W must be multiples of the downscale."""
        self._check_image(image)
        return self._encode(image.permute(0, 3, 1, 2))

    def decode(self, samples: Tensor) -> Tensor:
        """IMAGE batch (CPU float32, 0..1) of scaled latent samples."""
        self._check_latent(samples)
        return self._to_image(self._decode(samples))

    def encode_tiled(self, image: Tensor, tile_size: int = 512, overlap: int = 64) -> Tensor:
        """`encode` in overlapping tiles of `tile_size` image pixels, blended; memory bounded by the tile."""
        self._check_image(image)
        tile, lap = self._tile_in_latents(tile_size, overlap)
        f = self.downscale
        batch, height, width, _ = image.shape
        out = torch.zeros(batch, self.latent_channels, height // f, width // f)
        pixels = image.permute(0, 3, 1, 2)
        return blend_tiles(
            out, tile, lap, lambda y, x, h, w: self._encode(pixels[:, :, y * f : (y + h) * f, x * f : (x + w) * f]), 1
        )

    def decode_tiled(self, samples: Tensor, tile_size: int = 512, overlap: int = 64) -> Tensor:
        """`decode` in overlapping tiles of `tile_size` image pixels, blended; memory bounded by the tile."""
        self._check_latent(samples)
        tile, lap = self._tile_in_latents(tile_size, overlap)
        f = self.downscale
        batch, _, height, width = samples.shape
        out = torch.zeros(batch, 3, height * f, width * f)
        decoded = blend_tiles(out, tile, lap, lambda y, x, h, w: self._decode(samples[:, :, y : y + h, x : x + w]), f)
        return self._to_image(decoded)

    def _encode(self, pixels: Tensor) -> Tensor:
        with torch.no_grad():
            x = pixels.to(self.device, self.dtype, memory_format=self.memory_format) * 2 - 1
            latent = self.model.encode(x).latent_dist.mode()
        return ((latent.float() - self.shift_factor) * self.scaling_factor).cpu().contiguous()

    def _decode(self, samples: Tensor) -> Tensor:
        with torch.no_grad():
            z = samples.to(self.device, self.dtype) / self.scaling_factor + self.shift_factor
            decoded = self.model.decode(z.contiguous(memory_format=self.memory_format)).sample
            return decoded.float().cpu().contiguous()

    @staticmethod
    def _to_image(decoded: Tensor) -> Tensor:
        return ((decoded + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).contiguous()

    def _check_image(self, image: Tensor) -> None:
        if image.ndim != 4 or image.shape[-1] != 3:
            raise VaeSizeError(f"VAE encode expects an IMAGE [B, H, W, 3], got shape {tuple(image.shape)}")
        height, width = image.shape[1:3]
        f = self.downscale
        if height % f or width % f:
            raise VaeSizeError(
                f"image size {width}x{height} is not a multiple of the VAE's downscale factor {f}; "
                f"crop or resize it to {width // f * f}x{height // f * f} or {-(-width // f) * f}x{-(-height // f) * f}"
            )

    def _check_latent(self, samples: Tensor) -> None:
        if samples.ndim != 4 or samples.shape[1] != self.latent_channels:
            raise VaeSizeError(
                f"VAE decode expects latents [B, {self.latent_channels}, h, w], got shape {tuple(samples.shape)}; "
                "decode with the VAE of the model that made this latent"
            )

    def _tile_in_latents(self, tile_size: int, overlap: int) -> tuple[int, int]:
        f = self.downscale
        if tile_size % f or overlap % f or tile_size <= 0 or not 0 <= overlap < tile_size:
            raise VaeSizeError(
                f"tile_size {tile_size} and overlap {overlap} must be multiples of the VAE's downscale factor {f}, "
                "with 0 <= overlap < tile_size"
            )
        return tile_size // f, overlap // f
