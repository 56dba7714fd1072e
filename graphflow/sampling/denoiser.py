"""The model wrapped once as a denoiser (x, sigma) -> x0: UNet call, guidance, inpainting mask.

Conditioning entries are batched into one UNet call when they fit together (contexts of
different token counts are repeated to their least common multiple, which leaves attention
unchanged), and their predictions are averaged weighted by strength, as ComfyUI does. Entries that
carry a ControlNet or T2I-Adapter add its residuals to their rows of the call (graphflow.control).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from graphflow.control.control import fill_uncond
from graphflow.control.residuals import ControlRun, UnetInputs, check_controls
from graphflow.sampling.conditioning import CondEntry, Conditioning
from graphflow.sampling.model import DiffusionModel, ModelSampling

Denoise = Callable[..., Tensor]
"""denoise(x [B, C, h, w], sigma [B]) -> x0 estimate [B, C, h, w]."""

# Repeating a context more than this many times to batch it costs more than a separate call.
MAX_CONTEXT_REPEAT = 4


def _config(model: DiffusionModel, key: str) -> Any:
    return getattr(model.unet.config, key, None)


def _uses_size_conditioning(model: DiffusionModel) -> bool:
    return _config(model, "addition_embed_type") == "text_time"


def _uses_class_labels(model: DiffusionModel) -> bool:
    return _config(model, "class_embed_type") is not None or _config(model, "num_class_embeds") is not None


def check_conditioning(model: DiffusionModel, conditioning: Conditioning, name: str) -> None:
    """Raise a clear error if `conditioning` cannot drive this model (empty, wrong width, missing parts)."""
    if not conditioning:
        raise ValueError(f"{name} conditioning is empty: connect a text encoding (or a zeroed one)")
    width = _config(model, "cross_attention_dim")
    for entry in conditioning:
        if isinstance(width, int) and entry.width != width:
            raise ValueError(
                f"{name} conditioning has width {entry.width} but this {model.family} model expects {width}: "
                "encode the prompt with the text encoder that belongs to this checkpoint"
            )
        if _uses_size_conditioning(model) and entry.pooled is None:
            raise ValueError(
                f"{name} conditioning has no pooled text embedding, which this {model.family} model needs: "
                "encode the prompt with the model's own (SDXL) text encoder"
            )
        if _uses_class_labels(model) and entry.class_labels is None:
            raise ValueError(f"{name} conditioning has no class labels, which this {model.family} model needs")
    check_controls(model, conditioning, name)


def _size_hints(entry: CondEntry, x: Tensor) -> list[float]:
    """SDXL time_ids: (orig_h, orig_w, crop_top, crop_left, target_h, target_w) in pixels."""
    extras = entry.extras
    height = float(extras.get("height", x.shape[2] * 8))
    width = float(extras.get("width", x.shape[3] * 8))
    return [
        height,
        width,
        float(extras.get("crop_h", 0)),
        float(extras.get("crop_w", 0)),
        float(extras.get("target_height", height)),
        float(extras.get("target_width", width)),
    ]


def _batchable(entries: Sequence[CondEntry]) -> bool:
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
def _unet_x0(
    model: DiffusionModel, entries: Sequence[CondEntry], x: Tensor, sigma: Tensor, controls: ControlRun | None = None
) -> Tensor:
    """x0 estimates for every entry in one UNet call: [len(entries) * B, C, h, w], entry-major."""
    batch, count = x.shape[0], len(entries)
    device, dtype = model.device, model.dtype
    tokens = math.lcm(*(entry.context.shape[1] for entry in entries))
    context = torch.cat([_per_batch(e.context.repeat(1, tokens // e.context.shape[1], 1), batch) for e in entries])
    x_all, sigma_all = x.repeat(count, 1, 1, 1), sigma.repeat(count)
    x_in = model.sampling.calculate_input(sigma_all, x_all)
    kwargs: dict[str, Any] = {}
    if _uses_size_conditioning(model):
        pooled = torch.cat([_per_batch(e.pooled, batch) for e in entries if e.pooled is not None])
        hints = torch.tensor([_size_hints(e, x) for e in entries for _ in range(batch)])
        kwargs["added_cond_kwargs"] = {"text_embeds": pooled.to(device, dtype), "time_ids": hints.to(device, dtype)}
    if _uses_class_labels(model):
        labels = torch.cat([_per_batch(e.class_labels, batch) for e in entries if e.class_labels is not None])
        kwargs["class_labels"] = labels.to(device, dtype if labels.is_floating_point() else labels.dtype)
    sample = x_in.to(device, dtype)
    timestep = model.sampling.timestep(sigma_all).to(device)
    hidden = context.to(device, dtype)
    if controls is not None:
        inputs = UnetInputs(sample, timestep, hidden, dict(kwargs), batch)
        kwargs |= controls.unet_kwargs(entries, inputs, float(sigma_all[0]))
    output = model.unet(sample, timestep, encoder_hidden_states=hidden, return_dict=False, **kwargs)[0]
    return model.sampling.calculate_denoised(sigma_all, output.to(x), x_all)


def _predictions(
    model: DiffusionModel, entries: Sequence[CondEntry], x: Tensor, sigma: Tensor, controls: ControlRun | None
) -> list[Tensor]:
    if _batchable(entries):
        return list(_unet_x0(model, entries, x, sigma, controls).chunk(len(entries)))
    return [_unet_x0(model, [entry], x, sigma, controls) for entry in entries]


def _weighted(predictions: Sequence[Tensor], entries: Sequence[CondEntry]) -> Tensor:
    total = sum(entry.strength for entry in entries)
    if total == 0:
        return torch.zeros_like(predictions[0])
    return sum(p * entry.strength for p, entry in zip(predictions, entries, strict=True)) / total


def cfg_denoiser(model: DiffusionModel, positive: Conditioning, negative: Conditioning, cfg: float) -> Denoise:
    """Classifier-free guided denoiser: uncond + cfg * (cond - uncond); cfg 1 skips the uncond pass.

    Several entries on one side are averaged weighted by strength; all entries share one UNet
    call when their shapes allow. Controls on the entries add their residuals (see graphflow.control).
    """
    check_conditioning(model, positive, "positive")
    guided = not math.isclose(cfg, 1.0)
    if guided:
        negative = fill_uncond(positive, negative)
        check_conditioning(model, negative, "negative")
    entries = list(positive) + (list(negative) if guided else [])
    controls = ControlRun(model) if any(entry.control is not None for entry in entries) else None

    def denoise(x: Tensor, sigma: Tensor, **extra_args: Any) -> Tensor:
        sigma = torch.as_tensor(sigma).to(x).reshape(-1).expand(x.shape[0])
        predictions = _predictions(model, entries, x, sigma, controls)
        cond = _weighted(predictions[: len(positive)], positive)
        if not guided:
            return cond
        uncond = _weighted(predictions[len(positive) :], negative)
        return uncond + (cond - uncond) * cfg

    return denoise


def masked_denoiser(
    denoise: Denoise, latent_image: Tensor, noise: Tensor, mask: Tensor, sampling: ModelSampling
) -> Denoise:
    """Inpainting: outside the mask (mask 0) keep the original, re-noised to the current sigma.

    Before each evaluation the kept region of x is replaced by latent_image + noise * sigma, and
    the kept region of the result by latent_image (ComfyUI's KSamplerX0Inpaint).
    """
    keep = 1 - mask

    def masked(x: Tensor, sigma: Tensor, **extra_args: Any) -> Tensor:
        original = sampling.noise_scaling(sigma, noise, latent_image)
        x0 = denoise(x * mask + original * keep, sigma, **extra_args)
        return x0 * mask + latent_image * keep

    return masked
