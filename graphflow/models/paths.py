"""Model folder layout (ComfyUI-like): one subfolder per kind under a configurable root."""

from __future__ import annotations

import os
from pathlib import Path

# kind -> subfolder name under the models root
KINDS: dict[str, str] = {
    "checkpoints": "checkpoints",
    "diffusers": "diffusers",
    "vae": "vae",
    "loras": "loras",
    "embeddings": "embeddings",
    "upscale_models": "upscale_models",
    "unet": "unet",
    "clip": "clip",
    "controlnet": "controlnet",
    "clip_vision": "clip_vision",
    "gligen": "gligen",
    "hypernetworks": "hypernetworks",
}

MODEL_EXTENSIONS: frozenset[str] = frozenset({".safetensors", ".sft", ".ckpt", ".pt", ".pth", ".bin"})


class ModelNotFoundError(FileNotFoundError):
    """A requested model name is not in its folder; the message lists what is there."""


class UnsafeModelPathError(ValueError):
    """A model name that would leave its folder (.., absolute path, symlink pointing out)."""


def model_folder(root: str | os.PathLike[str], kind: str) -> Path:
    """The folder under the models root `root` holding models of `kind` (not created)."""
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; known kinds: {', '.join(sorted(KINDS))}")
    return Path(root) / KINDS[kind]


# kind -> the file that makes a folder one diffusers model (a pipeline, or a single model with its config)
_FOLDER_MARKERS = {"checkpoints": "model_index.json", "diffusers": "model_index.json", "controlnet": "config.json"}


def _is_model_entry(path: Path, kind: str) -> bool:
    if path.is_file():
        return path.suffix.lower() in MODEL_EXTENSIONS
    marker = _FOLDER_MARKERS.get(kind)
    return marker is not None and (path / marker).is_file()


def list_models(root: str | os.PathLike[str], kind: str) -> list[str]:
    """Relative names (posix style, sorted) of the model files/diffusers folders of `kind` under `root`."""
    folder = model_folder(root, kind)
    if not folder.is_dir():
        return []
    base = folder.resolve()
    names: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        current = Path(dirpath)
        for dirname in list(dirnames):
            if _is_model_entry(current / dirname, kind):
                dirnames.remove(dirname)  # do not list the files inside a diffusers folder
                names.append((current / dirname).relative_to(folder).as_posix())
        for filename in filenames:
            path = current / filename
            if _is_model_entry(path, kind) and path.resolve().is_relative_to(base):
                names.append(path.relative_to(folder).as_posix())
    return sorted(names)


def resolve_model(root: str | os.PathLike[str], kind: str, name: str) -> Path:
    """The path of model `name` of `kind` under `root`.

    Refuses names escaping the folder; lists the choices if missing.
    """
    folder = model_folder(root, kind)
    relative = Path(name)
    if not name or relative.is_absolute() or relative.drive or ".." in relative.parts:
        raise UnsafeModelPathError(
            f"model name {name!r} is not a plain name inside the {kind} folder; "
            "use a relative name without '..' as listed by list_models"
        )
    path = folder / relative
    if path.exists() and not path.resolve().is_relative_to(folder.resolve()):
        raise UnsafeModelPathError(f"model {name!r} is a link pointing outside the {kind} folder {folder}")
    if not path.exists() or not _is_model_entry(path, kind):
        available = list_models(root, kind)
        listing = ", ".join(available) if available else "(none)"
        raise ModelNotFoundError(f"{kind} model {name!r} not found in {folder.resolve()}; available: {listing}")
    return path
