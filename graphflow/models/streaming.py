"""Weights that live in one place and compute in another: moved (and cast) to the compute device layer by
layer as the model runs, keeping at most a byte budget of them there (least recently used leave first).

This is the one mechanism behind two things: a low-VRAM mode (a U-Net kept in CPU memory runs on a small
GPU, as diffusers' sequential offload and ComfyUI's lowvram mode do) and text encoders stored in fp16 on
the CPU but computed in fp32 (budget 0: each layer's weights are cast for its call and dropped after).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch.utils.hooks import RemovableHandle

_ATTRIBUTE = "_graphflow_streamer"


class WeightStreamer:
    """Hooks on every submodule with weights of its own that bring those weights to `device`/`dtype` for
    each call; copies stay resident up to `budget_bytes` (None: no limit, so each moves once)."""

    def __init__(
        self, module: torch.nn.Module, device: torch.device, dtype: torch.dtype, budget_bytes: int | None
    ) -> None:
        self.device = torch.device(device)
        self.dtype = dtype
        self.budget_bytes = budget_bytes
        self.resident: OrderedDict[torch.nn.Module, int] = OrderedDict()  # module -> bytes of its copies
        self._stored: dict[torch.nn.Module, dict[str, torch.nn.Parameter]] = {}
        self._handles: list[RemovableHandle] = []
        for sub in module.modules():
            own = {name: p for name, p in sub.named_parameters(recurse=False) if p is not None}
            if own:
                self._stored[sub] = own
                self._handles.append(sub.register_forward_pre_hook(self._bring, with_kwargs=True))
                self._handles.append(sub.register_forward_hook(self._release))
        for name, buffer in module.named_buffers():
            if buffer.device != self.device:
                _set_buffer(module, name, buffer.to(self.device))
        setattr(module, _ATTRIBUTE, self)

    @property
    def resident_bytes(self) -> int:
        """Bytes of weights now held on the compute side."""
        return sum(self.resident.values())

    def stored(self, module: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
        """The weights of `module` as they are stored (not their compute-side copies)."""
        return self._stored[module]

    def remove(self) -> None:
        """Take the hooks off and put the stored weights back."""
        for handle in self._handles:
            handle.remove()
        for sub in list(self.resident):
            self._evict(sub)

    def _bring(self, sub: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if sub in self.resident:
            self.resident.move_to_end(sub)
        else:
            size = 0
            for name, weight in self._stored[sub].items():
                copy = weight.detach().to(device=self.device, dtype=self.dtype if weight.is_floating_point() else None)
                sub._parameters[name] = copy  # type: ignore[assignment]  # a plain tensor while it runs
                size += copy.numel() * copy.element_size()
            self.resident[sub] = size
        return _to_device(args, self.device), _to_device(kwargs, self.device)

    def _release(self, sub: torch.nn.Module, _args: Any, _output: Any) -> None:
        budget = self.budget_bytes
        if budget is None:
            return
        while self.resident and self.resident_bytes > budget:
            self._evict(next(iter(self.resident)))

    def _evict(self, sub: torch.nn.Module) -> None:
        self.resident.pop(sub, None)
        for name, weight in self._stored[sub].items():
            sub._parameters[name] = weight


def streamer_of(module: torch.nn.Module) -> WeightStreamer | None:
    """The streamer installed on `module`, if any."""
    return getattr(module, _ATTRIBUTE, None)


def stream_weights(
    module: torch.nn.Module, device: torch.device | str, dtype: torch.dtype, budget_bytes: int | None
) -> WeightStreamer:
    """Install a `WeightStreamer` on `module` (its weights stay where they are stored)."""
    return WeightStreamer(module, torch.device(device), dtype, budget_bytes)


def _set_buffer(module: torch.nn.Module, dotted: str, value: torch.Tensor) -> None:
    owner_name, _, name = dotted.rpartition(".")
    owner = module.get_submodule(owner_name) if owner_name else module
    owner._buffers[name] = value


def _to_device(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device) if value.device != device else value
    if isinstance(value, tuple):
        return tuple(_to_device(v, device) for v in value)
    if isinstance(value, list):
        return [_to_device(v, device) for v in value]
    if isinstance(value, dict):
        return {k: _to_device(v, device) for k, v in value.items()}
    return value
