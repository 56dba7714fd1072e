"""Models that ship inside graphflow (the demo models and their add-ons), offered beside the models folder.

Each kind of model has its shipped ones under `graphflow/demo/weights/`: checkpoints as diffusers
folders at the top, upscalers in `upscale/`, LoRAs in `loras/`, embeddings in `embeddings/` and
ControlNets in `controlnet/`. They are named `builtin:<name>` (without the file suffix).
"""

from __future__ import annotations

import json
from pathlib import Path

from graphflow.models.paths import MODEL_EXTENSIONS, list_models, resolve_model

BUILTIN_PREFIX = "builtin:"
_WEIGHTS = Path(__file__).resolve().parent.parent / "demo" / "weights"
_FOLDERS = {"upscale_models": "upscale", "loras": "loras", "embeddings": "embeddings", "controlnet": "controlnet"}
_LABELS = {
    "checkpoints": "checkpoint",
    "upscale_models": "upscale model",
    "loras": "LoRA",
    "embeddings": "embedding",
    "controlnet": "ControlNet",
}


def builtin_models(kind: str) -> dict[str, Path]:
    """Name -> path of each shipped model of `kind` (a models-folder kind such as "loras")."""
    if kind == "checkpoints":
        if not _WEIGHTS.is_dir():
            return {}
        folders = [p for p in sorted(_WEIGHTS.iterdir()) if (p / "model_index.json").is_file()]
        # text-to-image models first, so a new loader (and ComfyUI's first combo entry) makes a picture from a prompt
        return {f"{BUILTIN_PREFIX}{p.name}": p for p in sorted(folders, key=_class_conditional)}
    folder = _WEIGHTS / _FOLDERS.get(kind, kind)
    if kind not in _FOLDERS or not folder.is_dir():
        return {}
    found = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in MODEL_EXTENSIONS or (path / "config.json").is_file():
            found[f"{BUILTIN_PREFIX}{path.name.removesuffix(path.suffix) if path.is_file() else path.name}"] = path
    return found


def _class_conditional(folder: Path) -> bool:
    """Whether a shipped checkpoint is conditioned on class names rather than on a prompt."""
    config = folder / "unet" / "config.json"
    return config.is_file() and "class_names" in json.loads(config.read_text(encoding="utf-8"))


def model_choices(models_dir: Path, kind: str) -> list[str]:
    """What a loader of `kind` offers: the built-in models, then the files in `models_dir`/<kind>."""
    return [*builtin_models(kind), *list_models(models_dir, kind)]


def resolve_choice(models_dir: Path, kind: str, name: str) -> Path:
    """The path of a loader's choice (`builtin:...` or a name in the models folder); unknown names list the rest."""
    if name.startswith(BUILTIN_PREFIX):
        shipped = builtin_models(kind)
        if name not in shipped:
            label = _LABELS.get(kind, kind)
            raise FileNotFoundError(f"no built-in {label} {name!r}; built-in: {', '.join(shipped) or 'none'}")
        return shipped[name]
    return resolve_model(models_dir, kind, name)


def builtin_checkpoints() -> dict[str, Path]:
    """Name -> folder of each shipped checkpoint."""
    return builtin_models("checkpoints")


def builtin_upscale_models() -> dict[str, Path]:
    """Name -> file of each shipped upscale model."""
    return builtin_models("upscale_models")


def checkpoint_choices(models_dir: Path) -> list[str]:
    """What a checkpoint loader offers: the built-in models, then the files in `models_dir`/checkpoints."""
    return model_choices(models_dir, "checkpoints")


def upscale_model_choices(models_dir: Path) -> list[str]:
    """What an upscale-model loader offers: the built-in upscalers, then the files in `models_dir`/upscale_models."""
    return model_choices(models_dir, "upscale_models")


def resolve_checkpoint(models_dir: Path, name: str) -> Path:
    """The path of a checkpoint choice; unknown names list what is available."""
    return resolve_choice(models_dir, "checkpoints", name)


def resolve_upscale_model(models_dir: Path, name: str) -> Path:
    """The path of an upscale-model choice; unknown names list what is available."""
    return resolve_choice(models_dir, "upscale_models", name)
