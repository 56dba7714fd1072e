"""Latent-space editing maths: noise masks on the latent grid, resizing, cropping, pasting, batches."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import Tensor

from graphflow.sampling.latent import Latent, resize_noise_mask
from graphflow.sampling.slerp import bislerp

RESIZE_METHODS: tuple[str, ...] = ("nearest", "bilinear", "bislerp")


def check_mask_covers(mask: Tensor, height: int, width: int, what: str = "latent") -> None:
    """Raise a clear error when a mask's aspect ratio differs from a grid's by more than one grid cell."""
    mask_height, mask_width = mask.shape[-2:]
    cell = mask_width / width  # mask pixels per grid cell, measured along the width
    if abs(mask_height - height * cell) > max(cell, 1.0):
        size = f"{width}x{height}" + (f" ({width * 8}x{height * 8} pixels)" if what == "latent" else "")
        raise ValueError(
            f"the mask is {mask_width}x{mask_height} but the {what} is {size}: their shapes differ; "
            "resize or crop the mask to the image first"
        )


def mask_to_grid(mask: Tensor, height: int, width: int) -> Tensor:
    """A mask ([H, W], [B, H, W] or [B, 1, H, W], any size) as [B, 1, height, width] in 0..1.

    Shrinking by a whole factor averages each block (a latent pixel half covered gets 0.5);
    any other size change is bilinear.
    """
    mask = mask.float().reshape(-1, 1, *mask.shape[-2:])
    mask_height, mask_width = mask.shape[-2:]
    if (mask_height, mask_width) == (height, width):
        return mask.clamp(0, 1)
    if mask_height % height == 0 and mask_width % width == 0:
        return F.avg_pool2d(mask, (mask_height // height, mask_width // width)).clamp(0, 1)
    return F.interpolate(mask, size=(height, width), mode="bilinear", align_corners=False).clamp(0, 1)


def batch_mask(latent: Latent) -> Tensor | None:
    """The latent's noise mask on its grid, one per batch item [B, 1, h, w] (None without a mask)."""
    if latent.noise_mask is None:
        return None
    _, _, height, width = latent.samples.shape
    grid = mask_to_grid(latent.noise_mask, height, width)
    return resize_noise_mask(grid, (latent.batch_size, 1, height, width))


def resize(samples: Tensor, height: int, width: int, method: str) -> Tensor:
    """Resize [B, C, h, w] to [B, C, height, width] with nearest, bilinear or bislerp."""
    if method == "nearest":
        return F.interpolate(samples, size=(height, width), mode="nearest-exact")
    if method == "bilinear":
        return F.interpolate(samples, size=(height, width), mode="bilinear", align_corners=False)
    if method == "bislerp":
        return bislerp(samples, height, width)
    raise ValueError(f"unknown resize method {method!r}: choose one of {', '.join(RESIZE_METHODS)}")


def center_crop_to_aspect(samples: Tensor, height: int, width: int) -> Tensor:
    """The centred largest crop of [..., h, w] with the aspect ratio width:height."""
    old_height, old_width = samples.shape[-2:]
    if old_width * height > width * old_height:  # too wide: trim columns
        keep = max(1, round(old_height * width / height))
        left = (old_width - keep) // 2
        return samples[..., :, left : left + keep]
    keep = max(1, round(old_width * height / width))
    top = (old_height - keep) // 2
    return samples[..., top : top + keep, :]


def upscale(latent: Latent, height: int, width: int, method: str, crop: bool = False) -> Latent:
    """Resize a latent to height x width latent pixels; the noise mask follows (bilinear unless nearest)."""
    if height < 1 or width < 1:
        raise ValueError(f"target latent size {width}x{height} must be at least 1x1")
    mask = batch_mask(latent)
    samples = latent.samples
    if crop:
        samples = center_crop_to_aspect(samples, height, width)
        mask = None if mask is None else center_crop_to_aspect(mask, height, width)
    samples = resize(samples, height, width, method)
    if mask is not None:
        mask = resize(mask, height, width, "nearest" if method == "nearest" else "bilinear")
    return dataclasses.replace(latent, samples=samples, noise_mask=mask)


def feather_weights(height: int, width: int, feather: int, sides: tuple[bool, bool, bool, bool]) -> Tensor:
    """[height, width] weights, 1 inside and ramping down over `feather` cells on the flagged sides.

    `sides` = (top, bottom, left, right); the ramp values are k / (feather + 1), k = 1..feather.
    """
    top, bottom, left, right = sides
    rows, cols = torch.ones(height), torch.ones(width)
    ramp = torch.arange(1, feather + 1, dtype=torch.float32) / (feather + 1)
    for line, start, end in ((rows, top, bottom), (cols, left, right)):
        count = min(feather, len(line))
        if start:
            line[:count] = torch.minimum(line[:count], ramp[:count])
        if end:
            line[len(line) - count :] = torch.minimum(line[len(line) - count :], ramp[:count].flip(0))
    return rows[:, None] * cols[None, :]


