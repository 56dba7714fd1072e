"""`embedding:name` in prompts (ComfyUI's syntax): where a textual-inversion embedding is named.

The name starts after `embedding:` at the start of a word (or after one of `,()[]`) and runs up to
whitespace or one of `,()[]`; a weight is given with the bracket syntax, `(embedding:name:1.2)`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from graphflow.text.weights import parse_weighted

PREFIX = "embedding:"
_REFERENCE = re.compile(r"(?<![^\s,()\[\]])embedding:(?P<name>[^\s,()\[\]]+)")
_WEIGHT_SUFFIX = re.compile(r"^(?P<name>.+):[+-]?(?:\d+\.?\d*|\.\d+)$")


@dataclass(frozen=True)
class EmbeddingRef:
    """A place in a prompt where the embedding `name` stands."""

    name: str


def split_references(text: str) -> list[str | EmbeddingRef]:
    """Split text into plain pieces and embedding references, in order (no empty pieces)."""
    pieces: list[str | EmbeddingRef] = []
    start = 0
    for match in _REFERENCE.finditer(text):
        if match.start() > start:
            pieces.append(text[start : match.start()])
        pieces.append(EmbeddingRef(match.group("name")))
        start = match.end()
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def embedding_names(prompt: str) -> list[str]:
    """The embeddings a prompt names, each once, in order of first use (weight syntax understood)."""
    names: dict[str, None] = {}
    for segment, _ in parse_weighted(prompt):
        for piece in split_references(segment):
            if isinstance(piece, EmbeddingRef):
                names.setdefault(piece.name, None)
    return list(names)


def weight_hint(name: str) -> str:
    """A hint for a name like `x:1.2` that was meant as a weight: brackets are needed; else ''."""
    match = _WEIGHT_SUFFIX.match(name)
    if match is None:
        return ""
    return f" (to weight an embedding, put it in brackets: ({PREFIX}{match.group('name')}:{name.rsplit(':', 1)[1]}))"
