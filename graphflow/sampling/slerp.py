"""Spherical (slerp) and linear interpolation of latents and conditionings, and bislerp resizing."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from graphflow.sampling.conditioning import CondEntry, Conditioning

METHODS: tuple[str, ...] = ("slerp", "lerp")

# Below this angle (radians) two vectors count as parallel and slerp falls back to lerp.
_PARALLEL = 1e-4


def lerp(a: Tensor, b: Tensor, t: float | Tensor) -> Tensor:
    """(1 - t) * a + t * b; t = 0 gives a and t = 1 gives b exactly."""
    return a * (1 - t) + b * t


def slerp(a: Tensor, b: Tensor, t: float | Tensor, dims: Sequence[int] = (-1,)) -> Tensor:
    """Spherical interpolation between a and b, each vector spanning `dims` (all others are batch).

    sin((1 - t) theta) / sin(theta) * a + sin(t theta) / sin(theta) * b, theta the angle between
    a and b. Nearly parallel or opposite vectors (and zero vectors) fall back to lerp. t = 0 and
    t = 1 give a and b exactly; `t` may be a tensor broadcasting against the reduced shape.
    """
    if a.shape != b.shape:
        raise ValueError(f"cannot interpolate tensors of shapes {tuple(a.shape)} and {tuple(b.shape)}")
    a64, b64 = a.double(), b.double()
    dims = tuple(dims)
    norm = torch.linalg.vector_norm
    norms = norm(a64, dim=dims, keepdim=True) * norm(b64, dim=dims, keepdim=True)
    cosine = ((a64 * b64).sum(dim=dims, keepdim=True) / norms.clamp_min(1e-300)).clamp(-1, 1)
    theta = cosine.acos()
    t64 = torch.as_tensor(t, dtype=torch.float64, device=a.device)
    sine = theta.sin()
    degenerate = (theta < _PARALLEL) | (theta > math.pi - _PARALLEL) | (norms == 0)
    safe_sine = torch.where(degenerate, torch.ones_like(sine), sine)
    weight_a = torch.where(degenerate, 1 - t64, ((1 - t64) * theta).sin() / safe_sine)
    weight_b = torch.where(degenerate, t64, (t64 * theta).sin() / safe_sine)
    return (a64 * weight_a + b64 * weight_b).to(a.dtype)


def interpolate(a: Tensor, b: Tensor, t: float, method: str, dims: Sequence[int] = (-1,)) -> Tensor:
    """slerp or lerp of a and b at t (see those); `dims` only matters for slerp."""
    if method == "slerp":
        return slerp(a, b, t, dims)
    if method == "lerp":
        return lerp(a, b, t)
    raise ValueError(f"unknown interpolation method {method!r}: choose one of {', '.join(METHODS)}")


def frame_positions(frames: int) -> list[float]:
    """`frames` evenly spaced positions from 0 to 1, both ends included."""
    if frames < 2:
        raise ValueError(f"an interpolation needs at least 2 frames (its two ends), got {frames}")
    return [k / (frames - 1) for k in range(frames)]


def _slerp_keeping_norms(a: Tensor, b: Tensor, t: Tensor, dim: int) -> Tensor:
    """Slerp of the directions of a and b along `dim`, scaled by the lerp of their lengths."""
    norm_a, norm_b = a.norm(dim=dim, keepdim=True), b.norm(dim=dim, keepdim=True)
    direction = slerp(a / norm_a.clamp_min(1e-12), b / norm_b.clamp_min(1e-12), t, (dim,))
    return direction * lerp(norm_a, norm_b, t)


def _resize_axis(samples: Tensor, size: int, axis: int) -> Tensor:
    """Resize one spatial axis by slerping neighbouring channel vectors (half-pixel centres)."""
    length = samples.shape[axis]
    if size == length:
        return samples
    position = ((torch.arange(size, dtype=torch.float64) + 0.5) * length / size - 0.5).clamp(0, length - 1)
    low = position.floor().long()
    high = (low + 1).clamp(max=length - 1)
    shape = [1] * samples.ndim
    shape[axis] = size
    fraction = (position - low).reshape(shape).to(samples.dtype)
    return _slerp_keeping_norms(samples.index_select(axis, low), samples.index_select(axis, high), fraction, 1)


def bislerp(samples: Tensor, height: int, width: int) -> Tensor:
    """Resize latents [B, C, h, w] to [B, C, height, width] like bilinear, but slerping channel vectors.

    Each output pixel's channel vector is slerped between its two horizontal neighbours, then
    between the two resulting vertical ones; the vector length is interpolated linearly. Noise
    keeps its per-pixel magnitude, which bilinear averaging would shrink.
    """
    if samples.ndim != 4:
        raise ValueError(f"bislerp expects latents [B, C, h, w], got shape {tuple(samples.shape)}")
    return _resize_axis(_resize_axis(samples.float(), width, 3), height, 2)


def _tokens_to(context: Tensor, tokens: int) -> Tensor:
    return context.repeat(1, tokens // context.shape[1], 1)


def _interpolate_entry(a: CondEntry, b: CondEntry, t: float, method: str) -> CondEntry:
    if a.width != b.width:
        raise ValueError(
            f"cannot interpolate conditionings of widths {a.width} and {b.width}: "
            "encode both prompts with the same text encoder"
        )
    # Repeating a context to a common token count leaves attention unchanged (as the denoiser does).
    tokens = math.lcm(a.context.shape[1], b.context.shape[1])
    context = interpolate(_tokens_to(a.context, tokens), _tokens_to(b.context, tokens).to(a.context), t, method)
    if (a.pooled is None) != (b.pooled is None):
        raise ValueError("cannot interpolate a conditioning with a pooled embedding and one without (mixed families?)")
    pooled = None if a.pooled is None else interpolate(a.pooled, b.pooled.to(a.pooled), t, method)
    labels = a.class_labels
    if (labels is None) != (b.class_labels is None):
        raise ValueError("cannot interpolate a class conditioning with a text-only one")
    if labels is not None and b.class_labels is not None:
        if labels.is_floating_point() and b.class_labels.shape == labels.shape:
            labels = lerp(labels, b.class_labels.to(labels), t)
        elif not torch.equal(labels, b.class_labels.to(labels.device)):
            raise ValueError("cannot interpolate between two different class indices: classes are discrete")
    strength = a.strength * (1 - t) + b.strength * t
    return a.replace(context=context, pooled=pooled, class_labels=labels, strength=strength)


def interpolate_conditioning(a: Conditioning, b: Conditioning, t: float, method: str = "lerp") -> Conditioning:
    """Entry by entry interpolation of two conditionings (contexts per token vector, pooled, strength).

    Both need the same number of entries; contexts of different token counts are first repeated to
    their least common multiple. Extras (e.g. SDXL size hints) come from `a`.
    """
    if len(a) != len(b):
        raise ValueError(
            f"cannot interpolate conditionings with {len(a)} and {len(b)} entries: give both the same number"
        )
    if not a:
        raise ValueError("cannot interpolate empty conditionings: connect a text encoding")
    return tuple(_interpolate_entry(x, y, t, method) for x, y in zip(a, b, strict=True))
