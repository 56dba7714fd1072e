"""LoRA loader nodes (ComfyUI's LoraLoader and LoraLoaderModelOnly): MODEL and CLIP copies that carry patches.

The cached UNet and text encoders are never changed: the patches travel with the returned values and
are applied only while a sampler or a prompt encoder uses them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from graphflow.api import CLIP, FLOAT, MODEL, STRING, Context, Input, Output, Settings, hookimpl, node
from graphflow.models.builtin import model_choices, resolve_choice
from graphflow.models.cache import file_identity
from graphflow.models.paths import model_folder
from graphflow.patches.lora import LoraFile, LoraMatch, match_lora, read_lora
from graphflow.sampling.model import DiffusionModel
from graphflow.text.encoder import TextEncoder

KIND = "loras"


def _lora_name_input() -> Input:
    return Input(
        STRING,
        choices=lambda settings: model_choices(settings.models_dir, KIND),
        source="literal",
        widget="model_file",
        choices_help=lambda settings: f"LoRAs are read from {model_folder(settings.models_dir, KIND).resolve()}",
    )


def _strength_input(what: str) -> Input:
    return Input(
        FLOAT,
        default=1.0,
        min=-100.0,
        max=100.0,
        step=0.01,
        description=f"how strongly the LoRA changes the {what}: 0 leaves it as it is, negative values push away",
    )


def _fingerprint(settings: Settings, lora_name: str | None) -> Any:
    """The file's identity, so a replaced file is read again."""
    return file_identity(resolve_choice(settings.models_dir, KIND, lora_name)) if lora_name else None


def _load(ctx: Context, lora_name: str) -> LoraFile:
    """The parsed LoRA file, read once per file version and shared through the model cache."""
    path = resolve_choice(ctx.settings.models_dir, KIND, lora_name)
    return ctx.models.get_or_load(("graphflow.lora", *file_identity(path)), lambda: read_lora(path), LoraFile.byte_size)


def _report(ctx: Context, match: LoraMatch, lora: LoraFile) -> None:
    if match.unmatched:
        ctx.log.warning("%s", match.describe_unmatched(lora.source))


class LoraOutputs(NamedTuple):
    """What Load LoRA gives."""

    patched_model: DiffusionModel
    patched_clip: TextEncoder


@node("graphflow.loaders.lora", version="1.0.0", title="Load LoRA", category="loaders")
class LoadLora:
    """Apply a LoRA file from models/loras to the model and the text encoder, each with its own strength.

    Reads kohya/A1111, diffusers/PEFT, ComfyUI and LyCORIS (LoCon, LoHa, LoKr) files. Chain several to
    stack them. Keys that match nothing in the model are reported as a warning.
    """

    model = Input(MODEL)
    clip = Input(CLIP)
    lora_name = _lora_name_input()
    strength_model = _strength_input("denoising model")
    strength_clip = _strength_input("text encoder")
    patched_model = Output(MODEL, "the model carrying the LoRA's patches")
    patched_clip = Output(CLIP, "the text encoder carrying the LoRA's patches")

    @staticmethod
    def fingerprint(settings: Settings, lora_name: str | None = None, **_: Any) -> Any:
        """The file's identity, so a replaced file is read again."""
        return _fingerprint(settings, lora_name)

    def run(
        self,
        ctx: Context,
        model: DiffusionModel,
        clip: TextEncoder,
        lora_name: str,
        strength_model: float,
        strength_clip: float,
    ) -> LoraOutputs:
        if strength_model == 0 and strength_clip == 0:
            return LoraOutputs(model, clip)
        lora = _load(ctx, lora_name)
        texts = {part.name: part.model for part in clip.parts}
        match = match_lora(
            lora,
            unet=model.unet,
            text=texts,
            strength_model=strength_model,
            strength_clip=strength_clip,
            family=model.family,
        )
        _report(ctx, match, lora)
        patched_model = model.with_patches(match.unet) if match.unet else model
        patched_clip = clip.with_patches(match.text) if match.text else clip
        return LoraOutputs(patched_model, patched_clip)


@node("graphflow.loaders.lora_model_only", version="1.0.0", title="Load LoRA (model only)", category="loaders")
class LoadLoraModelOnly:
    """Apply the denoising-model part of a LoRA file from models/loras; its text-encoder layers are skipped."""

    model = Input(MODEL)
    lora_name = _lora_name_input()
    strength_model = _strength_input("denoising model")
    patched_model = Output(MODEL, "the model carrying the LoRA's patches")

    @staticmethod
    def fingerprint(settings: Settings, lora_name: str | None = None, **_: Any) -> Any:
        """The file's identity, so a replaced file is read again."""
        return _fingerprint(settings, lora_name)

    def run(self, ctx: Context, model: DiffusionModel, lora_name: str, strength_model: float) -> DiffusionModel:
        if strength_model == 0:
            return model
        lora = _load(ctx, lora_name)
        match = match_lora(lora, unet=model.unet, strength_model=strength_model, family=model.family)
        _report(ctx, match, lora)
        return model.with_patches(match.unet)


@hookimpl
def register_nodes(register: Callable[[type], None]) -> None:
    """Provide the LoRA loader nodes."""
    register(LoadLora)
    register(LoadLoraModelOnly)
