"""Building the executor and node contexts in tests: settings pointing into the test's own folders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graphflow.cache import ModelCache, OutputCache
from graphflow.context import Context
from graphflow.executor import Executor
from graphflow.plugins import Plugins
from graphflow.settings import Settings


def settings_under(root: Path, **changes: Any) -> Settings:
    """Settings whose output, temp, input and models folders lie under `root` (unless given)."""
    folders = {
        "output_dir": root / "output",
        "temp_dir": root / "temp",
        "input_dir": root / "input",
        "models_dir": root / "models",
    }
    return Settings(**{**folders, **changes})


def executor_for(
    plugins: Plugins, root: Path, *, cache: OutputCache | None = None, models: ModelCache | None = None, **changes: Any
) -> Executor:
    """An executor over `plugins` with `settings_under(root, **changes)`."""
    return Executor(plugins.registry, plugins.hooks, settings_under(root, **changes), cache=cache, models=models)


def context_for(root: Path, node_id: str = "n", workflow: dict[str, Any] | None = None, **changes: Any) -> Context:
    """A node context for calling a node's `run()` directly, with its own model cache."""
    return Context(node_id, "test", settings_under(root, **changes), ModelCache(), workflow)
