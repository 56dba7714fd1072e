"""Where and in which precision each part of a checkpoint lives, and in which it computes.

`auto` follows ComfyUI's defaults, with one measured exception: on the CPU the U-Net in fp32 (its errors
would add up over the steps), the VAE in fp32 or, where the CPU has bf16 matrix units (AMX), in bf16 (its
decode then runs ~5x faster and differs from fp32's by under 1/255 on average; see docs/benchmarks.md), and
the text encoders stored in fp16 but computed in fp32 (ComfyUI's `text_encoder_dtype` is fp16 on the CPU and
its CLIP runs in fp32 with weights cast as used); on a GPU everything in fp16, with the VAE in fp32 where its
config says fp16 overflows (the SDXL VAE).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from graphflow.models.device import cpu_computes_bf16_fast
from graphflow.settings import PRECISIONS

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class PartPrecision:
    """The storage dtype of each part, and the dtype the text encoders compute in."""

    unet: torch.dtype
    vae: torch.dtype
    text: torch.dtype
    text_compute: torch.dtype

    @property
    def text_cast_on_use(self) -> bool:
        """Whether the text encoders' weights are converted as each layer runs (stored smaller than computed)."""
        return self.text != self.text_compute


def check_precision(precision: str) -> str:
    """`precision` if it is one of PRECISIONS, else a clear error."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of: {', '.join(PRECISIONS)}")
    return precision


def part_precision(
    device: torch.device, precision: str = "auto", dtype: torch.dtype | None = None, vae_needs_fp32: bool = False
) -> PartPrecision:
    """The precisions of a checkpoint's parts on `device`; an explicit `dtype` sets every part (as before)."""
    check_precision(precision)
    if dtype is not None:
        model = dtype
    elif precision != "auto":
        model = _DTYPES[precision]
    else:
        model = torch.float32 if device.type == "cpu" else torch.float16
    vae = torch.float32 if vae_needs_fp32 and model == torch.float16 else model
    if dtype is None and precision == "auto" and device.type == "cpu" and cpu_computes_bf16_fast():
        vae = torch.bfloat16
    if dtype is not None or precision == "fp32":
        return PartPrecision(unet=model, vae=vae, text=model, text_compute=model)
    on_cpu = device.type == "cpu"
    return PartPrecision(
        unet=model, vae=vae, text=torch.float16, text_compute=torch.float32 if on_cpu else torch.float16
    )
