"""GLIGEN nodes: load a box-grounding model, and ground a phrase in a box of the picture."""

from typing import Any

import torch

from graphflow.api import CLIP, CONDITIONING, GLIGEN, INT, STRING, Context, Input, Output, Settings, hookimpl, node
from graphflow.models.builtin import model_choices, resolve_choice
from graphflow.models.cache import file_identity
from graphflow.models.gligen import GligenBoxes, GligenModel, load_gligen
from graphflow.models.paths import model_folder
from graphflow.sampling.conditioning import Conditioning
from graphflow.text.chunks import tokenize_weighted
from graphflow.text.encoder import TextEncoder

KIND = "gligen"
MAX_SIZE = 16384
PIXELS_PER_CELL = 8


@node("graphflow.loaders.gligen", version="1.0.0", title="Load GLIGEN", category="loaders")
class LoadGligen:
    """Load a GLIGEN box-grounding model from models/gligen (e.g. gligen_sd14_textbox_pruned.safetensors)."""

    gligen_name = Input(
        STRING,
        choices=lambda settings: model_choices(settings.models_dir, KIND),
        choices_help=lambda settings: f"GLIGEN models are read from {model_folder(settings.models_dir, KIND)}",
        source="literal",
        widget="model_file",
    )
    gligen = Output(GLIGEN)

    @staticmethod
    def fingerprint(settings: Settings, gligen_name: str | None = None, **_: Any) -> Any:
        """The file's identity, so a replaced file is loaded again."""
        return file_identity(resolve_choice(settings.models_dir, KIND, gligen_name)) if gligen_name else None

    def run(self, ctx: Context, gligen_name: str) -> GligenModel:
        path = resolve_choice(ctx.settings.models_dir, KIND, gligen_name)
        ctx.log.info("loading %s", path)
        return load_gligen(path, cache=ctx.models)


def phrase_embedding(clip: TextEncoder, text: str, width: int) -> torch.Tensor:
    """The phrase's text embedding as GLIGEN reads it: the CLIP text model's unprojected pooled output [1, W]
    (the final-norm hidden state at the end token, last layer, first chunk), from the part of that width."""
    part = next((p for p in clip.parts if p.width == width), None)
    if part is None:
        widths = ", ".join(f"{p.name} {p.width}" for p in clip.parts)
        raise ValueError(
            f"clip: the GLIGEN model reads text embeddings of width {width}, this {clip.family} CLIP gives {widths}: "
            "use the text encoder of the checkpoint the GLIGEN model was made for"
        )
    ids = torch.tensor([tokenize_weighted(text, part.tokenizer)[0].ids], dtype=torch.long)
    with torch.no_grad():
        out = part.model(input_ids=ids.to(part.model.device))
    return out.pooler_output.float().cpu()


@node("graphflow.conditioning.gligen_box", version="1.0.0", title="GLIGEN Textbox Apply", category="conditioning")
class GligenTextboxApply:
    """Ground a phrase in a box of the picture (pixels, rounded down to multiples of 8) with a GLIGEN model.

    Boxes added to the same conditioning accumulate (up to 30); the last GLIGEN model given is the one used.
    """

    conditioning_to = Input(CONDITIONING)
    clip = Input(CLIP)
    gligen_textbox_model = Input(GLIGEN)
    text = Input(STRING, default="", multiline=True, description="the phrase to place in the box")
    width = Input(INT, default=64, min=8, max=MAX_SIZE, step=8)
    height = Input(INT, default=64, min=8, max=MAX_SIZE, step=8)
    x = Input(INT, default=0, min=0, max=MAX_SIZE, step=8)
    y = Input(INT, default=0, min=0, max=MAX_SIZE, step=8)
    result = Output(CONDITIONING)

    def run(
        self,
        ctx: Context,
        conditioning_to: Conditioning,
        clip: TextEncoder,
        gligen_textbox_model: GligenModel,
        text: str,
        width: int,
        height: int,
        x: int,
        y: int,
    ) -> Conditioning:
        embedding = phrase_embedding(clip, text, gligen_textbox_model.text_width)
        cell = PIXELS_PER_CELL
        box = (embedding, height // cell, width // cell, y // cell, x // cell)
        result = []
        for entry in conditioning_to:
            before = entry.gligen.boxes if isinstance(entry.gligen, GligenBoxes) else ()
            result.append(entry.replace(gligen=GligenBoxes(gligen_textbox_model, (*before, box))))
        return tuple(result)


@hookimpl
def register_nodes(register) -> None:
    """Provide the GLIGEN nodes."""
    register(LoadGligen)
    register(GligenTextboxApply)