def _per_item(tensor: Tensor, batch: int, what: str) -> Tensor:
    if tensor.shape[0] == batch:
        return tensor
    if tensor.shape[0] == 1:
        return tensor.expand(batch, *tensor.shape[1:])
    raise ValueError(f"{what} has {tensor.shape[0]} items where {batch} are needed: give 1 or {batch}")


def composite(destination: Latent, source: Latent, x: int, y: int, feather: int = 0) -> Latent:
    """Paste `source` into `destination` with its top-left corner at (x, y) latent pixels.

    The part falling outside is cut off; `feather` cells along each edge that lies inside the
    destination blend linearly into it. The destination's noise mask and batch indices are kept.
    """
    target = destination.samples
    _, channels, height, width = target.shape
    if source.samples.shape[1] != channels:
        raise ValueError(f"the source latent has {source.samples.shape[1]} channels, the destination {channels}")
    if not (0 <= x < width and 0 <= y < height):
        raise ValueError(
            f"paste position ({x * 8}, {y * 8}) pixels lies outside the destination ({width * 8}x{height * 8})"
        )
    piece = _per_item(source.samples, target.shape[0], "the source latent")
    piece = piece[:, :, : height - y, : width - x]
    rows, cols = piece.shape[-2:]
    sides = (y > 0, y + rows < height, x > 0, x + cols < width)
    weight = feather_weights(rows, cols, feather, sides).to(target)
    out = target.clone()
    region = out[:, :, y : y + rows, x : x + cols]
    out[:, :, y : y + rows, x : x + cols] = piece.to(target) * weight + region * (1 - weight)
    return destination.with_samples(out)


def blend(a: Latent, b: Latent, factor: float) -> Latent:
    """factor * a + (1 - factor) * b; a's noise mask and batch indices are kept."""
    if a.samples.shape[1:] != b.samples.shape[1:]:
        raise ValueError(
            f"cannot blend latents of shapes {tuple(a.samples.shape[1:])} and {tuple(b.samples.shape[1:])}: "
            "upscale one to the other's size first"
        )
    other = _per_item(b.samples, a.batch_size, "the second latent")
    return a.with_samples(a.samples * factor + other.to(a.samples) * (1 - factor))


def _indices(latent: Latent) -> list[int]:
    return list(latent.batch_index) if latent.batch_index is not None else list(range(latent.batch_size))


def concat_batches(latents: list[Latent], names: list[str]) -> Latent:
    """One batch from several; each item keeps the noise it would get on its own (ComfyUI's LatentBatch).

    Shapes must match; when any input has a noise mask, those without get an all-ones mask
    (regenerate everything, the same as no mask).
    """
    first = latents[0]
    for latent, name in zip(latents[1:], names[1:], strict=True):
        if latent.samples.shape[1:] != first.samples.shape[1:]:
            raise ValueError(
                f"latent {name!r} has shape {tuple(latent.samples.shape[1:])} but {names[0]!r} has "
                f"{tuple(first.samples.shape[1:])}: upscale it to the same size first"
            )
    samples = torch.cat([latent.samples for latent in latents])
    mask = None
    if any(latent.noise_mask is not None for latent in latents):
        masks = [batch_mask(latent) for latent in latents]
        shape = (1, 1, *first.samples.shape[2:])
        mask = torch.cat(
            [
                m if m is not None else torch.ones(shape).expand(latent.batch_size, *shape[1:])
                for m, latent in zip(masks, latents, strict=True)
            ]
        )
    indices = [index for latent in latents for index in _indices(latent)]
    return Latent(samples, noise_mask=mask, batch_index=indices)


def take_from_batch(latent: Latent, index: int, length: int = 1) -> Latent:
    """Items [index, index + length) of a batch, keeping their batch indices so their noise matches."""
    size = latent.batch_size
    if not 0 <= index < size:
        raise ValueError(f"batch_index {index} is out of range: the batch holds {size} latents (0 to {size - 1})")
    if length < 1 or index + length > size:
        raise ValueError(
            f"length {length} from batch_index {index} goes past the end: the batch holds {size} latents, "
            f"so at most {size - index} can be taken from there"
        )
    mask = batch_mask(latent)
    part = slice(index, index + length)
    return Latent(
        latent.samples[part].clone(),
        noise_mask=None if mask is None else mask[part],
        batch_index=_indices(latent)[part],
    )


def repeat_batch(latent: Latent, amount: int) -> Latent:
    """The batch repeated `amount` times; repeats get new batch indices, so different noise (ComfyUI)."""
    if amount < 1:
        raise ValueError(f"amount must be at least 1, got {amount}")
    mask = batch_mask(latent)
    indices = None
    if latent.batch_index is not None:
        offset = max(latent.batch_index) - min(latent.batch_index) + 1
        indices = [i + k * offset for k in range(amount) for i in latent.batch_index]
    repeated_mask = None if mask is None else mask.repeat(amount, 1, 1, 1)
    return Latent(latent.samples.repeat(amount, 1, 1, 1), noise_mask=repeated_mask, batch_index=indices)
