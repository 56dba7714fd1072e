"""The narrow view of the world a node gets while it runs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from graphflow.cache import ModelCache
from graphflow.outputs import file_ref, reserve_output_path
from graphflow.settings import Settings

ProgressCallback = Callable[[str, int, int, Any], None]


class Cancelled(Exception):
    """The run was cancelled; raised between nodes or where a node checks the context."""


class CancelToken:
    """A thread-safe flag that a run's owner sets and nodes poll."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the run to stop at its next check."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """Whether cancellation has been asked for."""
        return self._event.is_set()


class Context:
    """What `run(ctx, ...)` receives: the run's settings and model cache, progress, cancellation, output files."""

    __slots__ = ("_cancel", "_progress", "_ui", "models", "node_id", "node_type", "settings", "workflow")

    def __init__(
        self,
        node_id: str,
        node_type: str,
        settings: Settings,
        models: ModelCache,
        workflow: dict[str, Any] | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> None:
        self.node_id = node_id
        self.node_type = node_type
        self.settings = settings
        self.models = models
        self.workflow = workflow if workflow is not None else {}
        self._progress = progress
        self._cancel = cancel
        self._ui: dict[str, list[Any]] = {}

    @property
    def log(self) -> logging.Logger:
        """A logger named after the node type."""
        return logging.getLogger(f"graphflow.node.{self.node_type}")

    def progress(self, step: int, total: int, preview: Any = None) -> None:
        """Report `step` of `total` (and an optional preview image); also a cancellation point."""
        self.check_cancelled()
        if self._progress is not None:
            self._progress(self.node_id, step, total, preview)

    @property
    def cancelled(self) -> bool:
        """Whether the run has been asked to stop."""
        return self._cancel is not None and self._cancel.cancelled

    def check_cancelled(self) -> None:
        """Raise `Cancelled` if the run has been asked to stop."""
        if self.cancelled:
            raise Cancelled(f"cancelled in node {self.node_id!r}")

    def output_file(self, prefix: str, suffix: str, temporary: bool = False) -> Path:
        """A new, never-overwriting numbered file `<prefix>_NNNNN_<suffix>` in the output (or temp) folder."""
        return reserve_output_path(self._folder(temporary), prefix, suffix)

    def file_ref(self, path: Path, temporary: bool = False) -> dict[str, str]:
        """The reference (filename, subfolder, type) under which the editor and API serve `path`."""
        return file_ref(self._folder(temporary), path, "temp" if temporary else "output")

    def _folder(self, temporary: bool) -> Path:
        return self.settings.temp_dir if temporary else self.settings.output_dir

    def add_ui(self, key: str, *items: Any) -> None:
        """Attach results to show in the editor (e.g. saved image references) to this node's run."""
        self._ui.setdefault(key, []).extend(items)

    @property
    def ui(self) -> dict[str, list[Any]]:
        """What the node attached with `add_ui`."""
        return self._ui
