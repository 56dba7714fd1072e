"""CLIP vision and unCLIP nodes: load an image encoder (alone or in an unCLIP checkpoint), encode, condition."""

from dataclasses import replace
from typing import Any, NamedTuple

import torch

from graphflow.api import (
    CLIP,
    CLIP_VISION,
    CLIP_VISION_OUTPUT,
    CONDITIONING,
    FLOAT,
    IMAGE,
    MODEL,
    STRING,
    VAE,
    Context,
    Input,
    Output,
    Settings,
    enum_type,
    hookimpl,
    node,
)
from graphflow.models.builtin import checkpoint_choices, model_choices, resolve_checkpoint, resolve_choice
from graphflow.models.cache import file_identity
from graphflow.models.clip_vision import ClipVision, ClipVisionOutput, load_clip_vision
from graphflow.models.paths import model_folder
from graphflow.models.unclip_checkpoint import load_unclip_checkpoint
from graphflow.models.vae import Vae
from graphflow.nodes.loaders import PREDICTION, TIMESTEPS
from graphflow.sampling.conditioning import Conditioning, UnclipImage
from graphflow.sampling.model import DiffusionModel
from graphflow.text.encoder import TextEncoder

KIND = "clip_vision"
CROP = enum_type("CLIP_VISION_CROP", ["center", "none"])


@node("graphflow.loaders.clip_vision", version="1.0.0", title="Load CLIP Vision", category="loaders")
class LoadClipVision:
    """Load a CLIP image encoder from models/clip_vision (ViT-L/14, ViT-H/14 or ViT-bigG/14).

    Reads single files in transformers' layout (`vision_model.*`, e.g. the IP-Adapter image encoders) or
    OpenAI/OpenCLIP's (`visual.*`); nothing is downloaded.
    """

    clip_name = Input(
        STRING,
        choices=lambda settings: model_choices(settings.models_dir, KIND),
        choices_help=lambda settings: f"CLIP vision models are read from {model_folder(settings.models_dir, KIND)}",
        source="literal",
        widget="model_file",
    )
    clip_vision = Output(CLIP_VISION)

    @staticmethod
    def fingerprint(settings: Settings, clip_name: str | None = None, **_: Any) -> Any:
        """The file's identity, so a replaced file is loaded again."""
        return file_identity(resolve_choice(settings.models_dir, KIND, clip_name)) if clip_name else None

    def run(self, ctx: Context, clip_name: str) -> ClipVision:
        path = resolve_choice(ctx.settings.models_dir, KIND, clip_name)
        ctx.log.info("loading %s", path)
        return load_clip_vision(path, device=ctx.settings.device, cache=ctx.models)


@node("graphflow.conditioning.clip_vision_encode", version="1.0.0", title="CLIP Vision Encode", category="conditioning")
class ClipVisionEncode:
    """Encode pictures with a CLIP image encoder, for unCLIP Conditioning (and other image-prompt nodes).

    `center` scales the shorter side to the encoder's size and crops the middle; `none` squashes the whole
    picture to a square.
    """

    clip_vision = Input(CLIP_VISION)
    image = Input(IMAGE)
    crop = Input(CROP, default="center")
    clip_vision_output = Output(CLIP_VISION_OUTPUT)

    def run(self, ctx: Context, clip_vision: ClipVision, image: torch.Tensor, crop: str) -> ClipVisionOutput:
        return clip_vision.encode_image(image, crop=crop == "center")


@node("graphflow.conditioning.unclip", version="1.0.0", title="unCLIP Conditioning", category="conditioning")
class UnclipConditioning:
    """Add an encoded picture to the conditioning, for an unCLIP model (or SDXL: "revision").

    The sampler noises the image embedding by `noise_augmentation` (more: looser variations) with its seed,
    and weighs it by `strength`; several pictures on one conditioning are summed. Strength 0 changes nothing.
    """

    conditioning = Input(CONDITIONING)
    clip_vision_output = Input(CLIP_VISION_OUTPUT)
    strength = Input(FLOAT, default=1.0, min=-10.0, max=10.0, step=0.01)
    noise_augmentation = Input(FLOAT, default=0.0, min=0.0, max=1.0, step=0.01)
    result = Output(CONDITIONING)

    def run(
        self,
        ctx: Context,
        conditioning: Conditioning,
        clip_vision_output: ClipVisionOutput,
        strength: float,
        noise_augmentation: float,
    ) -> Conditioning:
        if strength == 0:
            return conditioning
        image = UnclipImage(clip_vision_output.image_embeds, strength, noise_augmentation)
        return tuple(entry.replace(unclip=(*entry.unclip, image)) for entry in conditioning)


class UnclipCheckpoint(NamedTuple):
    """What Load unCLIP Checkpoint gives."""

    model: DiffusionModel
    clip: TextEncoder
    vae: Vae
    clip_vision: ClipVision


@node("graphflow.loaders.unclip_checkpoint", version="1.0.0", title="Load unCLIP Checkpoint", category="loaders")
class LoadUnclipCheckpoint:
    """Load an unCLIP checkpoint (SD 2.1 unCLIP) with the CLIP image encoder it contains.

    A single file holds the encoder under `embedder.model.visual.`; a diffusers folder in `image_encoder/`.
    """

    checkpoint = Input(
        STRING,
        choices=lambda settings: checkpoint_choices(settings.models_dir),
        source="literal",
        widget="model_file",
        choices_help=lambda settings: f"checkpoints are read from {model_folder(settings.models_dir, 'checkpoints')}",
    )
    prediction = Input(PREDICTION, default="auto", source="literal")
    timesteps = Input(
        TIMESTEPS,
        default="continuous",
        source="literal",
        description="discrete: round each sigma to the nearest training timestep, as ComfyUI does",
    )
    model = Output(MODEL)
    clip = Output(CLIP)
    vae = Output(VAE)
    clip_vision = Output(CLIP_VISION)

    @staticmethod
    def fingerprint(settings: Settings, checkpoint: str | None = None, **_: Any) -> Any:
        """The file's identity, so a replaced file is loaded again."""
        return file_identity(resolve_checkpoint(settings.models_dir, checkpoint)) if checkpoint else None

    def run(self, ctx: Context, checkpoint: str, prediction: str, timesteps: str) -> UnclipCheckpoint:
        path = resolve_checkpoint(ctx.settings.models_dir, checkpoint)
        ctx.log.info("loading %s", path)
        chosen = None if prediction == "auto" else prediction
        model, clip, vae, vision = load_unclip_checkpoint(
            path, device=ctx.settings.device, prediction=chosen, cache=ctx.models
        )
        if timesteps == "discrete":
            model = replace(model, sampling=model.sampling.with_discrete_timesteps())
        return UnclipCheckpoint(model, clip, vae, vision)


@hookimpl
def register_nodes(register) -> None:
    """Provide the CLIP vision and unCLIP nodes."""
    for cls in (LoadClipVision, ClipVisionEncode, UnclipConditioning, LoadUnclipCheckpoint):
        register(cls)
