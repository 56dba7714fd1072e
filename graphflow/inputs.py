"""Input images: the files a Load Image node may read, from the input folder and then the example inputs."""

from __future__ import annotations

from pathlib import Path

from graphflow.problems import shown
from graphflow.settings import Settings

LISTED = 20  # names shown when an image is not found
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"})


class InputNotFoundError(FileNotFoundError):
    """An input image name that is in no input folder, or that would leave it; the message lists what is there."""


def input_folders(settings: Settings) -> tuple[Path, ...]:
    """Where input images are looked up, in order: the input folder, then the shipped example inputs."""
    extra = settings.example_inputs_dir
    return (settings.input_dir,) if extra is None else (settings.input_dir, extra)


def _images_in(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    base = root.resolve()
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix.lower() in IMAGE_SUFFIXES
        and not p.name.startswith(".")
        and p.resolve().is_relative_to(base)
    )


def list_input_images(settings: Settings) -> list[str]:
    """Every input image name: the input folder's, then example inputs it does not shadow."""
    names: list[str] = []
    for folder in input_folders(settings):
        names += [name for name in _images_in(folder) if name not in names]
    return names


def resolve_input_image(settings: Settings, name: str) -> Path:
    """The file of input image `name`: the input folder first, then the example inputs."""
    found = _find(settings, name)
    if found is not None:
        return found
    names = list_input_images(settings)
    shown_names = ", ".join(names[:LISTED]) + (f" and {len(names) - LISTED:,} more" if len(names) > LISTED else "")
    raise InputNotFoundError(
        f"no image {shown(name)} in the input folder {settings.input_dir.resolve()}; it has: {shown_names or 'nothing'}"
    )


def _find(settings: Settings, name: str) -> Path | None:
    relative = Path(name)
    if not name or relative.is_absolute() or ".." in relative.parts:
        return None
    for folder in input_folders(settings):
        root = folder.resolve()
        try:
            path = (root / relative).resolve()
            if path.is_relative_to(root) and path.is_file():
                return path
        except (OSError, ValueError):  # a NUL byte, a lone surrogate, a name too long for the file system
            return None
    return None
