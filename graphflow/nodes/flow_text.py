"""Prompt nodes for the flow families: a prompt per text encoder (ComfyUI's CLIPTextEncodeSD3, CLIPTextEncodeFlux)."""

from typing import Any

from graphflow.api import CLIP, CONDITIONING, FLOAT, STRING, Context, Input, Output, Settings, enum_type, hookimpl, node
from graphflow.nodes.conditioning import PROMPT_HELP, check_embeddings, embedding_files
from graphflow.sampling.conditioning import Conditioning
from graphflow.text.embedding_library import EmbeddingLoader
from graphflow.text.encoder import TextEncoder
from graphflow.text.flow_families import FLUX_GUIDANCE

EMPTY_PADDING = enum_type("SD3_EMPTY_PADDING", ("none", "empty_padding"))
T5_HELP = "the prompt T5 reads: `(word:1.3)` weights words; embeddings are for the CLIP prompts only"


def _prompts_fingerprint(settings: Settings, clip_l: str | None = None, clip_g: str | None = None, **_: Any) -> Any:
    """The identities of the embedding files the CLIP prompts use."""
    return embedding_files(settings, " ".join(text for text in (clip_l, clip_g) if text))


def _require(clip: TextEncoder, family: str, node_title: str) -> None:
    if clip.family != family:
        raise ValueError(
            f"{node_title} needs a {family} text encoder, but the CLIP input is {clip.family}; "
            "use Encode Prompt for other models"
        )


@node("graphflow.conditioning.encode_sd3", version="1.0.0", title="Encode Prompt (SD3)", category="conditioning")
class EncodePromptSd3:
    """Encode a prompt per SD3 text encoder: CLIP-L, CLIP-G and T5-XXL each read their own text.

    empty_padding "none" (ComfyUI's default) leaves out what has no text: empty CLIP-L and CLIP-G
    prompts add no CLIP tokens (and a zero pooled vector), an empty T5 prompt adds no T5 tokens; when
    only one CLIP prompt is empty it encodes the empty prompt. "empty_padding" encodes every empty
    prompt as the empty prompt.
    """

    clip = Input(CLIP)
    clip_l = Input(STRING, default="", multiline=True, check=check_embeddings, description=PROMPT_HELP)
    clip_g = Input(STRING, default="", multiline=True, check=check_embeddings, description=PROMPT_HELP)
    t5xxl = Input(STRING, default="", multiline=True, description=T5_HELP)
    empty_padding = Input(EMPTY_PADDING, default="none")
    conditioning = Output(CONDITIONING)

    fingerprint = staticmethod(_prompts_fingerprint)

    def run(
        self, ctx: Context, clip: TextEncoder, clip_l: str, clip_g: str, t5xxl: str, empty_padding: str
    ) -> Conditioning:
        _require(clip, "sd3", "Encode Prompt (SD3)")
        texts: dict[str, str | None] = {"clip_l": clip_l, "clip_g": clip_g, "t5xxl": t5xxl}
        if empty_padding == "none":
            drop = ["clip_l", "clip_g"] if not clip_l and not clip_g else []
            texts.update({name: None for name in [*drop, *([] if t5xxl else ["t5xxl"])]})
        present = {part.name for part in clip.parts}
        return clip.encode_parts({name: text for name, text in texts.items() if name in present}, _embeddings(ctx))


@node("graphflow.conditioning.encode_flux", version="1.0.0", title="Encode Prompt (Flux)", category="conditioning")
class EncodePromptFlux:
    """Encode a prompt for Flux: CLIP-L reads `clip_l` (its pooled vector), T5-XXL reads `t5xxl` (the context).

    `guidance` is the distilled guidance value Flux dev is conditioned on (FluxGuidance; ComfyUI's 3.5).
    """

    clip = Input(CLIP)
    clip_l = Input(STRING, default="", multiline=True, check=check_embeddings, description=PROMPT_HELP)
    t5xxl = Input(STRING, default="", multiline=True, description=T5_HELP)
    guidance = Input(FLOAT, default=FLUX_GUIDANCE, min=0.0, max=100.0, step=0.1)
    conditioning = Output(CONDITIONING)

    fingerprint = staticmethod(_prompts_fingerprint)

    def run(self, ctx: Context, clip: TextEncoder, clip_l: str, t5xxl: str, guidance: float) -> Conditioning:
        _require(clip, "flux", "Encode Prompt (Flux)")
        encoded = clip.encode_parts({"clip_l": clip_l, "t5xxl": t5xxl}, _embeddings(ctx))
        return tuple(entry.replace(extras={**entry.extras, "guidance": guidance}) for entry in encoded)


def _embeddings(ctx: Context) -> EmbeddingLoader:
    return EmbeddingLoader(ctx.settings.models_dir, ctx.models)


@hookimpl
def register_nodes(register) -> None:
    """Provide the flow-family prompt nodes."""
    for cls in (EncodePromptSd3, EncodePromptFlux):
        register(cls)
