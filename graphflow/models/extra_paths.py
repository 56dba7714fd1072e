"""Extra model folders, so an existing installation's models are used in place.

A source is one of:
- a ComfyUI `extra_model_paths.yaml` (sections with a `base_path` and one folder, or several on separate
  lines, per ComfyUI folder name; relative paths are read from the yaml file's folder, as ComfyUI does);
- an AUTOMATIC1111 / Forge installation (it has `models/Stable-diffusion`): its checkpoints, VAEs, LoRAs
  (and LyCORIS), embeddings, hypernetworks, ControlNets and upscalers;
- a ComfyUI installation (it has `models/checkpoints`) or another models folder laid out like graphflow's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from .paths import KINDS

# ComfyUI's folder names -> graphflow's kinds (ComfyUI renamed unet and clip; both names are read)
COMFYUI_NAMES: dict[str, str] = {name: kind for kind, name in KINDS.items()} | {
    "diffusion_models": "unet",
    "text_encoders": "clip",
}
A1111_LAYOUT: dict[str, tuple[str, ...]] = {
    "checkpoints": ("models/Stable-diffusion",),
    "vae": ("models/VAE",),
    "loras": ("models/Lora", "models/LyCORIS"),
    "embeddings": ("embeddings",),
    "hypernetworks": ("models/hypernetworks",),
    "controlnet": ("models/ControlNet", "extensions/sd-webui-controlnet/models"),
    "upscale_models": ("models/ESRGAN", "models/RealESRGAN", "models/SwinIR"),
}
_A1111_MARKER = "models/Stable-diffusion"
_YAML_SUFFIXES = (".yaml", ".yml")
_SECTION_KEYS = ("base_path", "is_default")


class ExtraModelPathsError(ValueError):
    """An extra model folder source that cannot be read; the message names the file or folder."""


def check_source(source: Path) -> None:
    """Refuse a source that is neither a readable yaml file nor a folder."""
    if source.suffix.lower() in _YAML_SUFFIXES:
        if not source.is_file():
            raise ExtraModelPathsError(f"extra model paths file {source} does not exist")
        read_yaml_folders(source)
    elif not source.is_dir():
        raise ExtraModelPathsError(
            f"extra model folder {source} is neither an extra_model_paths.yaml nor a folder (an AUTOMATIC1111 or "
            "ComfyUI installation, or a models folder)"
        )


def extra_folders(sources: Iterable[Path], kind: str) -> list[Path]:
    """The folders of `kind` the sources name, in order (folders that do not exist are left out)."""
    found: list[Path] = []
    for source in sources:
        folders = read_yaml_folders(source) if source.suffix.lower() in _YAML_SUFFIXES else installation_folders(source)
        found += [folder for folder in folders.get(kind, []) if folder.is_dir()]
    return found


def installation_folders(root: Path) -> dict[str, list[Path]]:
    """Kind -> folders of an A1111 installation, a ComfyUI installation or a graphflow-style models folder."""
    if (root / _A1111_MARKER).is_dir():
        return {kind: [root / sub for sub in subs] for kind, subs in A1111_LAYOUT.items()}
    models = root / "models" if (root / "models" / "checkpoints").is_dir() else root
    folders: dict[str, list[Path]] = {}
    for name, kind in COMFYUI_NAMES.items():
        folders.setdefault(kind, []).append(models / name)
    return folders


def read_yaml_folders(path: Path) -> dict[str, list[Path]]:
    """Kind -> folders named by a ComfyUI extra_model_paths.yaml."""
    import yaml

    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ExtraModelPathsError(f"extra model paths file {path} cannot be read: {exc}") from None
    if content is None:
        return {}
    if not isinstance(content, Mapping):
        raise ExtraModelPathsError(f"extra model paths file {path} must hold sections (name: {{base_path: ...}})")
    folders: dict[str, list[Path]] = {}
    for section_name, section in content.items():
        if not isinstance(section, Mapping):
            raise ExtraModelPathsError(f"extra model paths file {path}: section {section_name!r} is not a mapping")
        base = path.parent / _expand(str(section.get("base_path", "")))
        for name, value in section.items():
            if name in _SECTION_KEYS or name not in COMFYUI_NAMES:
                continue  # ComfyUI's other folders (configs, custom_nodes, ...) are not models graphflow reads
            for line in _lines(value, path, f"{section_name}.{name}"):
                folders.setdefault(COMFYUI_NAMES[name], []).append(base / _expand(line))
    return folders


def _lines(value: object, path: Path, where: str) -> list[str]:
    if isinstance(value, str):
        return [line.strip() for line in value.splitlines() if line.strip()]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return [item.strip() for item in value if item.strip()]
    raise ExtraModelPathsError(f"extra model paths file {path}: {where} must be a folder or folders, one a line")


def _expand(text: str) -> str:
    return os.path.expanduser(os.path.expandvars(text))
