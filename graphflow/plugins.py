"""Builds the plugin manager in a function: built-in nodes, installed entry points, a local folder."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import pkgutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import ModuleType

import pluggy

from graphflow import hookspecs
from graphflow.registry import Registry

ENTRY_POINT_GROUP = "graphflow"
PLUGINS_ENV = "GRAPHFLOW_PLUGINS"
BUILTIN_PACKAGE = "graphflow.nodes"


def builtin_modules() -> tuple[str, ...]:
    """Every module of the built-in nodes package (`nodes/` in the source tree)."""
    package = importlib.import_module(BUILTIN_PACKAGE)
    return tuple(
        f"{BUILTIN_PACKAGE}.{m.name}" for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_")
    )


@dataclass
class Plugins:
    """The plugin manager and the registry of node types built from it."""

    manager: pluggy.PluginManager
    registry: Registry

    @property
    def hooks(self) -> pluggy.HookRelay:
        """The hook caller the executor announces run events through."""
        return self.manager.hook


def build_plugins(
    plugins_dir: str | Path | None = None,
    *,
    entry_points: bool = True,
    builtins: tuple[str, ...] | None = None,
) -> Plugins:
    """Load every plugin source, skip and report the broken ones, and register their nodes."""
    builtins = builtin_modules() if builtins is None else builtins
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    registry = Registry()
    for module_name in builtins:
        _add(
            manager,
            registry,
            f"builtin.{module_name.rsplit('.', 1)[-1]}",
            partial(importlib.import_module, module_name),
        )
    if entry_points:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.value in builtins:
                continue
            _add(manager, registry, ep.name, ep.load)
    if plugins_dir:
        _add_folder(manager, registry, Path(plugins_dir))
    _register_nodes(manager, registry)
    return Plugins(manager, registry)


def _add(manager: pluggy.PluginManager, registry: Registry, name: str, load: Callable[[], object]) -> None:
    try:
        plugin = load()
        manager.register(plugin, name=name)
    except Exception as exc:  # a plugin must never take the others down
        registry.fail(name, f"failed to import: {type(exc).__name__}: {exc}")


def _add_folder(manager: pluggy.PluginManager, registry: Registry, folder: Path) -> None:
    if not folder.is_dir():
        registry.fail(f"local:{folder}", f"plugins folder {folder} does not exist")
        return
    for path in sorted(folder.iterdir()):
        if path.name.startswith(("_", ".")):
            continue
        if path.suffix == ".py":
            _add(manager, registry, f"local:{path.stem}", partial(_import_path, path.stem, path))
        elif (path / "__init__.py").is_file():
            _add(manager, registry, f"local:{path.name}", partial(_import_path, path.name, path / "__init__.py"))


def _import_path(name: str, path: Path) -> ModuleType:
    module_name = f"graphflow_local_plugins.{name}"
    spec = importlib.util.spec_from_file_location(
        module_name, path, submodule_search_locations=None if path.name != "__init__.py" else [str(path.parent)]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def _register_nodes(manager: pluggy.PluginManager, registry: Registry) -> None:
    # Each plugin's hook is called on its own so one failure is attributed and contained.
    for impl in manager.hook.register_nodes.get_hookimpls():
        classes: list[type] = []
        try:
            impl.function(register=classes.append)
        except Exception as exc:
            registry.fail(impl.plugin_name, f"register_nodes failed: {type(exc).__name__}: {exc}")
            continue
        registry.add_plugin_nodes(impl.plugin_name, classes)
