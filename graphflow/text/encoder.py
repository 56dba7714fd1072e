"""The CLIP value on edges: one or two CLIP text models with tokenizers, turning prompts into conditioning.

Family rules (as ComfyUI and the original Stable Diffusion code apply them):

- sd1, demo: one `clip_l`; last layer with the final layer norm; pad with EOS.
- sd2: one `clip_h` (OpenCLIP ViT-H; `clip_l` is accepted as its name too); penultimate layer
  with the final layer norm; pad with 0 (the tokenizer's pad_id says which).
- sdxl: `clip_l` and `clip_g`, both penultimate layer without the final layer norm, joined
  along features (l first); pooled = clip_g's projected pooled output of the first chunk.

`clip_skip` follows ComfyUI's CLIPSetLastLayer: -1 = last layer, -2 = penultimate, ...; it
replaces the family's default layer and keeps the family's final-norm rule.

Textual-inversion embeddings (`embedding:name` in a prompt) reach the model through a forward hook
on its token-embedding layer, registered for one row at a time: the cached model is never changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from transformers import CLIPTextModel, CLIPTextModelWithProjection

from graphflow.patches import WeightPatch, applied
from graphflow.sampling.conditioning import CondEntry, Conditioning
from graphflow.text.chunks import TokenChunk, empty_chunk, tokenize_weighted
from graphflow.text.embedding_syntax import PREFIX, embedding_names
from graphflow.text.embeddings import Embedding
from graphflow.text.tokenizers import Tokenizer

EmbeddingLookup = Callable[[str], Embedding]
"""Gives the embedding a prompt names (e.g. graphflow.text.embedding_library.EmbeddingLoader)."""

PART_NAMES = ("clip_l", "clip_h", "clip_g")

_LAYOUTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "sd1": (("clip_l",),),
    "demo": (("clip_l",),),
    "sd2": (("clip_h",), ("clip_l",)),
    "sdxl": (("clip_l", "clip_g"),),
}
_DEFAULT_LAYER = {"sd1": -1, "demo": -1, "sd2": -2, "sdxl": -2}
_FINAL_NORM = {"sd1": True, "demo": True, "sd2": True, "sdxl": False}
FAMILIES = tuple(_LAYOUTS)


class TextEncoderError(ValueError):
    """A text encoder whose parts do not fit its family, or a bad clip-skip setting."""


@dataclass(frozen=True, eq=False)
class ClipPart:
    """One CLIP text model with its tokenizer; `name` is "clip_l", "clip_h" or "clip_g"."""

    name: str
    model: CLIPTextModel | CLIPTextModelWithProjection
    tokenizer: Tokenizer
    patches: tuple[WeightPatch, ...] = ()
    """Weight patches (e.g. a LoRA's text-encoder part), applied only while this part encodes."""

    @property
    def num_layers(self) -> int:
        """Number of transformer layers."""
        return int(self.model.config.num_hidden_layers)

    @property
    def width(self) -> int:
        """Hidden size: this part's share of the context width."""
        return int(self.model.config.hidden_size)


@dataclass(frozen=True, eq=False)
class TextEncoder:
    """Encodes prompts (with weights, any length) into CONDITIONING for one model family."""

    parts: tuple[ClipPart, ...]
    family: str
    clip_skip: int | None = None
    """ComfyUI's stop_at_clip_layer (-1 last, -2 penultimate, ...); None = the family's default."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", _check_parts(tuple(self.parts), self.family))
        for part in self.parts:
            _check_layer(self.layer, part)

    @property
    def layer(self) -> int:
        """The hidden layer used, counted from the end (-1 = last)."""
        return _DEFAULT_LAYER[self.family] if self.clip_skip is None else self.clip_skip

    @property
    def context_dim(self) -> int:
        """Width D of the context this encoder produces (what the UNet's cross-attention expects)."""
        return sum(part.width for part in self.parts)

    @property
    def pooled_dim(self) -> int | None:
        """Width of the pooled output (SDXL), or None when this family gives none."""
        return int(self.parts[-1].model.config.projection_dim) if self.family == "sdxl" else None

    def with_clip_skip(self, layer: int) -> TextEncoder:
        """A copy that stops at `layer` (CLIPSetLastLayer: -1 last, -2 penultimate, ...)."""
        return dataclasses.replace(self, clip_skip=layer)

    def with_patches(self, patches: Mapping[str, Sequence[WeightPatch]]) -> TextEncoder:
        """A copy whose parts carry the given patches (by part name) after the ones they have."""
        unknown = set(patches) - {part.name for part in self.parts}
        if unknown:
            raise TextEncoderError(f"no text encoder part {sorted(unknown)[0]!r} in this {self.family} CLIP")
        parts = tuple(dataclasses.replace(p, patches=(*p.patches, *patches.get(p.name, ()))) for p in self.parts)
        return dataclasses.replace(self, parts=parts)

    def encode(self, text: str, embeddings: EmbeddingLookup | None = None) -> Conditioning:
        """Encode a prompt: context [1, 77*k, D] (k chunks), plus pooled [1, P] for SDXL.

        `embeddings` finds the embeddings the prompt names (`embedding:name`); a prompt naming one
        without it is an error.
        """
        found = _embeddings_named(text, embeddings)
        vectors = [{name: e.for_part(part.name, part.width) for name, e in found.items()} for part in self.parts]
        with ExitStack() as stack:
            for part in self.parts:
                stack.enter_context(applied(part.model, part.patches))
            return self._encode(text, vectors)

    def _encode(self, text: str, vectors: Sequence[Mapping[str, torch.Tensor]]) -> Conditioning:
        token_rows = [
            tokenize_weighted(text, part.tokenizer, {name: len(v) for name, v in part_vectors.items()})
            for part, part_vectors in zip(self.parts, vectors, strict=True)
        ]
        count = max(len(rows) for rows in token_rows)
        contexts: list[torch.Tensor] = []
        pooled: torch.Tensor | None = None
        for part, rows, part_vectors in zip(self.parts, token_rows, vectors, strict=True):
            rows = rows + [empty_chunk(part.tokenizer)] * (count - len(rows))
            hidden, first_pooled = self._run(part, rows, part_vectors)
            if any(row.weighted for row in rows):
                empty, _ = self._run(part, [empty_chunk(part.tokenizer)])
                hidden = _apply_weights(hidden, empty[0], rows)
            contexts.append(hidden.reshape(1, -1, part.width))
            if part.name == "clip_g" and self.family == "sdxl":
                pooled = first_pooled
        return (CondEntry(context=torch.cat(contexts, dim=-1), pooled=pooled),)

    def _run(
        self, part: ClipPart, rows: Sequence[TokenChunk], vectors: Mapping[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Run one part on token rows: hidden states [B, L, W] and the first row's projected pooled [1, P].

        Rows run one at a time so a chunk encodes to the same bits whatever the prompt's length.
        The pooled output is None for a model without a projection. `vectors` are the part's
        embedding vectors by name, for the rows' slots.
        """
        outputs = [self._run_row(part, row, vectors or {}) for row in rows]
        return torch.cat([hidden for hidden, _ in outputs]), outputs[0][1]

    def _run_row(
        self, part: ClipPart, row: TokenChunk, vectors: Mapping[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Run one part on one token row: hidden [1, L, W] and projected pooled [1, P] or None."""
        ids = torch.tensor([row.ids], dtype=torch.long)
        vocab = int(part.model.config.vocab_size)
        if int(ids.max()) >= vocab:
            raise TextEncoderError(
                f"{part.name}: the tokenizer gives id {int(ids.max())} but the text model has only {vocab} "
                "token embeddings; the tokenizer does not belong to this text model"
            )
        with torch.no_grad(), _slot_vectors(part.model, row, vectors):
            out = part.model(input_ids=ids.to(part.model.device), output_hidden_states=True)
            norm = _FINAL_NORM[self.family]
            if self.layer == -1 and norm:
                hidden = out.last_hidden_state
            else:
                hidden = out.hidden_states[self.layer]
                if norm:
                    hidden = _final_layer_norm(part.model)(hidden)
        pooled = getattr(out, "text_embeds", None)
        return hidden.float().cpu(), None if pooled is None else pooled.float().cpu()

    def __repr__(self) -> str:
        names = ", ".join(part.name for part in self.parts)
        return f"TextEncoder(family={self.family!r}, parts=[{names}], layer={self.layer})"


def _embeddings_named(text: str, lookup: EmbeddingLookup | None) -> dict[str, Embedding]:
    """The embeddings a prompt names, by name."""
    names = embedding_names(text)
    if names and lookup is None:
        raise TextEncoderError(
            f"the prompt names {PREFIX}{names[0]}, but this text encoder was not given a place to find embeddings"
        )
    return {name: lookup(name) for name in names} if lookup is not None else {}


@contextmanager
def _slot_vectors(model: Any, row: TokenChunk, vectors: Mapping[str, torch.Tensor]) -> Iterator[None]:
    """While the block runs, the model's token embeddings at the row's slots are the embedding vectors."""
    if not row.slots:
        yield
        return
    positions = [slot.position for slot in row.slots]
    rows = torch.stack([vectors[slot.name][slot.index] for slot in row.slots])

    def replace(_module: torch.nn.Module, _inputs: Any, output: torch.Tensor) -> torch.Tensor:
        output = output.clone()
        output[:, positions] = rows.to(device=output.device, dtype=output.dtype)
        return output

    handle = model.get_input_embeddings().register_forward_hook(replace)
    try:
        yield
    finally:
        handle.remove()


def _apply_weights(hidden: torch.Tensor, empty: torch.Tensor, rows: Sequence[TokenChunk]) -> torch.Tensor:
    """Move weighted tokens away from (w > 1) or towards (w < 1) the empty prompt's embedding."""
    weights = torch.tensor([row.weights for row in rows], dtype=hidden.dtype).unsqueeze(-1)
    scaled = empty + (hidden - empty) * weights
    # Tokens of weight 1 keep their exact values rather than a round trip through the formula.
    return torch.where(weights == 1.0, hidden, scaled)


def _final_layer_norm(model: Any) -> torch.nn.Module:
    """The final layer norm of a CLIP text model, wherever this transformers version keeps it."""
    return getattr(model, "text_model", model).final_layer_norm


def _check_parts(parts: tuple[ClipPart, ...], family: str) -> tuple[ClipPart, ...]:
    """Validate parts against the family and return them in the family's feature order."""
    if family not in _LAYOUTS:
        raise TextEncoderError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}")
    names = [part.name for part in parts]
    layout = next((order for order in _LAYOUTS[family] if sorted(order) == sorted(names)), None)
    if layout is None:
        wanted = " or ".join(" + ".join(order) for order in _LAYOUTS[family])
        raise TextEncoderError(f"a {family} text encoder needs {wanted}; got {' + '.join(names) or 'no parts'}")
    for part in parts:
        if not isinstance(part.model, (CLIPTextModel, CLIPTextModelWithProjection)):
            raise TextEncoderError(
                f"{part.name} must be a transformers CLIPTextModel or CLIPTextModelWithProjection, "
                f"not {type(part.model).__name__}"
            )
        if not isinstance(part.tokenizer, Tokenizer):
            raise TextEncoderError(f"{part.name}: {type(part.tokenizer).__name__} is not a Tokenizer")
        positions = int(part.model.config.max_position_embeddings)
        if part.tokenizer.max_length > positions:
            raise TextEncoderError(
                f"{part.name}: tokenizer chunks of {part.tokenizer.max_length} tokens exceed the model's "
                f"{positions} positions"
            )
    if family == "sdxl":
        clip_g = next(part for part in parts if part.name == "clip_g")
        if not isinstance(clip_g.model, CLIPTextModelWithProjection):
            raise TextEncoderError(
                "sdxl's clip_g must be a CLIPTextModelWithProjection: SDXL needs its projected pooled output"
            )
    by_name = {part.name: part for part in parts}
    return tuple(by_name[name] for name in layout)


def _check_layer(layer: int, part: ClipPart) -> None:
    """Require -num_layers <= layer <= -1 (ComfyUI's CLIPSetLastLayer convention)."""
    if isinstance(layer, bool) or not isinstance(layer, int) or not -part.num_layers <= layer <= -1:
        raise TextEncoderError(
            f"clip skip {layer!r} is out of range for {part.name} ({part.num_layers} layers): use -1 (last layer) "
            f"to -{part.num_layers}; A1111's 'clip skip 2' is -2 here"
        )
