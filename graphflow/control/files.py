"""Which ControlNets a loader offers: shipped ones, files in models/controlnet, and diffusers folders there."""

from __future__ import annotations

import os
from pathlib import Path

from graphflow.models.builtin import BUILTIN_PREFIX, model_choices, resolve_choice
from graphflow.models.paths import ModelNotFoundError, model_folder

KIND = "controlnet"


def _folders(models_dir: Path) -> list[str]:
    """Names of the diffusers model folders (with config.json) under models/controlnet, not following links."""
    root = model_folder(models_dir, KIND)
    if not root.is_dir():
        return []
    base = root.resolve()
    names: list[str] = []
    for dirpath, dirnames, _ in os.walk(root, followlinks=False):
        for dirname in list(dirnames):
            path = Path(dirpath) / dirname
            if (path / "config.json").is_file() and path.resolve().is_relative_to(base):
                dirnames.remove(dirname)  # its files are the model's, not models of their own
                names.append(path.relative_to(root).as_posix())
    return names


def controlnet_choices(models_dir: Path) -> list[str]:
    """The built-in ControlNets, then the files and diffusers folders in models/controlnet (sorted)."""
    folders = _folders(models_dir)
    inside = tuple(f"{folder}/" for folder in folders)
    files = [name for name in model_choices(models_dir, KIND) if not name.startswith(inside)]  # a folder's weights
    builtin = [name for name in files if name.startswith(BUILTIN_PREFIX)]
    return [*builtin, *sorted([*(name for name in files if name not in builtin), *folders])]


def resolve_controlnet(models_dir: Path, name: str) -> Path:
    """The path of a ControlNet choice; names leaving the folder are refused, unknown ones list the rest."""
    try:
        return resolve_choice(models_dir, KIND, name)  # also refuses '..', absolute names and links out
    except ModelNotFoundError:
        if name in _folders(models_dir):
            return model_folder(models_dir, KIND) / name
        listing = ", ".join(controlnet_choices(models_dir)) or "(none)"
        raise ModelNotFoundError(
            f"ControlNet {name!r} not found in {model_folder(models_dir, KIND).resolve()}; available: {listing}"
        ) from None


def controlnet_folder_help(models_dir: Path) -> str:
    """Where ControlNets and T2I-Adapters are read from (for an unknown-choice message)."""
    return (
        f"ControlNets and T2I-Adapters are read from {model_folder(models_dir, KIND).resolve()} "
        "(single files or diffusers folders)"
    )
