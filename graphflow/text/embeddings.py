"""Textual-inversion embedding files: their vectors per text part, in the layouts people have.

Layouts read (safetensors, or torch files loaded weights-only):

- A1111: `{"string_to_param": {"*": [n, width]}, "name": ..., ...}` (also flattened as `string_to_param.*`);
- kohya / sd-scripts: `{"emb_params": [n, width]}`;
- SDXL: `{"clip_l": [n, 768], "clip_g": [n, 1280]}`, one tensor per text part;
- diffusers: `{"<token>": [width]}`, and any file holding a single tensor (or a bare tensor).

A vector set named after a part (`clip_l`, `clip_g`, `clip_h`) is used by that part; the others
suit any part whose width matches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from graphflow.models.files import (
    SAFETENSORS_SUFFIXES,
    TORCH_SUFFIXES,
    load_state_dict,
    load_torch_weights_only,
)

ANY_PART = "*"
"""The key of vectors that are not tied to one text part."""

PART_KEYS = ("clip_l", "clip_g", "clip_h")


class EmbeddingError(ValueError):
    """An embedding file that cannot be used: unreadable, an unknown layout, or vectors of the wrong width."""


@dataclass(frozen=True, eq=False)
class Embedding:
    """One embedding file's vectors: part name (or ANY_PART) -> float tensor [n, width]; never changed."""

    path: Path
    vectors: Mapping[str, torch.Tensor]

    @property
    def length(self) -> int:
        """How many token positions the embedding takes in a prompt."""
        return int(next(iter(self.vectors.values())).shape[0])

    def for_part(self, part: str, width: int) -> torch.Tensor:
        """The vectors [n, width] that text part `part` uses; errors name the file and the part."""
        vectors = self.vectors.get(part, self.vectors.get(ANY_PART))
        if vectors is None:
            raise EmbeddingError(
                f"embedding file {self.path} has vectors for {', '.join(sorted(self.vectors))} "
                f"but none for the text part {part}"
            )
        if vectors.shape[1] != width:
            raise EmbeddingError(
                f"embedding file {self.path} has vectors of width {vectors.shape[1]}, but the text part {part} "
                f"takes width {width}: the embedding was trained for another model"
            )
        return vectors


def read_embedding(path: str | Path) -> Embedding:
    """Read an embedding file in any of the layouts above; pickled objects are never loaded."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"embedding file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in SAFETENSORS_SUFFIXES:
        content: object = load_state_dict(path)
    elif suffix in TORCH_SUFFIXES:
        content = load_torch_weights_only(path)
    else:
        raise EmbeddingError(f"{path}: not an embedding file type (.safetensors, .pt or .bin)")
    vectors = {key: _as_rows(path, key, tensor) for key, tensor in _vector_sets(path, content).items()}
    lengths = {key: int(tensor.shape[0]) for key, tensor in vectors.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{key}: {n}" for key, n in lengths.items())
        raise EmbeddingError(f"embedding file {path} has a different number of vectors per text part ({shown})")
    return Embedding(path=path, vectors=vectors)


def _vector_sets(path: Path, content: object) -> dict[str, torch.Tensor]:
    """Part name (or ANY_PART) -> tensor, from whichever layout the file uses."""
    if isinstance(content, torch.Tensor):
        return {ANY_PART: content}
    if not isinstance(content, dict):
        raise EmbeddingError(f"embedding file {path} holds a {type(content).__name__}, not tensors")
    nested = content.get("string_to_param")
    if isinstance(nested, dict):
        return {ANY_PART: _joined(path, list(nested.values()))}
    flat = [value for key, value in content.items() if str(key).startswith("string_to_param.")]
    if flat:
        return {ANY_PART: _joined(path, flat)}
    parts = {key: content[key] for key in PART_KEYS if isinstance(content.get(key), torch.Tensor)}
    if parts:
        return parts
    if isinstance(content.get("emb_params"), torch.Tensor):
        return {ANY_PART: content["emb_params"]}
    tensors = [value for value in content.values() if isinstance(value, torch.Tensor)]
    if len(tensors) == 1:
        return {ANY_PART: tensors[0]}
    keys = ", ".join(repr(key) for key in list(content)[:10])
    raise EmbeddingError(
        f"embedding file {path} is not a layout graphflow knows (string_to_param, emb_params, clip_l/clip_g, "
        f"or a single tensor); its keys: {keys or 'none'}"
    )


def _joined(path: Path, tensors: list[object]) -> torch.Tensor:
    """The vectors of every string_to_param entry, one after another (there is usually one, '*')."""
    if not tensors or not all(isinstance(t, torch.Tensor) for t in tensors):
        raise EmbeddingError(f"embedding file {path}: string_to_param holds no tensors")
    return torch.cat([_as_rows(path, ANY_PART, t) for t in tensors if isinstance(t, torch.Tensor)])


def _as_rows(path: Path, key: str, tensor: torch.Tensor) -> torch.Tensor:
    """A float32 [n, width] copy: one vector may come as [width]."""
    rows = tensor.detach().to(torch.float32)
    if rows.ndim == 1:
        rows = rows.unsqueeze(0)
    if rows.ndim != 2 or rows.shape[0] == 0 or rows.shape[1] == 0:
        where = "" if key == ANY_PART else f" ({key})"
        raise EmbeddingError(
            f"embedding file {path}{where} holds a tensor of shape {tuple(tensor.shape)}; expected [vectors, width]"
        )
    return rows.clone()
