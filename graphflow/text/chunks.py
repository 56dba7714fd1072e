"""Weighted prompt -> fixed-length CLIP token chunks (BOS + up to 75 tokens + EOS + padding)."""

from __future__ import annotations

from dataclasses import dataclass

from graphflow.text.tokenizers import Tokenizer
from graphflow.text.weights import parse_weighted

BREAK = "BREAK"
"""A word that ends the current chunk early (A1111's syntax)."""

KEEP_WHOLE_BELOW = 8
"""A word of fewer tokens than this moves whole to the next chunk rather than being split (as ComfyUI)."""


@dataclass(frozen=True)
class TokenChunk:
    """One model input row: `ids` and per-token `weights`, both `max_length` long."""

    ids: tuple[int, ...]
    weights: tuple[float, ...]

    @property
    def weighted(self) -> bool:
        """Whether any token has a weight other than 1."""
        return any(w != 1.0 for w in self.weights)


def tokenize_weighted(text: str, tokenizer: Tokenizer) -> list[TokenChunk]:
    """Tokenize a prompt with weights into chunks; an empty prompt gives one empty chunk."""
    capacity = tokenizer.max_length - 2
    if capacity < 1:
        raise ValueError(f"tokenizer max_length {tokenizer.max_length} leaves no room between BOS and EOS")
    rows: list[list[tuple[int, float]]] = [[]]
    for word in _weighted_words(text, tokenizer):
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
    return [_pad(row, tokenizer) for row in rows]


def empty_chunk(tokenizer: Tokenizer) -> TokenChunk:
    """The chunk of the empty prompt: BOS, EOS, padding (the reference point for weighting)."""
    return _pad([], tokenizer)


def _weighted_words(text: str, tokenizer: Tokenizer) -> list[list[tuple[int, float]] | None]:
    """Each whitespace-separated word as (id, weight) tokens; None marks a BREAK."""
    words: list[list[tuple[int, float]] | None] = []
    for segment, weight in parse_weighted(text):
        for word in segment.split():
            if word == BREAK:
                words.append(None)
            elif ids := tokenizer.ids(word):
                words.append([(i, weight) for i in ids])
    return words


def _pad(row: list[tuple[int, float]], tokenizer: Tokenizer) -> TokenChunk:
    """Wrap tokens in BOS/EOS and pad to the tokenizer's max_length."""
    padding = tokenizer.max_length - len(row) - 2
    ids = (tokenizer.bos_id, *(i for i, _ in row), tokenizer.eos_id) + (tokenizer.pad_id,) * padding
    weights = (1.0, *(w for _, w in row), 1.0) + (1.0,) * padding
    return TokenChunk(ids=ids, weights=weights)
