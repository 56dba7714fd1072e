"""Saving MODEL, CLIP and VAE values as one original-layout .safetensors checkpoint, their patches baked in.

The file describes itself (UNet, VAE, text and scheduler configs and the tokenizer in its metadata, see
`graphflow.models.embedded`), so Load Checkpoint reads it back whatever its shapes. The patches are applied
only while the weights are written; the cached modules are restored exactly afterwards.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

import torch
from safetensors.torch import save_file

from graphflow.models.convert import CLIP_PREFIXES, ldm_checkpoint
from graphflow.models.embedded import embed
from graphflow.models.vae import Vae
from graphflow.patches import applied
from graphflow.sampling.model import DiffusionModel, ModelSampling
from graphflow.text.encoder import TextEncoder

# beta schedules the single-file loader rebuilds exactly from their parameters
_KNOWN_SCHEDULES: tuple[dict[str, Any], ...] = (
    {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "num_train_timesteps": 1000},
    {"beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02, "num_train_timesteps": 1000},
)


class CheckpointSaveError(ValueError):
    """A model, text encoder and VAE that cannot be written as one checkpoint."""


def scheduler_config(sampling: ModelSampling) -> dict[str, Any]:
    """A diffusers scheduler config from which the loader rebuilds this noise table (and prediction type)."""
    for schedule in _KNOWN_SCHEDULES:
        candidate = ModelSampling.from_scheduler_config(schedule)
        if torch.equal(candidate.alphas_cumprod, sampling.alphas_cumprod):
            return {**schedule, "prediction_type": sampling.prediction_type}
    cumulative = sampling.alphas_cumprod
    betas = 1 - cumulative / torch.cat([cumulative.new_ones(1), cumulative[:-1]])
    return {
        "trained_betas": betas.tolist(),
        "num_train_timesteps": len(betas),
        "prediction_type": sampling.prediction_type,
    }


def _public(config: Mapping[str, Any]) -> dict[str, Any]:
    """A diffusers config without its bookkeeping keys (_class_name, _diffusers_version, ...)."""
    return {k: v for k, v in config.items() if not k.startswith("_")}


def _configs(model: DiffusionModel, clip: TextEncoder, vae: Vae) -> dict[str, Any]:
    return {
        "unet": _public(model.unet.config),
        "vae": {**_public(vae.model.config), "scaling_factor": vae.scaling_factor},
        "text": {part.name: json.loads(part.model.config.to_json_string()) for part in clip.parts},
        "scheduler": scheduler_config(model.sampling),
    }


def _tokenizer(clip: TextEncoder) -> Any | None:
    """The transformers tokenizer of the first text part, when it has one to embed (CLIP's own BPE needs none)."""
    return getattr(clip.parts[0].tokenizer, "_hf", None)


def _check(model: DiffusionModel, clip: TextEncoder) -> None:
    if model.family not in CLIP_PREFIXES:
        raise CheckpointSaveError(f"cannot save a {model.family} model as a single-file checkpoint")
    parts = {part.name for part in clip.parts}
    if parts != set(CLIP_PREFIXES[model.family]):
        raise CheckpointSaveError(
            f"the text encoder ({', '.join(sorted(parts))}) is not the {model.family} model's "
            f"({', '.join(sorted(CLIP_PREFIXES[model.family]))}): connect the CLIP loaded with this model"
        )


def save_checkpoint(
    path: str | os.PathLike[str],
    model: DiffusionModel,
    clip: TextEncoder,
    vae: Vae,
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write `model`, `clip` and `vae` with their patches applied as one original-layout safetensors file."""
    _check(model, clip)
    v_prediction = model.sampling.prediction_type == "v_prediction"
    info = {
        "modelspec.predict_key": "v" if v_prediction else "epsilon",
        **embed(_configs(model, clip, vae), _tokenizer(clip)),
        **(metadata or {}),
    }
    with ExitStack() as stack:
        stack.enter_context(applied(model.unet, model.patches))
        for part in clip.parts:
            stack.enter_context(applied(part.model, part.patches))
        texts = {part.name: part.model for part in clip.parts}
        weights = ldm_checkpoint(model.family, model.unet, vae.model, texts, v_prediction=v_prediction)
        save_file({k: v.detach().cpu().contiguous() for k, v in weights.items()}, str(path), metadata=info)
