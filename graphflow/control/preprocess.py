"""Hint pictures from images with plain image maths (no downloaded model): edges, lineart, scribbles.

Every function takes and gives an IMAGE [B, H, W, 3] in 0..1. Hints are white lines on black, as the
published canny, lineart and scribble ControlNets were trained on.
"""

from __future__ import annotations

import math

import kornia
import torch
import torch.nn.functional as F
from torch import Tensor

# ITU-R BT.601 luma weights
_LUMA = (0.299, 0.587, 0.114)
# scribble: the fine and the wide blur of the difference of Gaussians, in pixels
_FINE_SIGMA, _WIDE_SIGMA = 0.5, 5.0


def _grey(image: Tensor) -> Tensor:
    """Luminance [B, 1, H, W] of an IMAGE."""
    weights = torch.tensor(_LUMA, dtype=image.dtype, device=image.device)
    return (image[..., :3] * weights).sum(dim=-1)[:, None]


def _as_image(lines: Tensor) -> Tensor:
    """A [B, 1, H, W] map in 0..1 as a three-channel IMAGE."""
    return lines.clamp(0, 1).expand(-1, 3, -1, -1).movedim(1, -1).contiguous()


def canny(image: Tensor, low_threshold: float, high_threshold: float) -> Tensor:
    """Canny edges (kornia, 5x5 Gaussian, hysteresis) as white lines on black, as ComfyUI's Canny node gives them."""
    if not 0 < low_threshold <= high_threshold < 1:
        raise ValueError(
            f"Canny needs 0 < low_threshold <= high_threshold < 1, got low {low_threshold} and high {high_threshold}"
        )
    _, edges = kornia.filters.canny(image.movedim(-1, 1).float(), low_threshold, high_threshold)
    return _as_image(edges)


def lineart(image: Tensor, threshold: float, dark_lines: bool = True) -> Tensor:
    """A drawing's lines as a lineart hint: pixels darker than `threshold` (lighter, with dark_lines False) become
    white on black. Thresholding the luminance keeps the strokes as drawn and drops paper grain and shading."""
    grey = _grey(image.float())
    lines = grey < threshold if dark_lines else grey > threshold
    return _as_image(lines.float())


def scribble(image: Tensor, threshold: float, thickness: int) -> Tensor:
    """Scribble-like strokes from any picture: where it is darker than its surroundings by more than `threshold`.

    The surroundings are a wide Gaussian blur and the picture a slightly blurred copy (a difference of
    Gaussians, XDoG-style), so outlines and dark strokes survive while flat areas drop out; the strokes
    are then thickened to `thickness` pixels, as hand-drawn scribbles are.
    """
    if thickness < 1:
        raise ValueError(f"scribble thickness must be at least 1 pixel, got {thickness}")
    grey = _grey(image.float())
    fine = kornia.filters.gaussian_blur2d(grey, _kernel(_FINE_SIGMA), (_FINE_SIGMA, _FINE_SIGMA))
    wide = kornia.filters.gaussian_blur2d(grey, _kernel(_WIDE_SIGMA), (_WIDE_SIGMA, _WIDE_SIGMA))
    strokes = (wide - fine > threshold).float()
    if thickness > 1:
        strokes = F.max_pool2d(strokes, kernel_size=thickness, stride=1, padding=thickness // 2)
        strokes = strokes[..., : grey.shape[-2], : grey.shape[-1]]  # an even kernel pads one pixel too many
    return _as_image(strokes)


def _kernel(sigma: float) -> tuple[int, int]:
    """An odd Gaussian kernel side covering three sigmas each way."""
    side = 2 * math.ceil(3 * sigma) + 1
    return side, side
