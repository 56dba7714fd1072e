"""How the flow-matching families join their text parts into one context and one pooled vector.

- sd3 (SD3/SD3.5 MMDiT): `clip_l`, `clip_g` and `t5xxl`, any of them missing (as ComfyUI allows).
  CLIP-L and CLIP-G penultimate hidden states without the final norm, joined along features (L first),
  zero-padded to T5's width; T5's last hidden state appended along tokens. Pooled = CLIP-L and CLIP-G
  projected pooled outputs joined. A missing CLIP part is zeros of its width in both; a missing T5 adds
  no tokens (ComfyUI; diffusers appends 256 zero tokens instead).
- flux: `clip_l` and `t5xxl`, both needed. Context = T5's last hidden state; pooled = CLIP-L's pooler
  output (not projected); entries carry `extras["guidance"]` (FluxGuidance's value, 3.5 by default).
- flow-demo: the demo CLIP alone. Context = its last hidden state with the final norm; pooled = its
  pooler output.

Token lengths follow diffusers' pipelines, so a prompt of one chunk encodes as their encode_prompt does:
CLIP rows are 77 tokens (padded), T5 rows 256 for SD3 (StableDiffusion3Pipeline's max_sequence_length)
and 512 for Flux (FluxPipeline's; Flux schnell pipelines pass 256: set `t5_length`). Longer prompts are
encoded in chunks of those lengths. ComfyUI differs for T5: it never chunks, and pads a T5 row only up to
a minimum (77 for SD3, 256 for Flux), so its short-prompt T5 sequences are shorter than diffusers'.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from graphflow.text.t5 import T5_PART

FLUX_GUIDANCE = 3.5
"""ComfyUI's default FluxGuidance value, given to Flux conditioning that sets none."""

LAYOUTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "sd3": (
        ("clip_l", "clip_g", T5_PART),
        ("clip_l", "clip_g"),
        ("clip_l", T5_PART),
        ("clip_g", T5_PART),
        ("clip_l",),
        ("clip_g",),
        (T5_PART,),
    ),
    "flux": (("clip_l", T5_PART),),
    "flow-demo": (("clip_l",),),
}
DEFAULT_LAYER = {"sd3": -2, "flux": -1, "flow-demo": -1}
FINAL_NORM = {"sd3": False, "flux": True, "flow-demo": True}
PROJECTED_POOLED = {"sd3": True, "flux": False, "flow-demo": False}
"""Whether a family's pooled vector is CLIP's projected pooled output (else the pooler output itself)."""

T5_LENGTH = {"sd3": 256, "flux": 512}
"""Tokens per T5 row (diffusers' max_sequence_length defaults)."""

REAL_WIDTHS: Mapping[str, int] = {"clip_l": 768, "clip_g": 1280, T5_PART: 4096}
"""The real models' widths, used for the zeros standing in for a missing SD3 part."""

FLOW_FAMILIES = tuple(LAYOUTS)
_CLIPS = ("clip_l", "clip_g")

PartOutput = tuple[torch.Tensor, torch.Tensor | None]
"""One part's encoding: hidden states [1, T, W] and the first chunk's pooled vector [1, P] (or None)."""


def join(
    family: str, outputs: Mapping[str, PartOutput], widths: Mapping[str, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The family's (context, pooled) from its parts' outputs; `widths` size the zeros for missing parts."""
    if family == "sd3":
        return _join_sd3(outputs, widths)
    if family == "flux":
        return outputs[T5_PART][0], _pooled(outputs, "clip_l")
    hidden, _ = outputs["clip_l"]
    return hidden, _pooled(outputs, "clip_l")


def extras(family: str) -> dict[str, float]:
    """The extras a family's conditioning starts with (Flux: the guidance value)."""
    return {"guidance": FLUX_GUIDANCE} if family == "flux" else {}


def _join_sd3(outputs: Mapping[str, PartOutput], widths: Mapping[str, int]) -> tuple[torch.Tensor, torch.Tensor]:
    clips = [name for name in ("clip_l", "clip_g") if name in outputs]
    pooled = torch.cat(
        [_pooled(outputs, name) if name in outputs else torch.zeros(1, widths[name]) for name in ("clip_l", "clip_g")],
        dim=-1,
    )
    t5_width = outputs[T5_PART][0].shape[-1] if T5_PART in outputs else widths[T5_PART]
    pieces: list[torch.Tensor] = []
    if clips:
        tokens = outputs[clips[0]][0].shape[1]
        features = [
            outputs[name][0] if name in outputs else torch.zeros(1, tokens, widths[name])
            for name in ("clip_l", "clip_g")
        ]
        joined = torch.cat(features, dim=-1)
        if joined.shape[-1] > t5_width:
            raise ValueError(
                f"sd3: CLIP-L and CLIP-G together are {joined.shape[-1]} wide, more than T5's {t5_width}; "
                "these text encoders do not belong together"
            )
        pieces.append(torch.nn.functional.pad(joined, (0, t5_width - joined.shape[-1])))
    if T5_PART in outputs:
        pieces.append(outputs[T5_PART][0])
    if not pieces:  # every part left out: ComfyUI's zero context of 77 tokens
        pieces.append(torch.zeros(1, 77, t5_width))
    return torch.cat(pieces, dim=1), pooled


def _pooled(outputs: Mapping[str, PartOutput], name: str) -> torch.Tensor:
    pooled = outputs[name][1]
    if pooled is None:
        raise ValueError(f"{name} gave no pooled output")
    return pooled
