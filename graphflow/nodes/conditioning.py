"""Conditioning nodes: encode prompts, clip skip, and combine / average / concatenate conditionings."""

from typing import Any

from graphflow.api import CLIP, CONDITIONING, FLOAT, INT, STRING, Context, Input, Output, Settings, hookimpl, node
from graphflow.sampling import conditioning as cond
from graphflow.sampling.conditioning import Conditioning
from graphflow.text.embedding_library import EmbeddingLoader, embedding_identities, missing_embeddings_message
from graphflow.text.embedding_syntax import embedding_names
from graphflow.text.encoder import TextEncoder

PROMPT_HELP = "the prompt; `(word:1.3)` weights words, `embedding:name` uses an embedding from models/embeddings"


def check_embeddings(settings: Settings, text: str) -> str | None:
    """Name the embeddings a typed-in prompt uses that cannot be found (checked before a run)."""
    return missing_embeddings_message(settings.models_dir, embedding_names(text))


def embedding_files(settings: Settings, text: str | None = None, **_: Any) -> tuple[Any, ...] | None:
    """The identities of the embedding files a typed-in prompt uses: an edited file is read again."""
    names = embedding_names(text) if text is not None else []
    return embedding_identities(settings.models_dir, names) if names else None


def _encode(ctx: Context, clip: TextEncoder, text: str) -> Conditioning:
    return clip.encode(text, embeddings=EmbeddingLoader(ctx.settings.models_dir, ctx.models))


@node("graphflow.conditioning.encode", version="1.1.0", title="Encode Prompt", category="conditioning")
class EncodePrompt:
    """Encode a prompt with the model's text encoder.

    Weighting works as in ComfyUI and A1111: `(word:1.3)`, `(word)` = x1.1, `[word]` = /1.1,
    `\\(` for a literal bracket. Prompts longer than 75 tokens are encoded in chunks.
    `embedding:name` puts a textual-inversion embedding from models/embeddings (or a shipped one)
    in the prompt; `(embedding:name:1.2)` weights it.
    """

    clip = Input(CLIP)
    text = Input(STRING, default="", multiline=True, check=check_embeddings, description=PROMPT_HELP)
    conditioning = Output(CONDITIONING)

    fingerprint = staticmethod(embedding_files)

    def run(self, ctx: Context, clip: TextEncoder, text: str) -> Conditioning:
        return _encode(ctx, clip, text)


@node("graphflow.conditioning.encode_sdxl", version="1.1.0", title="Encode Prompt (SDXL)", category="conditioning")
class EncodePromptSdxl:
    """Encode a prompt for SDXL with its size conditioning (original size, crop, target size).

    The prompt syntax is Encode Prompt's, embeddings included (an SDXL embedding has clip_l and clip_g vectors).
    """

    clip = Input(CLIP)
    text = Input(STRING, default="", multiline=True, check=check_embeddings, description=PROMPT_HELP)
    width = Input(INT, default=1024, min=64, max=16384, step=8)
    height = Input(INT, default=1024, min=64, max=16384, step=8)
    crop_w = Input(INT, default=0, min=0, max=16384)
    crop_h = Input(INT, default=0, min=0, max=16384)
    target_width = Input(INT, default=1024, min=64, max=16384, step=8)
    target_height = Input(INT, default=1024, min=64, max=16384, step=8)
    conditioning = Output(CONDITIONING)

    fingerprint = staticmethod(embedding_files)

    def run(
        self,
        ctx: Context,
        clip: TextEncoder,
        text: str,
        width: int,
        height: int,
        crop_w: int,
        crop_h: int,
        target_width: int,
        target_height: int,
    ) -> Conditioning:
        if clip.family != "sdxl":
            raise ValueError(
                f"this node needs an SDXL text encoder, but the CLIP input is {clip.family}; use Encode Prompt instead"
            )
        extras = {
            "width": width,
            "height": height,
            "crop_w": crop_w,
            "crop_h": crop_h,
            "target_width": target_width,
            "target_height": target_height,
        }
        return tuple(entry.replace(extras={**entry.extras, **extras}) for entry in _encode(ctx, clip, text))


@node("graphflow.conditioning.clip_skip", version="1.0.0", title="CLIP Set Last Layer", category="conditioning")
class ClipSetLastLayer:
    """Use an earlier layer of the text encoder (-1 = last, -2 = penultimate, ...), as ComfyUI's CLIPSetLastLayer."""

    clip = Input(CLIP)
    stop_at_clip_layer = Input(INT, default=-1, min=-24, max=-1)
    result = Output(CLIP)

    def run(self, ctx: Context, clip: TextEncoder, stop_at_clip_layer: int) -> TextEncoder:
        return clip.with_clip_skip(stop_at_clip_layer)


@node("graphflow.conditioning.combine", version="1.0.0", title="Combine Conditioning", category="conditioning")
class CombineConditioning:
    """Use both conditionings: the sampler averages their predictions."""

    first = Input(CONDITIONING)
    second = Input(CONDITIONING)
    conditioning = Output(CONDITIONING)

    def run(self, ctx: Context, first: Conditioning, second: Conditioning) -> Conditioning:
        return cond.combine(first, second)


@node("graphflow.conditioning.average", version="1.0.0", title="Average Conditioning", category="conditioning")
class AverageConditioning:
    """Blend two conditionings' embeddings: `to_strength` of `to`, the rest of `source`."""

    to = Input(CONDITIONING)
    source = Input(CONDITIONING)
    to_strength = Input(FLOAT, default=1.0, min=0.0, max=1.0, step=0.01, widget="slider")
    conditioning = Output(CONDITIONING)

    def run(self, ctx: Context, to: Conditioning, source: Conditioning, to_strength: float) -> Conditioning:
        return cond.average(to, source, to_strength)


@node("graphflow.conditioning.concat", version="1.0.0", title="Concatenate Conditioning", category="conditioning")
class ConcatConditioning:
    """Append `source`'s tokens after `to`'s, as if the prompts were one longer prompt."""

    to = Input(CONDITIONING)
    source = Input(CONDITIONING)
    conditioning = Output(CONDITIONING)

    def run(self, ctx: Context, to: Conditioning, source: Conditioning) -> Conditioning:
        return cond.concat(to, source)


@hookimpl
def register_nodes(register) -> None:
    """Provide the conditioning nodes."""
    for cls in (
        EncodePrompt,
        EncodePromptSdxl,
        ClipSetLastLayer,
        CombineConditioning,
        AverageConditioning,
        ConcatConditioning,
    ):
        register(cls)
