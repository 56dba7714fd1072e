"""The UPSCALE_MODEL value: a super-resolution network run over an IMAGE in blended tiles."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphflow.imaging.tiling import blend_tiles, tile_starts
from graphflow.models.device import place

from .spec import UpscaleSpec

Progress = Callable[[int, int], None]


class UpscaleModel:
    """IMAGE [B, H, W, 3] -> IMAGE [B, H * scale, W * scale, 3], tile by tile so memory stays flat."""

    def __init__(
        self,
        network: nn.Module,
        spec: UpscaleSpec,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.network = place(network, device, dtype).eval()
        self.spec = spec
        self.device = torch.device(device)
        self.dtype = dtype

    @property
    def scale(self) -> int:
        """How many times larger each side of the output is."""
        return self.spec.scale

    def __repr__(self) -> str:
        spec = self.spec
        return (
            f"UpscaleModel({spec.title}, {spec.features} features, {spec.blocks} blocks, "
            f"device={self.device}, dtype={self.dtype})"
        )

    def upscale(
        self, image: Tensor, tile_size: int = 512, overlap: int = 32, progress: Progress | None = None
    ) -> Tensor:
        """The upscaled IMAGE (CPU float32, 0..1), run in `tile_size` input-pixel tiles overlapping by
        `overlap` and blended with linear ramps; `progress(done, total)` is called after each tile."""
        if image.ndim != 4 or image.shape[-1] != self.spec.in_channels:
            raise ValueError(
                f"the upscale model takes an IMAGE [B, H, W, {self.spec.in_channels}], got shape {tuple(image.shape)}"
            )
        if tile_size <= 0 or not 0 <= overlap < tile_size:
            raise ValueError(f"tile_size {tile_size} and overlap {overlap} need 0 <= overlap < tile_size")
        # an unshuffling network sees different pixel groups unless every tile starts on its grid
        align = self.spec.unshuffle
        tile_size = max(align, tile_size // align * align)
        overlap = min(overlap // align * align, tile_size - align)
        batch, height, width, _ = image.shape
        pixels = F.pad(image.permute(0, 3, 1, 2), (0, -width % align, 0, -height % align), mode="replicate")
        padded_h, padded_w = pixels.shape[-2:]
        total = batch * len(tile_starts(padded_h, tile_size, overlap)) * len(tile_starts(padded_w, tile_size, overlap))
        done = 0

        def tile_done() -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(done, total)

        def run_tile(item: int, y: int, x: int, h: int, w: int) -> Tensor:
            upscaled = self._run(pixels[item : item + 1, :, y : y + h, x : x + w])
            tile_done()
            return upscaled

        out = torch.cat(
            [
                blend_tiles(
                    torch.zeros(1, self.spec.out_channels, padded_h * self.scale, padded_w * self.scale),
                    tile_size,
                    overlap,
                    lambda y, x, h, w, item=item: run_tile(item, y, x, h, w),
                    self.scale,
                )
                for item in range(batch)
            ]
        )
        out = out[..., : height * self.scale, : width * self.scale]
        return out.clamp_(0.0, 1.0).permute(0, 2, 3, 1).contiguous()

    def _run(self, pixels: Tensor) -> Tensor:
        with torch.inference_mode():
            return self.network(pixels.to(self.device, self.dtype)).float().cpu()
