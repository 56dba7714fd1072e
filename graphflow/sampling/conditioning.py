"""The CONDITIONING value (a tuple of CondEntry) and the ways of mixing two of them."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import Tensor

if TYPE_CHECKING:
    from graphflow.control.control import Control

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Area:
    """A rectangle of the latent an entry acts on: size and top-left corner.

    In latent cells (pixels // 8, as ComfyUI's Set Area stores them) or, when `relative`, as fractions of
    the latent's height and width (Set Area with Percentage), resolved against the latent when sampling.
    """

    height: float
    width: float
    y: float = 0.0
    x: float = 0.0
    relative: bool = False

    def __post_init__(self) -> None:
        smallest = min(self.height, self.width)
        if smallest < 0 or (smallest == 0 and not self.relative) or min(self.y, self.x) < 0:
            raise ValueError(f"an area needs a positive size and a non-negative corner, got {self}")

    def cells(self, latent_height: int, latent_width: int) -> tuple[int, int, int, int]:
        """(height, width, y, x) in latent cells for a latent of this size (fractions rounded as ComfyUI does)."""
        if not self.relative:
            return int(self.height), int(self.width), int(self.y), int(self.x)
        return (
            max(1, round(self.height * latent_height)),
            max(1, round(self.width * latent_width)),
            round(self.y * latent_height),
            round(self.x * latent_width),
        )


@dataclass(frozen=True, eq=False)
class UnclipImage:
    """An image embedding given to an unCLIP model (or SDXL's pooled input: "revision"), as unCLIPConditioning adds it.

    `image_embeds` [N, D] are CLIP vision image embeddings; each is noised to `noise_augmentation` (0..1 of the
    augmentation schedule) and weighted by `strength` when sampling.
    """

    image_embeds: Tensor
    strength: float = 1.0
    noise_augmentation: float = 0.0

    def __post_init__(self) -> None:
        if self.image_embeds.ndim != 2:
            raise ValueError(f"image embeddings must have shape [images, width], got {tuple(self.image_embeds.shape)}")
        if not 0.0 <= self.noise_augmentation <= 1.0:
            raise ValueError(f"noise_augmentation must lie in 0..1, got {self.noise_augmentation}")


class Grounding(Protocol):
    """GLIGEN boxes on an entry: the modules to attach to the UNet for one call, and that call's extra arguments."""

    def check(self, unet: Any, name: str) -> None:
        """Raise a clear error (naming the `name` conditioning) if the boxes' GLIGEN model does not fit `unet`."""
        ...

    def unet_patch(self, unet: Any, batch: int, height: int, width: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """(dotted module name -> module to attach, cross_attention_kwargs) for a call on [batch, C, height, width]."""
        ...


@dataclass(frozen=True, eq=False)
class CondEntry:
    """One conditioning: cross-attention context [N, T, D], optional pooled [N, P], strength, labels, extras.

    N is 1 (one prompt for the whole latent batch) or the latent batch size (one prompt per latent).

    `extras` carries model-specific hints, e.g. SDXL's `width`, `height`, `crop_w`, `crop_h`,
    `target_width`, `target_height` (pixels, ComfyUI names). `control` is the chain of ControlNets /
    T2I-Adapters applied to this entry (graphflow.control), if any.

    Where and when the entry acts: `area` (a rectangle; the entry predicts on that crop, its edges feathered
    where they are inside the latent), `mask` [M, H, W] (per-pixel weights, times `mask_strength`; resized to
    the latent; `mask_bounds` narrows the area to the mask's bounding box), and `start_percent`..`end_percent`
    of the sampling (outside it the entry is skipped). `strength` weighs its prediction against the others'.
    `unclip` holds image embeddings for unCLIP models; `gligen` grounding boxes for a GLIGEN model.
    """

    context: Tensor
    pooled: Tensor | None = None
    strength: float = 1.0
    class_labels: Tensor | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)
    control: Control | None = None
    area: Area | None = None
    mask: Tensor | None = None
    mask_strength: float = 1.0
    mask_bounds: bool = False
    start_percent: float = 0.0
    end_percent: float = 1.0
    unclip: tuple[UnclipImage, ...] = ()
    gligen: Grounding | None = None

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
        if self.mask is not None and self.mask.ndim != 3:
            raise ValueError(
                f"a conditioning mask must have shape [masks, height, width], got {tuple(self.mask.shape)}"
            )
        for name in ("start_percent", "end_percent"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in 0..1, got {value}")
        object.__setattr__(self, "extras", MappingProxyType(dict(self.extras)))
        object.__setattr__(self, "unclip", tuple(self.unclip))

    @property
    def width(self) -> int:
        """Width D of the context vectors (the text encoder's hidden size)."""
        return int(self.context.shape[2])

    @property
    def placed(self) -> bool:
        """Whether the entry acts only somewhere or sometime (an area, a mask, a timestep range) or is grounded."""
        timed = self.start_percent > 0.0 or self.end_percent < 1.0
        return self.area is not None or self.mask is not None or timed or self.gligen is not None

    def replace(self, **changes: Any) -> CondEntry:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def with_model_inputs_of(self, other: CondEntry) -> CondEntry:
        """This entry's place, time, strength and add-ons with `other`'s text, pooled, labels, hints and images."""
        return self.replace(
            context=other.context,
            pooled=other.pooled,
            class_labels=other.class_labels,
            extras=other.extras,
            unclip=other.unclip,
        )


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
