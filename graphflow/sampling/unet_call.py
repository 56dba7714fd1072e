"""One batched UNet call for several conditioning entries: their inputs stacked, x0 estimates out.

Contexts of different token counts are repeated to their least common multiple (which leaves cross-attention
unchanged; a flow transformer's joint attention would change, so it gets one call per token count instead).
Entries carrying a ControlNet or T2I-Adapter add its residuals to their rows; an entry with GLIGEN boxes runs
with the GLIGEN modules attached to the UNet for its call. Flow transformers (SD3, Flux) are called through
graphflow.sampling.transformer_call.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from graphflow.control.residuals import ControlRun, UnetInputs
from graphflow.sampling.conditioning import CondEntry
from graphflow.sampling.model import DiffusionModel, attached
from graphflow.sampling.transformer_call import flux_guidance, is_flow_transformer, transformer_velocity

# Repeating a context more than this many times to batch it costs more than a separate call.
MAX_CONTEXT_REPEAT = 4


def config_value(model: DiffusionModel, key: str) -> Any:
    """A value of the UNet's config (None when it has no such key)."""
    return getattr(model.unet.config, key, None)


def uses_size_conditioning(model: DiffusionModel) -> bool:
    """Whether the UNet takes SDXL's pooled text and size hints."""
    return config_value(model, "addition_embed_type") == "text_time"


def uses_class_labels(model: DiffusionModel) -> bool:
    """Whether the UNet takes class labels (class ids, timesteps or projected vectors such as unCLIP's)."""
    return config_value(model, "class_embed_type") is not None or config_value(model, "num_class_embeds") is not None


def _size_hints(entry: CondEntry, height: int, width: int) -> list[float]:
    """SDXL time_ids: (orig_h, orig_w, crop_top, crop_left, target_h, target_w) in pixels; the latent's by default."""
    extras = entry.extras
    height_px = float(extras.get("height", height * 8))
    width_px = float(extras.get("width", width * 8))
    return [
        height_px,
        width_px,
        float(extras.get("crop_h", 0)),
        float(extras.get("crop_w", 0)),
        float(extras.get("target_height", height_px)),
        float(extras.get("target_width", width_px)),
    ]


def batchable(entries: Sequence[CondEntry]) -> bool:
    """Whether the entries can share one UNet call (compatible context lengths, pooled and label shapes)."""
    tokens = [entry.context.shape[1] for entry in entries]
    pooled = {None if entry.pooled is None else entry.pooled.shape for entry in entries}
    labels = {None if entry.class_labels is None else entry.class_labels.shape for entry in entries}
    return len(pooled) == 1 and len(labels) == 1 and math.lcm(*tokens) // min(tokens) <= MAX_CONTEXT_REPEAT


def _per_batch(value: Tensor, batch: int) -> Tensor:
    """One row per latent: a single row is shared by the whole batch, `batch` rows go one to each latent."""
    value = value if value.ndim else value.reshape(1)
    if value.shape[0] == batch:
        return value
    if value.shape[0] != 1:
        raise ValueError(
            f"the conditioning holds {value.shape[0]} prompts but the latent batch has {batch}: "
            "give one prompt for the whole batch or one per latent"
        )
    return value.expand(batch, *value.shape[1:])


@torch.no_grad()
def unet_x0(
    model: DiffusionModel,
    entries: Sequence[CondEntry],
    inputs: Sequence[Tensor],
    sigma: Tensor,
    controls: ControlRun | None = None,
    latent_size: tuple[int, int] | None = None,
) -> Tensor:
    """x0 estimates for every entry in one UNet (or flow transformer) call: [len(entries) * B, C, h, w], entry-major.

    `inputs` holds each entry's noisy latent (all of one shape: the whole latent, or equal crops of it);
    `latent_size` is the whole latent's (height, width) in cells, for SDXL's default size hints.
    """
    flow = is_flow_transformer(model)
    if flow and len({entry.context.shape[1] for entry in entries}) > 1:
        # A transformer's joint attention would weigh repeated text tokens more: one call per entry instead.
        return torch.cat([unet_x0(model, [entry], [x], sigma) for entry, x in zip(entries, inputs, strict=True)])
    batch = inputs[0].shape[0]
    tokens = math.lcm(*(entry.context.shape[1] for entry in entries))
    context = torch.cat([_per_batch(e.context.repeat(1, tokens // e.context.shape[1], 1), batch) for e in entries])
    x_all, sigma_all = torch.cat(list(inputs)), sigma.repeat(len(entries))
    x_in = model.sampling.calculate_input(sigma_all, x_all).to(model.device, model.dtype)
    timestep = model.sampling.timestep(sigma_all).to(model.device)
    hidden = context.to(model.device, model.dtype)
    if flow:
        output = _transformer_output(model, entries, x_in, timestep, hidden, batch)
    else:
        size = latent_size or (x_all.shape[-2], x_all.shape[-1])
        unet_inputs = UnetInputs(x_in, timestep, hidden, {}, batch)
        output = _unet_output(model, entries, unet_inputs, float(sigma_all[0]), size, controls)
    return model.sampling.calculate_denoised(sigma_all, output.to(x_all), x_all)


def _transformer_output(
    model: DiffusionModel, entries: Sequence[CondEntry], x: Tensor, timestep: Tensor, context: Tensor, batch: int
) -> Tensor:
    pooled = torch.cat([_per_batch(e.pooled, batch) for e in entries if e.pooled is not None])
    guidance = torch.tensor([flux_guidance(e) for e in entries for _ in range(batch)])
    return transformer_velocity(
        model, x, timestep, context, pooled.to(x.device, x.dtype), guidance.to(x.device, torch.float32)
    )


def _unet_output(
    model: DiffusionModel,
    entries: Sequence[CondEntry],
    inputs: UnetInputs,
    sigma: float,
    latent_size: tuple[int, int],
    controls: ControlRun | None,
) -> Tensor:
    device, dtype, batch = model.device, model.dtype, inputs.batch
    kwargs: dict[str, Any] = {}
    if uses_size_conditioning(model):
        pooled = torch.cat([_per_batch(e.pooled, batch) for e in entries if e.pooled is not None])
        hints = torch.tensor([_size_hints(e, *latent_size) for e in entries for _ in range(batch)])
        kwargs["added_cond_kwargs"] = {"text_embeds": pooled.to(device, dtype), "time_ids": hints.to(device, dtype)}
    if uses_class_labels(model):
        labels = torch.cat([_per_batch(e.class_labels, batch) for e in entries if e.class_labels is not None])
        kwargs["class_labels"] = labels.to(device, dtype if labels.is_floating_point() else labels.dtype)
    if controls is not None:
        kwargs |= controls.unet_kwargs(entries, dataclasses.replace(inputs, extra=dict(kwargs)), sigma)
    grounding = entries[0].gligen if len(entries) == 1 else None
    modules: dict[str, Any] = {}
    if grounding is not None:
        modules, kwargs["cross_attention_kwargs"] = grounding.unet_patch(model.unet, batch, *inputs.x.shape[-2:])
    with attached(model.unet, modules) as unet:
        return unet(inputs.x, inputs.timestep, encoder_hidden_states=inputs.context, return_dict=False, **kwargs)[0]
