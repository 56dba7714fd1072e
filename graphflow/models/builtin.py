"""Models that ship inside graphflow (demo model, upscaler), offered beside the files in the models folder."""

from __future__ import annotations

from pathlib import Path

from graphflow.models.paths import list_models, resolve_model

BUILTIN_PREFIX = "builtin:"
_WEIGHTS = Path(__file__).resolve().parent.parent / "demo" / "weights"
_UPSCALERS = _WEIGHTS / "upscale"


def builtin_checkpoints() -> dict[str, Path]:
    """Name -> folder of each shipped checkpoint (diffusers folders under graphflow/demo/weights)."""
    if not _WEIGHTS.is_dir():
        return {}
    return {f"{BUILTIN_PREFIX}{p.name}": p for p in sorted(_WEIGHTS.iterdir()) if (p / "model_index.json").is_file()}


def builtin_upscale_models() -> dict[str, Path]:
    """Name -> file of each shipped upscale model (.safetensors under graphflow/demo/weights/upscale)."""
    if not _UPSCALERS.is_dir():
        return {}
    return {f"{BUILTIN_PREFIX}{p.stem}": p for p in sorted(_UPSCALERS.glob("*.safetensors"))}


def checkpoint_choices(models_dir: Path) -> list[str]:
    """What a checkpoint loader offers: the built-in models, then the files in `models_dir`/checkpoints."""
    return [*builtin_checkpoints(), *list_models(models_dir, "checkpoints")]


def upscale_model_choices(models_dir: Path) -> list[str]:
    """What an upscale-model loader offers: the built-in upscalers, then the files in `models_dir`/upscale_models."""
    return [*builtin_upscale_models(), *list_models(models_dir, "upscale_models")]


def _resolve(models_dir: Path, name: str, shipped: dict[str, Path], kind: str, folder: str) -> Path:
    if name.startswith(BUILTIN_PREFIX):
        if name not in shipped:
            raise FileNotFoundError(f"no built-in {kind} {name!r}; built-in: {', '.join(shipped) or 'none'}")
        return shipped[name]
    return resolve_model(models_dir, folder, name)


def resolve_checkpoint(models_dir: Path, name: str) -> Path:
    """The path of a checkpoint choice; unknown names list what is available."""
    return _resolve(models_dir, name, builtin_checkpoints(), "model", "checkpoints")


def resolve_upscale_model(models_dir: Path, name: str) -> Path:
    """The path of an upscale-model choice; unknown names list what is available."""
    return _resolve(models_dir, name, builtin_upscale_models(), "upscale model", "upscale_models")
