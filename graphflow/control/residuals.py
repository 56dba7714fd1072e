"""What the controls on conditioning entries add to one batched UNet call: ControlNet residuals, T2I-Adapter features.

Entries sharing one Control run its model once over all their rows; rows of entries without an active
control get zeros, which leaves their prediction exactly as without control. When no control is active
at a step, the UNet gets no extra inputs at all, so its call is the plain one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from graphflow.sampling.conditioning import CondEntry, Conditioning
from graphflow.sampling.model import DiffusionModel

from .control import Control
from .hint import fit_channels, fit_size, per_latent
from .model import LATENT_TO_PIXELS


@dataclass(frozen=True)
class UnetInputs:
    """The inputs of one batched UNet call (N entries x B latents rows), on the UNet's device and dtype."""

    x: Tensor
    timestep: Tensor
    context: Tensor
    extra: Mapping[str, Any]
    batch: int

    def select(self, rows: Tensor | None) -> UnetInputs:
        """The same inputs for some rows only (all of them for None)."""
        if rows is None:
            return self
        extra: dict[str, Any] = {}
        for key, value in self.extra.items():
            extra[key] = {k: v[rows] for k, v in value.items()} if isinstance(value, Mapping) else value[rows]
        return UnetInputs(self.x[rows], self.timestep[rows], self.context[rows], extra, self.batch)


def controls_in(conditioning: Conditioning) -> list[Control]:
    """Every Control in the chains of `conditioning`'s entries, each once."""
    seen: dict[int, Control] = {}
    for entry in conditioning:
        if entry.control is not None:
            for control in entry.control.chain():
                seen.setdefault(id(control), control)
    return list(seen.values())


def _width(value: Any) -> Any:
    return value[0] if isinstance(value, (list, tuple)) else value


def check_controls(model: DiffusionModel, conditioning: Conditioning, name: str) -> None:
    """A clear error when a control on `conditioning` was made for another kind of model than `model`."""
    controls = controls_in(conditioning)
    if not controls:
        return
    unet = model.unet.config
    blocks = list(unet.block_out_channels)
    for control in controls:
        config = control.model.module.config
        if control.model.kind == "controlnet":
            theirs = (list(config.block_out_channels), _width(config.cross_attention_dim))
            ours = (blocks, _width(unet.cross_attention_dim))
            fits = theirs == ours and (config.addition_embed_type == "text_time") == (
                getattr(unet, "addition_embed_type", None) == "text_time"
            )
            shape = f"blocks {theirs[0]}, context width {theirs[1]}"
            model_shape = f"blocks {ours[0]}, context width {ours[1]}"
        else:
            fits = list(config.channels[: len(blocks)]) == blocks
            shape, model_shape = f"feature widths {list(config.channels)}", f"blocks {blocks}"
        if not fits:
            raise ValueError(
                f"{name} conditioning: {control.model.label} does not fit this {model.family} model "
                f"({shape}; the model has {model_shape}): use one made for the model's family"
            )


