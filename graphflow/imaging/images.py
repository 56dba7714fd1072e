"""Conversions between IMAGE/MASK tensors and PIL images, and PNGs that carry their workflow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, ImageSequence, PngImagePlugin

from graphflow.workflow import PNG_KEY

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"})


def pil_to_image_and_mask(picture: Image.Image) -> tuple[torch.Tensor, torch.Tensor]:
    """IMAGE [F, H, W, 3] and MASK [F, H, W] (1 where transparent) from every same-sized frame."""
    frames, masks = [], []
    for frame in ImageSequence.Iterator(picture):
        frame = ImageOps.exif_transpose(frame)
        if frames and frame.size != (frames[0].shape[1], frames[0].shape[0]):
            break
        rgba = np.asarray(frame.convert("RGBA"), dtype=np.float32) / 255.0
        frames.append(torch.from_numpy(rgba[..., :3].copy()))
        masks.append(1.0 - torch.from_numpy(rgba[..., 3].copy()))
    return torch.stack(frames), torch.stack(masks)


def image_to_pils(images: torch.Tensor) -> list[Image.Image]:
    """One 8-bit RGB PIL image per item of an IMAGE batch [B, H, W, 3]."""
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected an IMAGE batch [B, H, W, 3], got shape {tuple(images.shape)}")
    pixels = images.detach().float().cpu().clamp(0, 1).mul(255).round().to(torch.uint8).numpy()
    return [Image.fromarray(p, mode="RGB") for p in pixels]


def save_png(
    picture: Image.Image, path: Path, workflow: dict[str, Any] | None, parameters: str | None, compress_level: int = 4
) -> None:
    """Write a PNG whose text chunks carry the workflow (graphflow.workflow) and A1111-style parameters."""
    info = PngImagePlugin.PngInfo()
    if workflow:
        info.add_text(PNG_KEY, json.dumps(workflow, separators=(",", ":")), zip=True)
    if parameters:
        info.add_text("parameters", parameters)
    picture.save(path, pnginfo=info, compress_level=compress_level)
