"""Weight patches and module hooks that travel with MODEL and CLIP values and act only while they are used.

A cached model is never changed for good: `applied(module, patches)` adds each patch's delta to its
weight, backing up only the patched weights, and copies them back when the block ends, so a run
without the patches is bit-identical to one on a fresh server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor


@dataclass(frozen=True, eq=False)
class WeightPatch:
    """A change to one weight of a module: `strength * delta(weight)`, added in the weight's dtype.

    `key` is the parameter's name in the module (e.g. "down_blocks.0.attentions.0.proj_in.weight");
    `delta` computes the change in float32 from the current weight (shape checks live there); `source`
    names where the patch comes from (a LoRA file) for error messages.
    """

    key: str
    delta: Callable[[Tensor], Tensor]
    strength: float
    source: str = ""


class ModuleHook(Protocol):
    """A change to how a module computes (e.g. a hypernetwork's forward hooks), installed only for a block."""

    def installed(self, module: torch.nn.Module) -> AbstractContextManager[Any]:
        """A context in which `module` runs with this hook; leaving it removes every trace."""
        ...


@contextmanager
def applied(module: torch.nn.Module, patches: Sequence[WeightPatch]) -> Iterator[torch.nn.Module]:
    """`module` with `patches` added to its weights for the length of the block, then restored exactly."""
    if not patches:
        yield module
        return
    by_key: dict[str, list[WeightPatch]] = {}
    for patch in patches:
        by_key.setdefault(patch.key, []).append(patch)
    backup: dict[str, Tensor] = {}
    try:
        with torch.no_grad():
            for key, group in by_key.items():
                weight = _parameter(module, group[0])
                backup[key] = weight.detach().clone()
                current = weight.detach().float()  # a weight's patches add up in float32, rounded to its dtype once
                for patch in group:
                    current = current + (patch.delta(current) * patch.strength).reshape(current.shape)
                weight.copy_(current)
        yield module
    finally:
        with torch.no_grad():
            for key, original in backup.items():
                module.get_parameter(key).copy_(original)


def _parameter(module: torch.nn.Module, patch: WeightPatch) -> torch.nn.Parameter:
    try:
        return module.get_parameter(patch.key)
    except AttributeError:
        where = f" from {patch.source}" if patch.source else ""
        raise KeyError(f"the patch{where} targets {patch.key!r}, which this model does not have") from None
