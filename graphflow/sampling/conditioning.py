"""The CONDITIONING value (a tuple of CondEntry) and the ways of mixing two of them."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

if TYPE_CHECKING:
    from graphflow.control.control import Control

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class CondEntry:
    """One conditioning: cross-attention context [N, T, D], optional pooled [N, P], strength, labels, extras.

    N is 1 (one prompt for the whole latent batch) or the latent batch size (one prompt per latent).

    `extras` carries model-specific hints, e.g. SDXL's `width`, `height`, `crop_w`, `crop_h`,
    `target_width`, `target_height` (pixels, ComfyUI names). `control` is the chain of ControlNets /
    T2I-Adapters applied to this entry (graphflow.control), if any.
    """

    context: Tensor
    pooled: Tensor | None = None
    strength: float = 1.0
    class_labels: Tensor | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)
    control: Control | None = None

    def __post_init__(self) -> None:
        if self.context.ndim != 3 or self.context.shape[0] < 1:
            raise ValueError(
                f"conditioning context must have shape [prompts, tokens, width], got {tuple(self.context.shape)}"
            )
        if self.pooled is not None and (
            self.pooled.ndim != 2 or self.pooled.shape[0] not in (1, self.context.shape[0])
        ):
            raise ValueError(
                f"pooled conditioning must have shape [1 or {self.context.shape[0]}, width], "
                f"got {tuple(self.pooled.shape)}"
            )
        object.__setattr__(self, "extras", MappingProxyType(dict(self.extras)))

    @property
    def width(self) -> int:
        """Width D of the context vectors (the text encoder's hidden size)."""
        return int(self.context.shape[2])

    def replace(self, **changes: Any) -> CondEntry:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


Conditioning = tuple[CondEntry, ...]

CONTEXT_TOKENS = 77


def class_conditioning(model: Any, index: int) -> Conditioning:
    """One entry carrying class label `index`, with an all-zero (unconditional) cross-attention context."""
    width: Any = getattr(model.unet.config, "cross_attention_dim", None)
    if isinstance(width, (list, tuple)):
        width = width[0]
    context = torch.zeros(1, CONTEXT_TOKENS, int(width or 1))
    return (CondEntry(context=context, class_labels=torch.tensor([index], dtype=torch.long)),)


def combine(a: Conditioning, b: Conditioning) -> Conditioning:
    """Union of two conditionings: the sampler averages all their entries (ConditioningCombine)."""
    return tuple(a) + tuple(b)


def _first_source(from_: Conditioning, operation: str) -> CondEntry:
    if not from_:
        raise ValueError(f"{operation}: conditioning_from is empty, connect a conditioning with at least one entry")
    if len(from_) > 1:
        logger.warning("%s: conditioning_from has %d entries, only the first is used", operation, len(from_))
    return from_[0]


def _check_widths(to_entry: CondEntry, source: CondEntry, operation: str) -> None:
    if to_entry.width != source.width:
        raise ValueError(
            f"{operation}: conditioning_to has width {to_entry.width} but conditioning_from has width "
            f"{source.width}; both must come from the same kind of text encoder"
        )


def average(to: Conditioning, from_: Conditioning, weight: float) -> Conditioning:
    """Blend each entry of `to` with the first entry of `from_`: weight * to + (1 - weight) * from.

    The source context is cut or zero-padded to the target's token count; pooled vectors are
    blended when both exist, else the source's pooled vector is used (ConditioningAverage).
    """
    source = _first_source(from_, "average")
    result = []
    for entry in to:
        _check_widths(entry, source, "average")
        tokens = entry.context.shape[1]
        src = source.context[:, :tokens].to(entry.context)
        if src.shape[1] < tokens:
            pad = src.new_zeros(src.shape[0], tokens - src.shape[1], src.shape[2])
            src = torch.cat([src, pad], dim=1)
        pooled = entry.pooled
        if source.pooled is not None:
            pooled = source.pooled if pooled is None else pooled * weight + source.pooled.to(pooled) * (1.0 - weight)
        result.append(entry.replace(context=entry.context * weight + src * (1.0 - weight), pooled=pooled))
    return tuple(result)


def concat(to: Conditioning, from_: Conditioning) -> Conditioning:
    """Append the first entry of `from_`'s tokens to each entry of `to` (ConditioningConcat)."""
    source = _first_source(from_, "concat")
    result = []
    for entry in to:
        _check_widths(entry, source, "concat")
        prompts = max(entry.context.shape[0], source.context.shape[0])
        parts = [c.to(entry.context).expand(prompts, -1, -1) for c in (entry.context, source.context)]
        context = torch.cat(parts, dim=1)
        result.append(entry.replace(context=context))
    return tuple(result)
