"""Models that ship inside graphflow (the trained demo model), offered beside the files in the models folder."""

from __future__ import annotations

from pathlib import Path

from graphflow.models.paths import list_models, resolve_model

BUILTIN_PREFIX = "builtin:"
_WEIGHTS = Path(__file__).resolve().parent.parent / "demo" / "weights"


def builtin_checkpoints() -> dict[str, Path]:
    """Name -> folder of each shipped checkpoint (diffusers folders under graphflow/demo/weights)."""
    if not _WEIGHTS.is_dir():
        return {}
    return {f"{BUILTIN_PREFIX}{p.name}": p for p in sorted(_WEIGHTS.iterdir()) if (p / "model_index.json").is_file()}


def checkpoint_choices() -> list[str]:
    """What a checkpoint loader offers: the built-in models, then the files in models/checkpoints."""
    return [*builtin_checkpoints(), *list_models("checkpoints")]


def resolve_checkpoint(name: str) -> Path:
    """The path of a checkpoint choice; unknown names list what is available."""
    if name.startswith(BUILTIN_PREFIX):
        shipped = builtin_checkpoints()
        if name not in shipped:
            raise FileNotFoundError(f"no built-in model {name!r}; built-in: {', '.join(shipped) or 'none'}")
        return shipped[name]
    return resolve_model("checkpoints", name)
