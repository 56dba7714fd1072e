"""Builds the plugin manager in a function: built-in nodes, installed entry points, a local folder."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import pkgutil
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import TypeVar

import pluggy

from graphflow import hookspecs
from graphflow.registry import Registry
from graphflow.settings import DEFAULT_PLUGIN_IMPORT_TIMEOUT_S

ENTRY_POINT_GROUP = "graphflow"
PLUGINS_ENV = "GRAPHFLOW_PLUGINS"
BUILTIN_PACKAGE = "graphflow.nodes"
T = TypeVar("T")
log = logging.getLogger("graphflow.plugins")


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
    import_timeout_s: float = DEFAULT_PLUGIN_IMPORT_TIMEOUT_S,
) -> Plugins:
    """Load every plugin source, skip and report the broken or hung ones, and register their nodes.

    A plugin's code runs in a thread of its own: whatever it raises, SystemExit included, becomes a
    problem naming it, and an installed or local plugin that takes longer than `import_timeout_s` to
    import or register is left behind, blocked, while the rest goes on without it.
    """
    builtins = builtin_modules() if builtins is None else builtins
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    loader = _Loader(manager, Registry(), import_timeout_s)
    log.info("importing %d built-in node modules", len(builtins))
    for module_name in builtins:
        name = f"builtin.{module_name.rsplit('.', 1)[-1]}"
        loader.add(name, module_name, partial(importlib.import_module, module_name), built_in=True)
    if entry_points:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.value in builtins:
                continue
            loader.add(ep.name, ep.value, ep.load)
    if plugins_dir:
        _add_folder(loader, Path(plugins_dir))
    loader.register_nodes()
    return Plugins(manager, loader.registry)


@dataclass
class _Loader:
    """Adds plugins to the manager one at a time, each one's code guarded and, unless built in, time-limited."""

    manager: pluggy.PluginManager
    registry: Registry
    timeout_s: float
    limits: dict[str, float | None] = field(default_factory=dict)

    def add(self, name: str, source: str, load: Callable[[], object], *, built_in: bool = False) -> None:
        """Import one plugin (`load()` returns it) and register it with the manager, or record why not."""
        # The built-in nodes ship with graphflow; a cold import of torch and friends may take longer than any limit.
        limit = self.limits[name] = None if built_in else self.timeout_s
        log.log(logging.DEBUG if built_in else logging.INFO, "importing plugin %s from %s", name, source)
        try:
            plugin = _run_plugin_code(load, limit, f"import of plugin {name}")
            self.manager.register(plugin, name=name)
        except _Unfinished as late:
            self.registry.fail(
                name, f"did not finish importing within {late.limit_s:g} s; graphflow goes on without it"
            )
        except Exception as exc:  # a plugin must never take the others down
            self.registry.fail(name, f"failed to import: {_describe(exc)}")

    def register_nodes(self) -> None:
        """Call each plugin's `register_nodes` on its own, so one failure is attributed and contained."""
        for impl in self.manager.hook.register_nodes.get_hookimpls():
            name = impl.plugin_name
            classes: list[type] = []
            try:
                _run_plugin_code(
                    partial(impl.function, register=classes.append),
                    self.limits.get(name, self.timeout_s),
                    f"register_nodes of plugin {name}",
                )
            except _Unfinished as late:
                # Its code still runs in the abandoned thread: none of its hooks is called again.
                self.manager.unregister(name=name)
                self.registry.fail(
                    name, f"register_nodes did not finish within {late.limit_s:g} s; graphflow goes on without it"
                )
                continue
            except Exception as exc:
                self.registry.fail(name, f"register_nodes failed: {_describe(exc)}")
                continue
            self.registry.add_plugin_nodes(name, classes)


class _Unfinished(Exception):
    """A plugin's code did not return within its time limit."""

    def __init__(self, limit_s: float) -> None:
        super().__init__(f"not finished within {limit_s:g} s")
        self.limit_s = limit_s


class _Raised(Exception):
    """What a plugin's code raised, carried out of its thread as an ordinary exception."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(_describe(error))


def _run_plugin_code(call: Callable[[], T], limit_s: float | None, what: str) -> T:
    """`call()` in a daemon thread: its result, `_Raised` for anything it raised, `_Unfinished` after `limit_s`.

    Running it off this thread is what keeps a plugin's SystemExit or KeyboardInterrupt apart from a
    real Ctrl-C, which still interrupts the wait here. A thread that never finishes stays blocked;
    imports of other modules go on, since Python locks each module's import separately.
    """
    outcome: list[T] = []
    raised: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # even SystemExit is only this plugin's failure
            raised.append(exc)

    thread = threading.Thread(target=target, name=what, daemon=True)
    thread.start()
    thread.join(limit_s)
    if limit_s is not None and thread.is_alive():
        raise _Unfinished(limit_s)
    if raised:
        raise _Raised(raised[0])
    return outcome[0]


def _describe(error: BaseException) -> str:
    """`Type: message`, or the type alone when the message is empty (`SystemExit()`, `KeyboardInterrupt`)."""
    if isinstance(error, _Raised):
        return str(error)
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _add_folder(loader: _Loader, folder: Path) -> None:
    if not folder.is_dir():
        loader.registry.fail(f"local:{folder}", f"plugins folder {folder} does not exist")
        return
    for path in sorted(folder.iterdir()):
        if path.name.startswith(("_", ".")):
            continue
        if path.suffix == ".py":
            loader.add(f"local:{path.stem}", str(path), partial(_import_path, path.stem, path))
        elif (path / "__init__.py").is_file():
            loader.add(f"local:{path.name}", str(path), partial(_import_path, path.name, path / "__init__.py"))


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
