"""The CLIP value on edges: text models (CLIP, and T5 for the flow families) turning prompts into conditioning.

Family rules (as ComfyUI and the original Stable Diffusion code apply them):

- sd1, demo: one `clip_l`; last layer with the final layer norm; pad with EOS.
- sd2: one `clip_h` (OpenCLIP ViT-H; `clip_l` is accepted as its name too); penultimate layer
  with the final layer norm; pad with 0 (the tokenizer's pad_id says which).
- sdxl: `clip_l` and `clip_g`, both penultimate layer without the final layer norm, joined
  along features (l first); pooled = clip_g's projected pooled output of the first chunk.
- sd3, flux, flow-demo: CLIP and T5 parts joined as `graphflow.text.flow_families` describes.

`clip_skip` follows ComfyUI's CLIPSetLastLayer: -1 = last layer, -2 = penultimate, ...; it
replaces the family's default layer and keeps the family's final-norm rule. It applies to CLIP parts
only: T5 always gives its last layer, as in diffusers.

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
from transformers import CLIPTextModel, CLIPTextModelWithProjection, T5EncoderModel

from graphflow.patches import WeightPatch, applied
from graphflow.sampling.conditioning import CondEntry, Conditioning
from graphflow.text import flow_families as flow
from graphflow.text.chunks import TokenChunk, empty_chunk, tokenize_weighted
from graphflow.text.embedding_syntax import PREFIX, embedding_names
from graphflow.text.embeddings import Embedding
from graphflow.text.t5 import T5_PART
from graphflow.text.tokenizers import Tokenizer

EmbeddingLookup = Callable[[str], Embedding]
"""Gives the embedding a prompt names (e.g. graphflow.text.embedding_library.EmbeddingLoader)."""

PART_NAMES = ("clip_l", "clip_h", "clip_g", T5_PART)

_LAYOUTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "sd1": (("clip_l",),),
    "demo": (("clip_l",),),
    "sd2": (("clip_h",), ("clip_l",)),
    "sdxl": (("clip_l", "clip_g"),),
    **flow.LAYOUTS,
}
_DEFAULT_LAYER = {"sd1": -1, "demo": -1, "sd2": -2, "sdxl": -2, **flow.DEFAULT_LAYER}
_FINAL_NORM = {"sd1": True, "demo": True, "sd2": True, "sdxl": False, **flow.FINAL_NORM}
FAMILIES = tuple(_LAYOUTS)


class TextEncoderError(ValueError):
    """A text encoder whose parts do not fit its family, or a bad clip-skip setting."""


@dataclass(frozen=True, eq=False)
class ClipPart:
    """One text model with its tokenizer; `name` is "clip_l", "clip_h", "clip_g" or "t5xxl" (a T5EncoderModel)."""

    name: str
    model: CLIPTextModel | CLIPTextModelWithProjection | T5EncoderModel
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
    t5_length: int | None = None
    """Tokens per T5 row; None = the family's (SD3 256, Flux 512; Flux schnell pipelines use 256)."""
    missing_widths: Mapping[str, int] = dataclasses.field(default_factory=dict)
    """Widths of the zeros that stand in for missing SD3 parts, by part name; the real models' for any not given.

    One width per CLIP part serves its hidden states and its pooled vector (equal in the real models)."""
    absent: str = ""
    """Why this CLIP has no text models (a checkpoint that holds none: ComfyUI's CLIP None); using it says so."""

    def __post_init__(self) -> None:
        if self.absent:
            if self.parts or self.family not in _LAYOUTS:
                raise TextEncoderError("an absent CLIP has no parts and a known family")
            return
        object.__setattr__(self, "parts", _check_parts(tuple(self.parts), self.family))
        object.__setattr__(self, "missing_widths", {**flow.REAL_WIDTHS, **self.missing_widths})
        for part in self.parts:
            if part.name != T5_PART:
                _check_layer(self.layer, part)
        if self.t5_length is not None and self.t5_length < 2:
            raise TextEncoderError(f"t5_length must be at least 2 (a token and the end token), got {self.t5_length}")

    @property
    def layer(self) -> int:
        """The hidden layer used, counted from the end (-1 = last)."""
        return _DEFAULT_LAYER[self.family] if self.clip_skip is None else self.clip_skip

    def _require(self) -> None:
        if self.absent:
            raise TextEncoderError(self.absent)

    @property
    def context_dim(self) -> int:
        """Width D of the context this encoder produces (what the UNet's cross-attention expects)."""
        self._require()
        widths = {part.name: part.width for part in self.parts}
        if self.family == "sd3":
            return self._zero_widths()[T5_PART]
        if self.family == "flux":
            return widths[T5_PART]
        return sum(widths.values())

    @property
    def pooled_dim(self) -> int | None:
        """Width of the pooled output (SDXL and the flow families), or None when this family gives none."""
        self._require()
        if self.family == "sd3":
            return sum(self._zero_widths()[name] for name in ("clip_l", "clip_g"))
        if self.family in ("flux", "flow-demo"):
            return _pooled_width(self.parts[0], projected=False)
        return int(self.parts[-1].model.config.projection_dim) if self.family == "sdxl" else None

    def with_clip_skip(self, layer: int) -> TextEncoder:
        """A copy that stops at `layer` (CLIPSetLastLayer: -1 last, -2 penultimate, ...)."""
        return dataclasses.replace(self, clip_skip=layer)

    def with_patches(self, patches: Mapping[str, Sequence[WeightPatch]]) -> TextEncoder:
        """A copy whose parts carry the given patches (by part name) after the ones they have."""
        self._require()
        unknown = set(patches) - {part.name for part in self.parts}
        if unknown:
            raise TextEncoderError(f"no text encoder part {sorted(unknown)[0]!r} in this {self.family} CLIP")
        parts = tuple(dataclasses.replace(p, patches=(*p.patches, *patches.get(p.name, ()))) for p in self.parts)
        return dataclasses.replace(self, parts=parts)

    def encode(self, text: str, embeddings: EmbeddingLookup | None = None) -> Conditioning:
        """Encode a prompt: context [1, 77*k, D] (k chunks; flow families as flow_families says), plus pooled.

        `embeddings` finds the embeddings the prompt names (`embedding:name`); a prompt naming one
        without it is an error. Only CLIP parts take embeddings: T5 reads the prompt without them.
        """
        return self.encode_parts({part.name: text for part in self.parts}, embeddings)

    def encode_parts(self, texts: Mapping[str, str | None], embeddings: EmbeddingLookup | None = None) -> Conditioning:
        """Encode each part's own prompt (ComfyUI's CLIPTextEncodeSD3/Flux), by part name.

        An SD3 part whose text is None is left out, as if it were missing (see flow_families).
        """
        self._require()
        names = [part.name for part in self.parts]
        if sorted(texts) != sorted(names):
            raise TextEncoderError(
                f"this {self.family} CLIP takes prompts for {', '.join(names)}, got {', '.join(texts)}"
            )
        if self.family != "sd3" and any(text is None for text in texts.values()):
            raise TextEncoderError(f"every part of a {self.family} CLIP needs a prompt")
        active = tuple(part for part in self.parts if texts[part.name] is not None)
        found = _embeddings_named(" ".join(text for text in texts.values() if text), embeddings)
        vectors = [
            {} if part.name == T5_PART else {name: e.for_part(part.name, part.width) for name, e in found.items()}
            for part in active
        ]
        with ExitStack() as stack:
            for part in active:
                stack.enter_context(applied(part.model, part.patches))
            return self._encode(active, [str(texts[part.name]) for part in active], vectors, dict.fromkeys(found, 0))

    def _encode(
        self,
        parts: Sequence[ClipPart],
        texts: Sequence[str],
        vectors: Sequence[Mapping[str, torch.Tensor]],
        skipped: Mapping[str, int],
    ) -> Conditioning:
        """Encode active parts; `skipped` gives each named embedding 0 tokens, for T5."""
        token_rows = [
            tokenize_weighted(
                text,
                part.tokenizer,
                skipped if part.name == T5_PART else {name: len(v) for name, v in part_vectors.items()},
                max_length=self._row_length(part),
            )
            for part, text, part_vectors in zip(parts, texts, vectors, strict=True)
        ]
        clip_rows = [rows for part, rows in zip(parts, token_rows, strict=True) if part.name != T5_PART]
        count = max(map(len, clip_rows), default=0)
        outputs: dict[str, flow.PartOutput] = {}
        for part, rows, part_vectors in zip(parts, token_rows, vectors, strict=True):
            empty = empty_chunk(part.tokenizer, self._row_length(part))
            if part.name != T5_PART:
                rows = rows + [empty] * (count - len(rows))
            hidden, first_pooled = self._run(part, rows, part_vectors)
            if any(row.weighted for row in rows):
                reference, _ = self._run(part, [empty])
                hidden = _apply_weights(hidden, reference[0], rows)
            outputs[part.name] = (hidden.reshape(1, -1, part.width), first_pooled)
        if self.family in flow.FLOW_FAMILIES:
            context, pooled = flow.join(self.family, outputs, self._zero_widths())
            return (CondEntry(context=context, pooled=pooled, extras=flow.extras(self.family)),)
        sdxl_pooled = outputs["clip_g"][1] if self.family == "sdxl" else None
        return (CondEntry(context=torch.cat([hidden for hidden, _ in outputs.values()], dim=-1), pooled=sdxl_pooled),)

    def _zero_widths(self) -> dict[str, int]:
        """Widths for the zeros of parts left out: a present part's own (CLIP: pooled), else missing_widths."""
        own = {p.name: p.width if p.name == T5_PART else _pooled_width(p, projected=True) for p in self.parts}
        return {**self.missing_widths, **own}

    def _row_length(self, part: ClipPart) -> int:
        """Tokens per row for a part: its tokenizer's (CLIP: 77), or the family's T5 length."""
        if part.name != T5_PART:
            return part.tokenizer.max_length
        return self.t5_length or flow.T5_LENGTH.get(self.family, part.tokenizer.max_length)

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
        ids = ids.to(part.model.device)
        if part.name == T5_PART:
            with torch.no_grad():
                return part.model(input_ids=ids).last_hidden_state.float().cpu(), None
        with torch.no_grad(), _slot_vectors(part.model, row, vectors):
            # The text transformer itself, for the pooler output that CLIPTextModelWithProjection does not return.
            out = getattr(part.model, "text_model", part.model)(input_ids=ids, output_hidden_states=True)
            norm = _FINAL_NORM[self.family]
            if self.layer == -1 and norm:
                hidden = out.last_hidden_state
            else:
                hidden = out.hidden_states[self.layer]
                if norm:
                    hidden = _final_layer_norm(part.model)(hidden)
            pooled: torch.Tensor | None = out.pooler_output
            projection = getattr(part.model, "text_projection", None)
            if self.family not in flow.FLOW_FAMILIES:  # SD1/SD2/SDXL: only a projected pooled output
                pooled = None if projection is None else projection(pooled)
            elif flow.PROJECTED_POOLED[self.family] and projection is not None:
                pooled = projection(pooled)
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
        if part.name == T5_PART:
            if not isinstance(part.model, T5EncoderModel):
                raise TextEncoderError(f"t5xxl must be a transformers T5EncoderModel, not {type(part.model).__name__}")
            if not isinstance(part.tokenizer, Tokenizer) or part.tokenizer.bos_id is not None:
                raise TextEncoderError(f"t5xxl needs a T5 tokenizer (no start token), not {part.tokenizer!r}")
            continue
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


def _pooled_width(part: ClipPart, projected: bool) -> int:
    """Width of a CLIP part's pooled vector: its projection's output when `projected` and it has one."""
    projection = getattr(part.model, "text_projection", None)
    return int(projection.out_features) if projected and projection is not None else part.width


def _check_layer(layer: int, part: ClipPart) -> None:
    """Require -num_layers <= layer <= -1 (ComfyUI's CLIPSetLastLayer convention)."""
    if isinstance(layer, bool) or not isinstance(layer, int) or not -part.num_layers <= layer <= -1:
        raise TextEncoderError(
            f"clip skip {layer!r} is out of range for {part.name} ({part.num_layers} layers): use -1 (last layer) "
            f"to -{part.num_layers}; A1111's 'clip skip 2' is -2 here"
        )