class _Sums:
    """Per-row sums of residual lists over the whole batch; rows without a control stay zero."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.parts: dict[str, list[Tensor]] = {}

    def add(self, kind: str, rows: Tensor | None, values: Sequence[Tensor]) -> None:
        current = self.parts.get(kind)
        if rows is None:
            summed = values if current is None else [c + v for c, v in zip(current, values, strict=True)]
            self.parts[kind] = list(summed)
            return
        if current is None:
            current = [v.new_zeros(self.total, *v.shape[1:]) for v in values]
        self.parts[kind] = [c.index_add(0, rows, v) for c, v in zip(current, values, strict=True)]

    def unet_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if "down" in self.parts:
            kwargs["down_block_additional_residuals"] = tuple(self.parts["down"])
            kwargs["mid_block_additional_residual"] = self.parts["mid"][0]
        if "adapter" in self.parts:
            kwargs["down_intrablock_additional_residuals"] = list(self.parts["adapter"])  # the UNet pops from it
        return kwargs


class ControlRun:
    """The controls of one sampling run: when each is active, and its hints and adapter features, made once."""

    def __init__(self, model: DiffusionModel) -> None:
        self.model = model
        self._windows: dict[int, tuple[float, float]] = {}
        self._hints: dict[tuple[int, ...], Tensor] = {}
        self._features: dict[tuple[int, ...], list[Tensor]] = {}

    def active(self, control: Control, sigma: float) -> bool:
        """Whether `control` acts at `sigma` (inside its start..end window)."""
        key = id(control)
        if key not in self._windows:
            self._windows[key] = control.sigma_window(self.model.sampling)
        high, low = self._windows[key]
        return low <= sigma <= high

    def unet_kwargs(self, entries: Sequence[CondEntry], inputs: UnetInputs, sigma: float) -> dict[str, Any]:
        """The UNet's extra keyword arguments for these entries at `sigma` ({} when no control acts)."""
        groups: dict[int, tuple[Control, list[int]]] = {}
        for index, entry in enumerate(entries):
            if entry.control is not None:
                groups.setdefault(id(entry.control), (entry.control, []))[1].append(index)
        sums = _Sums(inputs.x.shape[0])
        for control, indices in groups.values():
            chain = [link for link in control.chain() if self.active(link, sigma)]
            if not chain:
                continue
            rows = self._rows(indices, len(entries), inputs.batch, inputs.x.device)
            selected = inputs.select(rows)
            for link in chain:
                if link.model.kind == "controlnet":
                    down, mid = self._controlnet(link, selected, len(indices))
                    sums.add("down", rows, down)
                    sums.add("mid", rows, [mid])
                else:
                    sums.add("adapter", rows, self._adapter(link, selected, len(indices)))
        return sums.unet_kwargs()

    @staticmethod
    def _rows(indices: Sequence[int], count: int, batch: int, device: torch.device) -> Tensor | None:
        if list(indices) == list(range(count)):
            return None
        return torch.cat([torch.arange(i * batch, (i + 1) * batch) for i in indices]).to(device)

    def _hint(self, control: Control, height: int, width: int) -> Tensor:
        """The control's hint at this pixel size, on its model's device and dtype (before batching)."""
        key = (id(control), height, width)
        if key not in self._hints:
            model = control.model
            hint = fit_channels(fit_size(control.hint, height, width), model.hint_channels, model.label)
            self._hints[key] = hint.to(model.device, model.dtype)
        return self._hints[key]

    @staticmethod
    def _pixel_size(control: Control, inputs: UnetInputs) -> tuple[int, int]:
        """The latent's size in pixels, rounded up to what the control's model divides by."""
        multiple = control.model.hint_multiple
        height, width = (math.ceil(side * LATENT_TO_PIXELS / multiple) * multiple for side in inputs.x.shape[-2:])
        return height, width

    def _controlnet(self, control: Control, inputs: UnetInputs, entries: int) -> tuple[list[Tensor], Tensor]:
        model = control.model
        module = model.module
        hint = per_latent(self._hint(control, *self._pixel_size(control, inputs)), inputs.batch)
        hint = hint.repeat(entries, 1, 1, 1) if entries > 1 else hint
        extra: dict[str, Any] = {}
        if module.config.addition_embed_type is not None and "added_cond_kwargs" in inputs.extra:
            extra["added_cond_kwargs"] = {
                k: v.to(model.device, model.dtype) for k, v in inputs.extra["added_cond_kwargs"].items()
            }
        if module.class_embedding is not None and "class_labels" in inputs.extra:
            extra["class_labels"] = inputs.extra["class_labels"].to(model.device)
        down, mid = module(
            inputs.x.to(model.device, model.dtype),
            inputs.timestep.to(model.device),
            encoder_hidden_states=inputs.context.to(model.device, model.dtype),
            controlnet_cond=hint,
            conditioning_scale=control.strength,
            return_dict=False,
            **extra,
        )
        device, dtype = inputs.x.device, inputs.x.dtype
        return [d.to(device, dtype) for d in down], mid.to(device, dtype)

    def _adapter(self, control: Control, inputs: UnetInputs, entries: int) -> list[Tensor]:
        """The adapter's features for these rows, scaled by strength; the adapter runs once per hint size."""
        height, width = self._pixel_size(control, inputs)
        own = (id(control), height, width)
        if own not in self._features:
            features = control.model.module(self._hint(control, height, width))
            self._features[own] = [f * control.strength for f in features]
        key = (*own, inputs.batch, entries)
        if key not in self._features:
            device, dtype = inputs.x.device, inputs.x.dtype
            rows = [per_latent(f, inputs.batch).to(device, dtype) for f in self._features[own]]
            self._features[key] = [r.repeat(entries, 1, 1, 1) if entries > 1 else r for r in rows]
        return self._features[key]
