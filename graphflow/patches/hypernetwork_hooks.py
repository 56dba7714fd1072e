"""Hypernetworks applied while a U-Net samples: forward pre-hooks on the attention's key and value projections.

For every attention layer whose `to_k`/`to_v` reads a width the hypernetwork has networks for (the text width
in cross-attention, the block width in self-attention), the input x becomes x + strength * net(x) before the
projection, as ComfyUI's attn1/attn2 patches and A1111 do. The hooks exist only inside `hooked(...)`; the cached
U-Net is left with none.

A `HypernetworkPatch` is a module hook a MODEL carries (`DiffusionModel.with_hooks`), installed by
`active_unet()` while the model samples.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from diffusers.models.attention_processor import Attention
from torch import Tensor

from graphflow.patches.hypernetwork import Hypernetwork


@dataclass(frozen=True, eq=False)
class HypernetworkPatch:
    """One hypernetwork at a strength (0 changes nothing, 1 as trained)."""

    hypernetwork: Hypernetwork
    strength: float

    def installed(self, module: torch.nn.Module) -> AbstractContextManager[torch.nn.Module]:
        """`module` with this hypernetwork hooked onto its attention key/value projections."""
        return hooked(module, [self])


def _pre_hook(nets: Sequence[tuple[torch.nn.Module, float]]) -> Any:
    def hook(module: torch.nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        x: Tensor = args[0]
        out = x.float()
        for net, strength in nets:
            out = out + net(out) * strength
        return (out.to(x.dtype), *args[1:])

    return hook


@contextmanager
def hooked(unet: torch.nn.Module, patches: Sequence[HypernetworkPatch]) -> Iterator[torch.nn.Module]:
    """`unet` with the hypernetworks hooked onto its attention key/value projections for the block."""
    handles = []
    try:
        for module in unet.modules():
            if not isinstance(module, Attention):
                continue
            for projection, index in ((module.to_k, 0), (module.to_v, 1)):
                nets = [
                    (patch.hypernetwork.layers[projection.in_features][index], patch.strength)
                    for patch in patches
                    if projection.in_features in patch.hypernetwork.layers
                ]
                if nets:
                    handles.append(projection.register_forward_pre_hook(_pre_hook(nets)))
        yield unet
    finally:
        for handle in handles:
            handle.remove()


def count_hooked(unet: torch.nn.Module, hypernetwork: Hypernetwork) -> int:
    """How many key/value projections of `unet` a hypernetwork has a network for (0: it does not fit)."""
    return sum(
        1
        for module in unet.modules()
        if isinstance(module, Attention)
        for projection in (module.to_k, module.to_v)
        if projection.in_features in hypernetwork.layers
    )
