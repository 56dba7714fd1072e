"""Weighted prompt -> fixed-length token chunks (CLIP: BOS + up to 75 tokens + EOS + padding; T5: no BOS).

An `embedding:name` takes as many token positions as the embedding has vectors; those positions
hold a placeholder id and are listed in the chunk's `slots`, for the encoder to fill in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from graphflow.text.embedding_syntax import PREFIX, EmbeddingRef, split_references
from graphflow.text.tokenizers import Tokenizer
from graphflow.text.weights import parse_weighted

BREAK = "BREAK"
"""A word that ends the current chunk early (A1111's syntax)."""

KEEP_WHOLE_BELOW = 8
"""A word of fewer tokens than this moves whole to the next chunk rather than being split (as ComfyUI)."""


Token = int | tuple[str, int]
"""A token id, or (embedding name, vector index)."""


@dataclass(frozen=True)
class EmbeddingSlot:
    """A token position that takes vector `index` of the embedding `name` instead of a token's embedding."""

    position: int
    name: str
    index: int


@dataclass(frozen=True)
class TokenChunk:
    """One model input row: `ids` and per-token `weights`, both `max_length` long, and its embedding slots."""

    ids: tuple[int, ...]
    weights: tuple[float, ...]
    slots: tuple[EmbeddingSlot, ...] = ()

    @property
    def weighted(self) -> bool:
        """Whether any token has a weight other than 1."""
        return any(w != 1.0 for w in self.weights)


def tokenize_weighted(
    text: str,
    tokenizer: Tokenizer,
    embedding_lengths: Mapping[str, int] | None = None,
    max_length: int | None = None,
) -> list[TokenChunk]:
    """Tokenize a prompt with weights into chunks; an empty prompt gives one empty chunk.

    `embedding_lengths` gives the number of vectors of each embedding the prompt names (0 leaves it out).
    `max_length` is the chunk length, the tokenizer's by default.
    """
    length = max_length or tokenizer.max_length
    capacity = length - _specials(tokenizer)
    if capacity < 1:
        raise ValueError(f"chunks of {length} tokens leave no room between the start and end tokens")
    rows: list[list[tuple[Token, float]]] = [[]]
    for word in _weighted_words(text, tokenizer, embedding_lengths or {}):
        if word is None:
            rows.append([])
            continue
        row = rows[-1]
        if row and len(row) + len(word) > capacity and len(word) < KEEP_WHOLE_BELOW:
            rows.append(row := [])
        while word:
            room = capacity - len(row)
            row.extend(word[:room])
            word = word[room:]
            if word:
                rows.append(row := [])
    return [_pad(row, tokenizer, length) for row in rows]


def empty_chunk(tokenizer: Tokenizer, max_length: int | None = None) -> TokenChunk:
    """The chunk of the empty prompt: BOS, EOS, padding (the reference point for weighting)."""
    return _pad([], tokenizer, max_length or tokenizer.max_length)


def _specials(tokenizer: Tokenizer) -> int:
    """Special tokens around a chunk's text: BOS and EOS, or EOS alone for a tokenizer without BOS (T5)."""
    return 1 if tokenizer.bos_id is None else 2


def _weighted_words(
    text: str, tokenizer: Tokenizer, embedding_lengths: Mapping[str, int]
) -> list[list[tuple[Token, float]] | None]:
    """Each whitespace-separated word (an embedding counts as a word) as (token, weight); None marks a BREAK."""
    words: list[list[tuple[Token, float]] | None] = []
    for segment, weight in parse_weighted(text):
        for word in segment.split():
            if word == BREAK:
                words.append(None)
                continue
            for piece in split_references(word):
                if isinstance(piece, EmbeddingRef):
                    words.append([((piece.name, i), weight) for i in range(_length(piece.name, embedding_lengths))])
                elif ids := tokenizer.ids(piece):
                    words.append([(i, weight) for i in ids])
    return words


def _length(name: str, embedding_lengths: Mapping[str, int]) -> int:
    if name not in embedding_lengths:
        raise ValueError(f"the prompt names {PREFIX}{name}, but no vectors were given for it")
    return embedding_lengths[name]


def _pad(row: list[tuple[Token, float]], tokenizer: Tokenizer, length: int) -> TokenChunk:
    """Wrap tokens in BOS (when the tokenizer has one) and EOS, pad to `length`, and note the embedding slots.

    A slot's id is BOS: never the EOS id, and below it in CLIP's vocabulary, so CLIP's pooling
    (at the first EOS id, or at the highest id in older configs) still finds the end of the text.
    """
    padding = length - len(row) - _specials(tokenizer)
    bos = tokenizer.bos_id
    ids = [] if bos is None else [bos]
    slots: list[EmbeddingSlot] = []
    for position, (token, _) in enumerate(row, start=len(ids)):
        if isinstance(token, tuple):
            if bos is None:
                raise ValueError("embeddings need a tokenizer with a start token to mark their places")
            slots.append(EmbeddingSlot(position, *token))
            ids.append(bos)
        else:
            ids.append(token)
    ids += [tokenizer.eos_id] + [tokenizer.pad_id] * padding
    weights = (1.0,) * (1 if bos is not None else 0) + (*(w for _, w in row), 1.0) + (1.0,) * padding
    return TokenChunk(ids=tuple(ids), weights=weights, slots=tuple(slots))
