"""Loader nodes for models shipped in pieces (SD3/SD3.5, Flux): the diffusion model alone and its text encoders,
with ComfyUI's names (UNETLoader, CLIPLoader, DualCLIPLoader, TripleCLIPLoader)."""

from typing import Any

from graphflow.api import CLIP, MODEL, STRING, Context, Input, Output, Settings, enum_type, hookimpl, node
from graphflow.models.builtin import model_choices, resolve_choice
from graphflow.models.cache import file_identity
from graphflow.models.flow_loader import WEIGHT_DTYPES, load_flow_transformer, load_text_encoders
from graphflow.models.options import load_options
from graphflow.models.paths import model_folder
from graphflow.sampling.model import DiffusionModel
from graphflow.text.encoder import TextEncoder

WEIGHT_DTYPE = enum_type("WEIGHT_DTYPE", list(WEIGHT_DTYPES))
CLIP_TYPE = enum_type("CLIP_TYPE", ["stable_diffusion", "sd3", "flux"])
DUAL_CLIP_TYPE = enum_type("DUAL_CLIP_TYPE", ["sdxl", "sd3", "flux"])
# ComfyUI's CLIP loader types -> graphflow's text encoder families
_FAMILIES = {"stable_diffusion": "sd1", "sdxl": "sdxl", "sd3": "sd3", "flux": "flux"}
_DIFFUSION_MODELS, _TEXT_ENCODERS = "diffusion_models", "text_encoders"


def _file_input(kind: str, what: str) -> Input:
    return Input(
        STRING,
        choices=lambda settings: model_choices(settings.models_dir, kind),
        source="literal",
        widget="model_file",
        choices_help=lambda settings: (
            f"{what} are read from {model_folder(settings.models_dir, kind).resolve()} "
            f"(and {model_folder(settings.models_dir, 'unet' if kind == _DIFFUSION_MODELS else 'clip').resolve()})"
        ),
    )


def _identities(settings: Settings, names: tuple[str | None, ...]) -> Any:
    """The files' identities, so a replaced file is loaded again."""
    if not all(names):
        return None
    return tuple(file_identity(resolve_choice(settings.models_dir, _TEXT_ENCODERS, str(n))) for n in names)


def _text_encoder(ctx: Context, names: tuple[str, ...], clip_type: str) -> TextEncoder:
    paths = [resolve_choice(ctx.settings.models_dir, _TEXT_ENCODERS, name) for name in names]
    for path in paths:
        ctx.log.info("loading %s", path)
    return load_text_encoders(
        paths,
        _FAMILIES[clip_type],
        device=ctx.settings.device,
        precision=ctx.settings.precision,
        cache=ctx.models,
    )


@node("graphflow.loaders.diffusion_model", version="1.0.0", title="Load Diffusion Model", category="loaders")
class LoadDiffusionModel:
    """Load an SD3/SD3.5 or Flux transformer on its own from models/diffusion_models (or models/unet).

    Files in the original layout (flux1-dev, flux1-schnell, SD3 transformer files) or diffusers transformer
    folders; weights stay in the dtype they are stored in (fp8, fp16, bf16). `weight_dtype` fp8 stores the
    weights in 8 bits; they are computed in the model's dtype, layer by layer.
    """

    unet_name = _file_input(_DIFFUSION_MODELS, "diffusion models")
    weight_dtype = Input(WEIGHT_DTYPE, default="default", source="literal")
    model = Output(MODEL, "the flow transformer with its model sampling")

    @staticmethod
    def fingerprint(settings: Settings, unet_name: str | None = None, **_: Any) -> Any:
        """The file's identity, so a replaced file is loaded again."""
        if not unet_name:
            return None
        return file_identity(resolve_choice(settings.models_dir, _DIFFUSION_MODELS, unet_name))

    def run(self, ctx: Context, unet_name: str, weight_dtype: str) -> DiffusionModel:
        path = resolve_choice(ctx.settings.models_dir, _DIFFUSION_MODELS, unet_name)
        ctx.log.info("loading %s", path)
        options = load_options(ctx.settings)
        return load_flow_transformer(
            path, ctx.settings.device, weight_dtype, options["precision"], ctx.models, options["speed"]
        )


@node("graphflow.loaders.clip", version="1.0.0", title="Load CLIP", category="loaders")
class LoadClip:
    """Load one text encoder file from models/text_encoders (or models/clip): a CLIP or T5-XXL.

    `type` is the model family it encodes for; SD3 runs with any of its three text encoders.
    """

    clip_name = _file_input(_TEXT_ENCODERS, "text encoders")
    type = Input(CLIP_TYPE, default="stable_diffusion", source="literal")
    clip = Output(CLIP)

    @staticmethod
    def fingerprint(settings: Settings, clip_name: str | None = None, **_: Any) -> Any:
        """The file's identity, so a replaced file is loaded again."""
        return _identities(settings, (clip_name,))

    def run(self, ctx: Context, clip_name: str, type: str) -> TextEncoder:
        return _text_encoder(ctx, (clip_name,), type)


@node("graphflow.loaders.dual_clip", version="1.0.0", title="Dual CLIP Loader", category="loaders")
class DualClipLoader:
    """Load two text encoder files: CLIP-L and CLIP-G (sdxl, sd3) or CLIP-L and T5-XXL (flux), in any order."""

    clip_name1 = _file_input(_TEXT_ENCODERS, "text encoders")
    clip_name2 = _file_input(_TEXT_ENCODERS, "text encoders")
    type = Input(DUAL_CLIP_TYPE, default="flux", source="literal")
    clip = Output(CLIP)

    @staticmethod
    def fingerprint(settings: Settings, clip_name1: str | None = None, clip_name2: str | None = None, **_: Any) -> Any:
        """The files' identities, so a replaced file is loaded again."""
        return _identities(settings, (clip_name1, clip_name2))

    def run(self, ctx: Context, clip_name1: str, clip_name2: str, type: str) -> TextEncoder:
        return _text_encoder(ctx, (clip_name1, clip_name2), type)


@node("graphflow.loaders.triple_clip", version="1.0.0", title="Triple CLIP Loader", category="loaders")
class TripleClipLoader:
    """Load SD3's three text encoder files: CLIP-L, CLIP-G and T5-XXL (told apart by their weights)."""

    clip_name1 = _file_input(_TEXT_ENCODERS, "text encoders")
    clip_name2 = _file_input(_TEXT_ENCODERS, "text encoders")
    clip_name3 = _file_input(_TEXT_ENCODERS, "text encoders")
    clip = Output(CLIP)

    @staticmethod
    def fingerprint(
        settings: Settings,
        clip_name1: str | None = None,
        clip_name2: str | None = None,
        clip_name3: str | None = None,
        **_: Any,
    ) -> Any:
        """The files' identities, so a replaced file is loaded again."""
        return _identities(settings, (clip_name1, clip_name2, clip_name3))

    def run(self, ctx: Context, clip_name1: str, clip_name2: str, clip_name3: str) -> TextEncoder:
        return _text_encoder(ctx, (clip_name1, clip_name2, clip_name3), "sd3")


@hookimpl
def register_nodes(register) -> None:
    """Provide the loaders of diffusion models and text encoders."""
    for cls in (LoadDiffusionModel, LoadClip, DualClipLoader, TripleClipLoader):
        register(cls)
