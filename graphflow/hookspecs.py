"""Every pluggy hook graphflow calls; each docstring says when."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

from graphflow.runs import RunInfo

PROJECT = "graphflow"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_nodes(register: Callable[[type], None]) -> None:
    """Called once while the registry is built: call `register(NodeClass)` for each node you provide."""


@hookspec
def on_run_start(run: RunInfo) -> None:
    """Called after validation, before the first node of a run executes."""


@hookspec
def on_nodes_cached(run: RunInfo, node_ids: list[str]) -> None:
    """Called once per run with the planned nodes whose outputs came from the cache."""


@hookspec
def on_node_start(run: RunInfo, node_id: str) -> None:
    """Called just before a node's `run` is invoked."""


@hookspec
def on_progress(run: RunInfo, node_id: str, step: int, total: int, preview: Any) -> None:
    """Called whenever a running node reports progress (`preview` is a PIL image or None)."""


@hookspec
def on_node_end(run: RunInfo, node_id: str, ui: dict[str, list[Any]], seconds: float) -> None:
    """Called after a node finished successfully, with what it attached for display."""


@hookspec
def on_node_error(run: RunInfo, node_id: str, error: BaseException) -> None:
    """Called when a node raised; the run stops right after."""


@hookspec
def on_run_end(run: RunInfo, status: str, error: BaseException | None) -> None:
    """Called when a run ends with status 'success', 'error' or 'cancelled'."""
