"""Model merging as weight patches: each weight becomes `keep * own + take * other`, applied only while used.

ComfyUI's merge nodes in one rule: ModelMergeSimple is (ratio, 1 - ratio), ModelMergeAdd (1, 1),
ModelMergeSubtract (m, -m). Only weights both modules have with the same shape are merged; the rest of the
first module stays as it is. The other module's own patches (e.g. a LoRA) count as part of its weights.
The cached modules are never changed: the patches read the other module's weights when they are applied.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from graphflow.patches import WeightPatch

Coefficients = Callable[[str], tuple[float, float]]
"""(keep, take) for a weight name: the merged weight is keep * own + take * other."""

# never merged: bookkeeping tensors rather than weights (ComfyUI skips them for CLIP)
_SKIPPED_SUFFIXES = (".position_ids", ".logit_scale")


class MergeError(ValueError):
    """Two models that cannot be merged (nothing in common)."""


@dataclass(frozen=True)
class MergePlan:
    """The patches a merge gives the first module, and what it left out (by weight name)."""

    patches: tuple[WeightPatch, ...]
    merged: int
    only_in_other: tuple[str, ...] = ()
    mismatched: tuple[str, ...] = ()

    def describe(self, what: str) -> str:
        """One line for the log: how many weights were merged and which were left out."""
        parts = [f"merged {self.merged} weights of {what}"]
        if self.only_in_other:
            parts.append(f"{len(self.only_in_other)} only in the second (e.g. {self.only_in_other[0]}) left out")
        if self.mismatched:
            parts.append(f"{len(self.mismatched)} of other shapes (e.g. {self.mismatched[0]}) left out")
        return "; ".join(parts)


def effective_weight(module: torch.nn.Module, patches: Sequence[WeightPatch], key: str) -> Tensor:
    """A module's weight in float32 with its own patches for that weight added, as `applied` would."""
    weight = module.get_parameter(key).detach().float()
    for patch in patches:
        if patch.key == key:
            weight = weight + patch.delta(weight).reshape(weight.shape) * patch.strength
    return weight


def _merge_delta(keep: float, take: float, other: Callable[[], Tensor]) -> Callable[[Tensor], Tensor]:
    def delta(weight: Tensor) -> Tensor:
        return weight * (keep - 1.0) + other().to(weight.device, torch.float32) * take

    return delta


def _weights(module: torch.nn.Module) -> dict[str, Tensor]:
    return {k: v for k, v in module.named_parameters() if not k.endswith(_SKIPPED_SUFFIXES)}


def merge_patches(
    base: torch.nn.Module,
    other: torch.nn.Module,
    coefficients: Coefficients,
    *,
    other_patches: Sequence[WeightPatch] = (),
    source: str = "the second model",
) -> MergePlan:
    """Patches that turn `base`'s weights into keep * own + take * other's (with `other_patches` added).

    When both are one module (a model merged with a patched copy of itself), the other weights are
    copied now, since `base`'s own patches change them in place while applied.
    """
    own, theirs = _weights(base), _weights(other)
    same_module = base is other
    patches: list[WeightPatch] = []
    mismatched: list[str] = []
    for key, weight in theirs.items():
        if key not in own:
            continue
        if own[key].shape != weight.shape:
            mismatched.append(key)
            continue
        keep, take = coefficients(key)
        if keep == 1.0 and take == 0.0:
            continue
        patches.append(
            WeightPatch(key, _merge_delta(keep, take, _reader(other, other_patches, key, same_module)), 1.0, source)
        )
    only_in_other = tuple(k for k in theirs if k not in own)
    common = len(theirs) - len(only_in_other) - len(mismatched)
    if common == 0:
        raise MergeError(f"{source} shares no weight of the same name and shape with the first model")
    return MergePlan(tuple(patches), common, only_in_other, tuple(mismatched))


def _reader(other: torch.nn.Module, patches: Sequence[WeightPatch], key: str, copy_now: bool) -> Callable[[], Tensor]:
    if copy_now:
        frozen = effective_weight(other, patches, key).clone()
        return lambda: frozen
    own = tuple(p for p in patches if p.key == key)
    return lambda: effective_weight(other, own, key)


def unet_block(key: str) -> str:
    """Which part of a diffusers UNet a weight belongs to, in ModelMergeBlocks' terms: input, middle or out
    (the time, class and size embeddings belong to none)."""
    if key.startswith(("down_blocks.", "conv_in.")):
        return "input"
    if key.startswith("mid_block."):
        return "middle"
    if key.startswith(("up_blocks.", "conv_norm_out.", "conv_out.")):
        return "out"
    return ""


def blocks_coefficients(input_ratio: float, middle_ratio: float, out_ratio: float) -> Coefficients:
    """ModelMergeBlocks: each block's ratio of the first model; weights in no block take the input ratio."""
    ratios = {"input": input_ratio, "middle": middle_ratio, "out": out_ratio, "": input_ratio}
    return lambda key: (ratios[unet_block(key)], 1.0 - ratios[unet_block(key)])
