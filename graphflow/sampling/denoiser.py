"""The model wrapped once as a denoiser (x, sigma) -> x0: conditioning checks, guidance, inpainting mask.

Conditioning entries are batched into one UNet call when they fit together (graphflow.sampling.unet_call) and
their predictions averaged weighted by strength, as ComfyUI does. When an entry acts only on an area, under a
mask, within a timestep range or with GLIGEN boxes, the predictions are composed per cell instead
(graphflow.sampling.compose). unCLIP image embeddings become the model's class labels (SD 2.1 unCLIP) or its
pooled input (SDXL "revision") before sampling starts (graphflow.sampling.unclip).

`Guider` and `StartNoise` are the GUIDER and NOISE values of the advanced custom sampler: what this denoiser
is made of, and the seed sampling starts from.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from graphflow.control.control import fill_uncond
from graphflow.control.residuals import ControlRun, check_controls
from graphflow.sampling.compose import Composer
from graphflow.sampling.conditioning import CondEntry, Conditioning
from graphflow.sampling.model import DiffusionModel, ModelSampling
from graphflow.sampling.transformer_call import check_flow_conditioning, is_flow_transformer
from graphflow.sampling.unclip import REVISION_MERGE_LEVEL, UNCLIP_MERGE_LEVEL, unclip_adm
from graphflow.sampling.unet_call import batchable, config_value, unet_x0, uses_class_labels, uses_size_conditioning

Denoise = Callable[..., Tensor]
"""denoise(x [B, C, h, w], sigma [B]) -> x0 estimate [B, C, h, w]."""


@dataclass(frozen=True, eq=False)
class Guider:
    """The GUIDER value: a model, its prompts and the classifier-free guidance scale (cfg 1 needs no negative)."""

    model: DiffusionModel
    positive: Conditioning
    negative: Conditioning = ()
    cfg: float = 1.0


@dataclass(frozen=True)
class StartNoise:
    """The NOISE value: the seed that draws the start noise (and a sampler's own noise); `add` False starts clean."""

    seed: int = 0
    add: bool = True


def check_conditioning(model: DiffusionModel, conditioning: Conditioning, name: str) -> None:
    """Raise a clear error if `conditioning` cannot drive this model (empty, wrong width, missing parts)."""
    if not conditioning:
        raise ValueError(f"{name} conditioning is empty: connect a text encoding (or a zeroed one)")
    if is_flow_transformer(model):
        check_flow_conditioning(model, conditioning, name)
        return
    width = config_value(model, "cross_attention_dim")
    for entry in conditioning:
        if isinstance(width, int) and entry.width != width:
            raise ValueError(
                f"{name} conditioning has width {entry.width} but this {model.family} model expects {width}: "
                "encode the prompt with the text encoder that belongs to this checkpoint"
            )
        if uses_size_conditioning(model) and entry.pooled is None:
            raise ValueError(
                f"{name} conditioning has no pooled text embedding, which this {model.family} model needs: "
                "encode the prompt with the model's own (SDXL) text encoder"
            )
        if uses_class_labels(model) and entry.class_labels is None:
            raise ValueError(f"{name} conditioning has no class labels, which this {model.family} model needs")
        if entry.gligen is not None:
            entry.gligen.check(model.unet, name)
    check_controls(model, conditioning, name)


def _takes_image_embeddings(model: DiffusionModel) -> bool:
    return config_value(model, "class_embed_type") == "projection" and not uses_size_conditioning(model)


def _pooled_width(model: DiffusionModel) -> int:
    total = int(config_value(model, "projection_class_embeddings_input_dim"))
    return total - 6 * int(config_value(model, "addition_time_embed_dim"))


def with_image_inputs(model: DiffusionModel, conditioning: Conditioning, name: str, seed: int = 0) -> Conditioning:
    """Entries with their unCLIP image embeddings made the model's input (ComfyUI's encode_adm).

    An unCLIP model (class embeddings of type "projection") gets the noise-augmented embeddings as class
    labels, and zeros for entries without any; an SDXL model gets them as its pooled input, in place of the
    text's ("revision"). `seed` is the sampler's: it draws the augmentation noise.
    """
    result = []
    for entry in conditioning:
        if entry.unclip and uses_size_conditioning(model):
            adm, pooled = unclip_adm(entry.unclip, seed, REVISION_MERGE_LEVEL), _pooled_width(model)
            if adm.shape[1] // 2 != pooled:
                raise ValueError(
                    f"{name} conditioning: the unCLIP image embeddings have width {adm.shape[1] // 2}, but this "
                    f"{model.family} model's pooled input has width {pooled}: for SDXL revision encode the image with "
                    "CLIP ViT-bigG (clip_vision_g)"
                )
            entry = entry.replace(pooled=adm[:, :pooled])
        elif entry.unclip and _takes_image_embeddings(model):
            adm, wanted = (
                unclip_adm(entry.unclip, seed, UNCLIP_MERGE_LEVEL),
                config_value(model, "projection_class_embeddings_input_dim"),
            )
            if adm.shape[1] != wanted:
                raise ValueError(
                    f"{name} conditioning: the unCLIP image embeddings have width {adm.shape[1] // 2}, but this "
                    f"unCLIP model takes embeddings of width {wanted // 2}: encode the image with the CLIP vision "
                    "model that belongs to the checkpoint (the one Load unCLIP Checkpoint gives)"
                )
            entry = entry.replace(class_labels=adm)
        elif entry.unclip:
            raise ValueError(
                f"{name} conditioning carries unCLIP image embeddings (unCLIP Conditioning), but this "
                f"{model.family} model has no image-embedding input: use an unCLIP checkpoint (Load unCLIP "
                "Checkpoint) or an SDXL model (revision), or remove the unCLIP Conditioning node"
            )
        elif _takes_image_embeddings(model) and entry.class_labels is None:
            entry = entry.replace(
                class_labels=torch.zeros(1, int(config_value(model, "projection_class_embeddings_input_dim")))
            )
        result.append(entry)
    return tuple(result)


def _has_area(entry: CondEntry) -> bool:
    return entry.area is not None or (entry.mask is not None and entry.mask_bounds)


def _fill_uncond(positive: Conditioning, negative: Conditioning) -> Conditioning:
    """fill_uncond among the entries without an area, as ComfyUI leaves area entries out of it."""
    free = [index for index, entry in enumerate(negative) if not _has_area(entry)]
    filled = fill_uncond(tuple(e for e in positive if not _has_area(e)), tuple(negative[i] for i in free))
    result = list(negative)
    for index, entry in zip(free, filled, strict=True):
        result[index] = entry
    return tuple(result)


def _predictions(
    model: DiffusionModel, entries: Sequence[CondEntry], x: Tensor, sigma: Tensor, controls: ControlRun | None
) -> list[Tensor]:
    if batchable(entries):
        return list(unet_x0(model, entries, [x] * len(entries), sigma, controls).chunk(len(entries)))
    return [unet_x0(model, [entry], [x], sigma, controls) for entry in entries]


def _weighted(predictions: Sequence[Tensor], entries: Sequence[CondEntry]) -> Tensor:
    total = sum(entry.strength for entry in entries)
    if total == 0:
        return torch.zeros_like(predictions[0])
    return sum(p * entry.strength for p, entry in zip(predictions, entries, strict=True)) / total


def cfg_denoiser(
    model: DiffusionModel, positive: Conditioning, negative: Conditioning, cfg: float, seed: int = 0
) -> Denoise:
    """Classifier-free guided denoiser: uncond + cfg * (cond - uncond); cfg 1 skips the uncond pass.

    Several entries on one side are averaged weighted by strength; all entries share one UNet
    call when their shapes allow. Controls on the entries add their residuals (see graphflow.control).
    Entries placed on areas, masks or timestep ranges are composed per cell (graphflow.sampling.compose).
    `seed` (the sampler's) draws the noise that augments unCLIP image embeddings.
    """
    positive = with_image_inputs(model, positive, "positive", seed)
    check_conditioning(model, positive, "positive")
    guided = not math.isclose(cfg, 1.0)
    if guided:
        negative = with_image_inputs(model, _fill_uncond(positive, negative), "negative", seed)
        check_conditioning(model, negative, "negative")
    entries = list(positive) + (list(negative) if guided else [])
    controls = ControlRun(model) if any(entry.control is not None for entry in entries) else None
    composer = None
    if any(entry.placed for entry in entries):
        composer = Composer(model, [positive, negative] if guided else [positive], controls)

    def denoise(x: Tensor, sigma: Tensor, **extra_args: Any) -> Tensor:
        sigma = torch.as_tensor(sigma).to(x).reshape(-1).expand(x.shape[0])
        if composer is not None:
            sides = composer(x, sigma)
            cond, uncond = sides[0], sides[-1]
        else:
            predictions = _predictions(model, entries, x, sigma, controls)
            cond = _weighted(predictions[: len(positive)], positive)
            if not guided:
                return cond
            uncond = _weighted(predictions[len(positive) :], negative)
        if not guided:
            return cond
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
