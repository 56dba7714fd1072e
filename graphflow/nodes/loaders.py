"""Loader nodes: checkpoints (U-Net, text encoder, VAE) and standalone VAEs."""

from dataclasses import replace
from typing import Any, NamedTuple

from graphflow.api import CLIP, MODEL, STRING, VAE, Context, Input, Output, Settings, enum_type, hookimpl, node
from graphflow.models.builtin import checkpoint_choices, resolve_checkpoint
from graphflow.models.cache import file_identity
from graphflow.models.loader import load_checkpoint, load_vae
from graphflow.models.options import load_options
from graphflow.models.paths import list_models, model_folder, resolve_model
from graphflow.models.vae import Vae
from graphflow.sampling.model import DiffusionModel
from graphflow.text.encoder import TextEncoder

PREDICTION = enum_type("PREDICTION", ["auto", "epsilon", "v_prediction"])
FAMILY = enum_type("MODEL_FAMILY", ["sd1", "sd2", "sdxl", "sd3", "flux"])
TIMESTEPS = enum_type("TIMESTEPS", ["continuous", "discrete"])
FIRST_PICTURE_CHECKPOINT = "builtin:shapes-demo"  # the shipped text-to-image model: a new loader can run as it is


class Checkpoint(NamedTuple):
    """What Load Checkpoint gives."""

    model: DiffusionModel
    clip: TextEncoder
    vae: Vae


@node("graphflow.loaders.checkpoint", version="1.0.0", title="Load Checkpoint", category="loaders")
class LoadCheckpoint:
    """Load a Stable Diffusion checkpoint (a single .safetensors file or a diffusers folder).

    The family (SD1, SD2, SDXL) and prediction type are read from the weights; `prediction`
    overrides the latter. Loaded models are shared between loaders and kept while memory allows.
    """

    checkpoint = Input(
        STRING,
        default=FIRST_PICTURE_CHECKPOINT,
        choices=lambda settings: checkpoint_choices(settings.models_dir),
        source="literal",
        widget="model_file",
        choices_help=lambda settings: (
            f"checkpoints are read from {model_folder(settings.models_dir, 'checkpoints').resolve()}"
        ),
    )
    prediction = Input(PREDICTION, default="auto", source="literal")
    timesteps = Input(
        TIMESTEPS,
        default="continuous",
        source="literal",
        description="discrete: round each sigma to the nearest training timestep, as ComfyUI does "
        "(set on imported ComfyUI workflows, so a seed gives ComfyUI's picture)",
    )
    model = Output(MODEL, "the denoising U-Net with its noise schedule")
    clip = Output(CLIP, "the text encoder(s) and tokenizer(s)")
    vae = Output(VAE, "the autoencoder between pixels and latents")

    @staticmethod
    def fingerprint(settings: Settings, checkpoint: str | None = None, **_: Any) -> Any:
        """The file's identity, so a replaced file is loaded again."""
        return file_identity(resolve_checkpoint(settings.models_dir, checkpoint)) if checkpoint else None

    def run(self, ctx: Context, checkpoint: str, prediction: str, timesteps: str) -> Checkpoint:
        path = resolve_checkpoint(ctx.settings.models_dir, checkpoint)
        ctx.log.info("loading %s", path)
        model, clip, vae = load_checkpoint(
            path,
            device=ctx.settings.device,
            cache=ctx.models,
            prediction=None if prediction == "auto" else prediction,
            **load_options(ctx.settings),
        )
        if timesteps == "discrete":
            model = replace(model, sampling=model.sampling.with_discrete_timesteps())
        return Checkpoint(model, clip, vae)


@node("graphflow.loaders.vae", version="1.0.0", title="Load VAE", category="loaders")
class LoadVae:
    """Load a standalone VAE file from models/vae (e.g. a fine-tuned SD VAE)."""

    vae_name = Input(
        STRING,
        choices=lambda settings: list_models(settings.models_dir, "vae"),
        source="literal",
        widget="model_file",
        choices_help=lambda settings: f"VAEs are read from {model_folder(settings.models_dir, 'vae').resolve()}",
    )
    family = Input(FAMILY, default="sd1", source="literal", description="sets the latent scaling factor")
    vae = Output(VAE)

    @staticmethod
    def fingerprint(settings: Settings, vae_name: str | None = None, **_: Any) -> Any:
        """The file's identity, so a replaced file is loaded again."""
        return file_identity(resolve_model(settings.models_dir, "vae", vae_name)) if vae_name else None

    def run(self, ctx: Context, vae_name: str, family: str) -> Vae:
        return load_vae(
            resolve_model(ctx.settings.models_dir, "vae", vae_name),
            device=ctx.settings.device,
            family=family,
            cache=ctx.models,
            precision=ctx.settings.precision,
        )


@hookimpl
def register_nodes(register) -> None:
    """Provide the loader nodes."""
    register(LoadCheckpoint)
    register(LoadVae)
