"""Where the embeddings a prompt names come from: `<models>/embeddings`, then the shipped ones.

A name is written as in ComfyUI: the file's path inside the embeddings folder, with or without its
suffix (`.safetensors`, `.pt`, `.bin` are tried in that order). A name not in the folder is looked
up among the embeddings that ship with graphflow by stem (`shapes-sun`, or `builtin:shapes-sun`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from graphflow.cache import ModelCache
from graphflow.models.builtin import BUILTIN_PREFIX, builtin_models
from graphflow.models.paths import MODEL_EXTENSIONS, list_models, model_folder, model_folders
from graphflow.text.embedding_syntax import PREFIX, weight_hint
from graphflow.text.embeddings import Embedding, read_embedding

KIND = "embeddings"
SUFFIXES = (".safetensors", ".pt", ".bin")
"""Tried in this order when a name is written without its suffix (as ComfyUI does)."""


class EmbeddingNotFoundError(FileNotFoundError):
    """A prompt names an embedding that is neither in the embeddings folder nor shipped."""


def find_embedding(models_dir: Path, name: str) -> Path | None:
    """The file of embedding `name`, or None; a name that would leave the folder finds nothing."""
    if name.startswith(BUILTIN_PREFIX):
        return _shipped(name.removeprefix(BUILTIN_PREFIX))
    return _in_folder(models_dir, name) or _shipped(name)


def embedding_choices(models_dir: Path) -> list[str]:
    """The names a prompt can use: the folder's embeddings (without suffix), then the shipped ones."""
    names = [_without_suffix(name) for name in list_models(models_dir, KIND)]
    names += [name.removeprefix(BUILTIN_PREFIX) for name in builtin_models(KIND)]
    return list(dict.fromkeys(names))


def missing_embeddings_message(models_dir: Path, names: Iterable[str]) -> str | None:
    """A sentence naming the embeddings that cannot be found, with what is available; None if all are."""
    missing = [name for name in names if find_embedding(models_dir, name) is None]
    if not missing:
        return None
    available = embedding_choices(models_dir)
    shown = ", ".join(available[:30]) + (" ..." if len(available) > 30 else "") if available else "none"
    hints = "".join(weight_hint(name) for name in missing)
    which = ", ".join(f"{PREFIX}{name}" for name in missing)
    return (
        f"{which}: no such embedding in {model_folder(models_dir, KIND)} or among the shipped ones{hints}; "
        f"available: {shown}"
    )


class EmbeddingLoader:
    """Finds and reads the embeddings prompts name, each file read once per identity (path, size, mtime)."""

    def __init__(self, models_dir: Path, cache: ModelCache | None = None) -> None:
        """Without a model cache each file is read each time it is used."""
        self.models_dir = Path(models_dir)
        self.cache = cache

    def __call__(self, name: str) -> Embedding:
        """The embedding `name`; EmbeddingNotFoundError lists the names available."""
        path = find_embedding(self.models_dir, name)
        if path is None:
            raise EmbeddingNotFoundError(missing_embeddings_message(self.models_dir, [name]))
        return load_embedding(path, self.cache)


def load_embedding(path: Path, cache: ModelCache | None = None) -> Embedding:
    """Read an embedding file through a model cache, keyed by the file's identity."""
    if cache is None:
        return read_embedding(path)
    return cache.get_or_load(("text.embedding", *_identity(path)), lambda: read_embedding(path), _byte_size)


def embedding_identities(models_dir: Path, names: Iterable[str]) -> tuple[tuple[str, int, int] | None, ...]:
    """(path, size, mtime) of each named embedding's file, None where missing: an edited file changes it."""
    paths = [find_embedding(models_dir, name) for name in names]
    return tuple(None if path is None else _identity(path) for path in paths)


def _identity(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def _in_folder(models_dir: Path, name: str) -> Path | None:
    relative = PurePosixPath(name)
    if not name or relative.is_absolute() or ".." in relative.parts or "\\" in name:
        return None
    candidates = [name] if relative.suffix.lower() in MODEL_EXTENSIONS else []
    candidates += [name + suffix for suffix in SUFFIXES]
    for folder in model_folders(models_dir, KIND):  # own folder, then extra folders; links are the owner's
        for candidate in candidates:
            if (folder / candidate).is_file():
                return folder / candidate
    return None


def _shipped(name: str) -> Path | None:
    return builtin_models(KIND).get(BUILTIN_PREFIX + _without_suffix(name))


def _without_suffix(name: str) -> str:
    suffix = PurePosixPath(name).suffix
    return name[: -len(suffix)] if suffix.lower() in MODEL_EXTENSIONS else name


def _byte_size(embedding: Embedding) -> int:
    return sum(t.numel() * t.element_size() for t in embedding.vectors.values())
