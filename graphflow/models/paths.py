"""Model folder layout (ComfyUI-like): one subfolder per kind under a configurable root, plus extra folders.

The models folder is its owner's: symlinks inside it (to files or folders on other disks) are followed,
unlike the input and output folders. Extra folders come from an `extra_model_paths.yaml` in the models
folder and from the sources registered for it (`graphflow.settings.extra_model_sources`); see
graphflow.models.extra_paths for what a source can be.
"""

from __future__ import annotations

import os
from pathlib import Path

from graphflow.settings import extra_model_sources

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
    "diffusion_models": "diffusion_models",
    "text_encoders": "text_encoders",
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
_FOLDER_MARKERS = {
    "checkpoints": "model_index.json",
    "diffusers": "model_index.json",
    "controlnet": "config.json",
    "diffusion_models": "config.json",  # a diffusers transformer folder
}
EXTRA_PATHS_FILE = "extra_model_paths.yaml"
# ComfyUI renamed unet to diffusion_models and clip to text_encoders: either name reads both folders
_SAME_KIND = {"diffusion_models": "unet", "unet": "diffusion_models", "text_encoders": "clip", "clip": "text_encoders"}


def model_folders(root: str | os.PathLike[str], kind: str) -> list[Path]:
    """Every folder holding models of `kind`: `root`/<kind> first, then the extra folders in order."""
    from .extra_paths import extra_folders  # yaml is only needed where extra folders are configured

    kinds = [kind, _SAME_KIND[kind]] if kind in _SAME_KIND else [kind]
    primaries = [model_folder(root, name) for name in kinds]
    sources = [*_local_sources(root), *extra_model_sources(root)]
    own = {folder.resolve() for folder in primaries}
    extras = [folder for name in kinds for folder in extra_folders(sources, name) if folder.resolve() not in own]
    return [*primaries, *dict.fromkeys(extras)]


def _local_sources(root: str | os.PathLike[str]) -> list[Path]:
    own = Path(root) / EXTRA_PATHS_FILE
    return [own] if own.is_file() else []


def _is_model_entry(path: Path, kind: str) -> bool:
    if path.is_file():
        return path.suffix.lower() in MODEL_EXTENSIONS
    marker = _FOLDER_MARKERS.get(kind)
    return marker is not None and (path / marker).is_file()


def _list_folder(folder: Path, kind: str) -> list[str]:
    """Relative names of the models in one folder, following symlinks (each real folder read once)."""
    if not folder.is_dir():
        return []
    names: list[str] = []
    seen: set[Path] = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        current = Path(dirpath)
        real = current.resolve()
        if real in seen:  # a link loop, or two links to one folder
            dirnames.clear()
            continue
        seen.add(real)
        for dirname in list(dirnames):
            if _is_model_entry(current / dirname, kind):
                dirnames.remove(dirname)  # do not list the files inside a diffusers folder
                names.append((current / dirname).relative_to(folder).as_posix())
        for filename in filenames:
            path = current / filename
            if _is_model_entry(path, kind):
                names.append(path.relative_to(folder).as_posix())
    return names


def list_models(root: str | os.PathLike[str], kind: str) -> list[str]:
    """Relative names (posix style, sorted) of the model files/diffusers folders of `kind` under `root` and in
    its extra folders (a name in two folders is the first folder's)."""
    names = {name for folder in model_folders(root, kind) for name in _list_folder(folder, kind)}
    return sorted(names)


def resolve_model(root: str | os.PathLike[str], kind: str, name: str) -> Path:
    """The path of model `name` of `kind` under `root` or in its extra folders.

    Refuses names escaping the folder (a symlink inside it may point anywhere); lists the choices if missing.
    """
    folders = model_folders(root, kind)
    relative = Path(name)
    if not name or relative.is_absolute() or relative.drive or ".." in relative.parts:
        raise UnsafeModelPathError(
            f"model name {name!r} is not a plain name inside the {kind} folder; "
            "use a relative name without '..' as listed by list_models"
        )
    for folder in folders:
        path = folder / relative
        if path.exists() and _is_model_entry(path, kind):
            return path
        if path.is_symlink() and not path.exists():
            raise ModelNotFoundError(
                f"{kind} model {name!r} in {folder} is a link to {os.readlink(path)}, which is missing"
            )
    available = list_models(root, kind)
    listing = ", ".join(available) if available else "(none)"
    searched = ", ".join(str(folder.resolve()) for folder in folders)
    raise ModelNotFoundError(f"{kind} model {name!r} not found in {searched}; available: {listing}")
