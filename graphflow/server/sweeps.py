"""The end of a fan-out: when the last child of a sweep ends, its parent prompt gets the labelled grid of the
children's first pictures (one grid per Z page, saved in the output folder) and ends too, announced like any prompt.

The parent carries its axes in its workflow's `meta.sweep` and each child its place in `meta.sweep_cell`, so a
sweep survives a restart: besides hearing every prompt end, the collector looks for finished sweeps now and then
(children cancelled from the queue end unheard).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, cast, get_args

from aiohttp import web
from PIL import Image

from graphflow.imaging.grid import labelled_grid
from graphflow.outputs import file_ref, reserve_output_path
from graphflow.server.dispatcher import Dispatcher
from graphflow.server.errors import ApiError
from graphflow.server.files import FileStore
from graphflow.server.outcome import ErrorKind, PromptError, PromptOutcome, PromptStatus
from graphflow.server.queue_store import SWEEPING, PromptRecord, QueueStore, StorageUnavailable
from graphflow.sweep import Child, Sweep

log = logging.getLogger("graphflow.server.sweeps")

SWEEP_META = "sweep"  # the parent's workflow meta: its axes, their values and labels
CELL_META = "sweep_cell"  # a child's workflow meta: its place on the grid and its labels
GRID_PREFIX = "sweep_grid"
CHECK_S = 1.0
UNFINISHED = ("pending", "running")
STOPPED = ("cancelled", "interrupted")
Pictures = dict[tuple[int, ...], Image.Image | None]  # by grid coordinates, X first; None: a grey "failed" cell


def parent_workflow(stored: dict[str, Any], sweep: Sweep) -> dict[str, Any]:
    """The parent's workflow: the swept workflow (as stored) with `meta.sweep` describing the axes, X first."""
    axes = [
        {"node": a.node_id, "input": a.input, "title": a.title, "values": list(a.values), "labels": a.labels()}
        for a in sweep.axes
    ]
    return {**stored, "meta": {**stored.get("meta", {}), SWEEP_META: {"axes": axes}}}


def child_workflow(child: Child) -> dict[str, Any]:
    """A child's workflow as stored, with `meta.sweep_cell` giving its grid coordinates (X first) and labels."""
    stored = child.workflow.model_dump(mode="json", exclude_none=True)
    cell = {"coords": list(child.coords), "labels": list(child.labels)}
    return {**stored, "meta": {**stored.get("meta", {}), CELL_META: cell}}


@dataclass(frozen=True)
class GridLayout:
    """The labels of a sweep's grid: columns (X), rows (Y) and pages (Z; one untitled page without a Z axis)."""

    x_labels: list[str]
    y_labels: list[str]
    pages: list[str | None]

    @classmethod
    def of(cls, parent: PromptRecord) -> GridLayout:
        """The layout the parent's `meta.sweep` describes."""
        axes = [list(axis["labels"]) for axis in parent.workflow["meta"][SWEEP_META]["axes"]]
        axes += [[]] * (3 - len(axes))
        return cls(axes[0], axes[1], list(axes[2]) or [None])


class SweepCollector:
    """Ends each sweep's parent once none of its children waits or runs: grid, children's results, status."""

    def __init__(self, store: QueueStore, dispatcher: Dispatcher, files: FileStore) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.files = files
        self._ending: dict[str, asyncio.Task[None]] = {}

    def prompt_ended(self, record: PromptRecord, outcome: PromptOutcome) -> None:
        """The Dispatcher listener: a child ending may end its sweep."""
        if record.parent is not None:
            self.check(record.parent)

    def stop(self, parent_id: str) -> tuple[list[str], list[str]]:
        """Cancel a sweep's pending children and interrupt its running ones (the parent ends once they
        have); returns (cancelled ids, interrupted ids)."""
        running = [child.prompt_id for child in self.store.children(parent_id) if child.status == "running"]
        cancelled = self.store.cancel_pending_children(parent_id)
        interrupted = [child_id for child_id in running if self.dispatcher.interrupt(child_id)]
        self.check(parent_id)
        return cancelled, interrupted

    def check(self, parent_id: str) -> None:
        """End the sweep `parent_id` (off the event loop) if none of its children waits or runs any more."""
        if parent_id in self._ending:
            return
        try:
            children = self.store.children(parent_id)
        except StorageUnavailable as exc:
            log.warning("sweep %s is looked at again once the database answers: %s", parent_id, exc)
            return
        if any(child.status in UNFINISHED for child in children):
            return
        task = asyncio.get_running_loop().create_task(self._end(parent_id, children), name=f"sweep-{parent_id}")
        self._ending[parent_id] = task

    async def run_forever(self, interval_s: float = CHECK_S) -> None:
        """Every `interval_s`, end the sweeps whose children all ended unheard (cancelled from the queue, or
        before a restart); until cancelled."""
        try:
            while True:
                try:
                    for parent_id in await asyncio.to_thread(self.store.finished_sweeps):
                        self.check(parent_id)
                except StorageUnavailable:
                    pass  # the queue store says so in the log; sweeps end once it takes writes again
                await asyncio.sleep(interval_s)
        finally:
            for task in list(self._ending.values()):
                task.cancel()

    async def _end(self, parent_id: str, children: list[PromptRecord]) -> None:
        try:
            parent = self.store.get(parent_id)
            if parent is None or parent.status != SWEEPING:
                return
            try:
                outcome = await asyncio.to_thread(self._outcome, parent, children)
            except Exception as exc:  # a bug or a mangled record must end the sweep, not leave it open for ever
                log.exception("collecting sweep %s failed", parent_id)
                outcome = PromptOutcome.failed("internal", f"collecting the sweep failed: {type(exc).__name__}: {exc}")
            if self.store.settle_sweep(parent_id, outcome):
                self.dispatcher.announce(parent, outcome, time.time() - (parent.started_at or parent.submitted_at))
        except StorageUnavailable as exc:
            log.warning("sweep %s ends once the database takes writes again: %s", parent_id, exc)
        finally:
            self._ending.pop(parent_id, None)

    def _outcome(self, parent: PromptRecord, children: list[PromptRecord]) -> PromptOutcome:
        """The parent's end: the grid pictures, each child's result, and a status from the children's."""
        layout = GridLayout.of(parent)
        cells = {tuple(child.workflow["meta"][CELL_META]["coords"]): child for child in children}
        budget = self.files.settings.max_image_pixels // max(1, len(layout.x_labels) * max(1, len(layout.y_labels)))
        pictures = {coords: self._picture(child, budget) for coords, child in cells.items()}
        outputs: dict[str, Any] = {}
        if any(picture is not None for picture in pictures.values()):
            outputs["grid"] = {"images": [self._save_page(layout, page, pictures) for page in range(len(layout.pages))]}
        outputs["children"] = {child.prompt_id: _child_summary(child) for child in children}
        status, error = _status(children)
        return PromptOutcome(status, outputs, error=error)

    def _save_page(self, layout: GridLayout, page: int, pictures: Pictures) -> dict[str, str]:
        grid = labelled_grid(_on_page(pictures, page), layout.x_labels, layout.y_labels, layout.pages[page])
        root = self.files.settings.output_dir
        path = reserve_output_path(root, GRID_PREFIX, ".png")
        grid.save(path, format="PNG")
        return file_ref(root, path)

    def _picture(self, child: PromptRecord, max_pixels: int) -> Image.Image | None:
        """The child's first output picture, shrunk to at most `max_pixels`; None (a grey cell) when it has none."""
        ref = _first_image(child) if child.status == "success" else None
        if ref is None:
            return None
        try:
            path = self.files.path_of(str(ref.get("type")), str(ref.get("subfolder", "")), str(ref.get("filename")))
            picture = self.files.open_image(path.read_bytes()).convert("RGB")
        except (ApiError, OSError) as exc:
            log.warning("sweep child %s: its picture %r cannot be shown (%s)", child.prompt_id, ref, exc)
            return None
        width, height = picture.size
        if width * height > max_pixels:
            scale = math.sqrt(max_pixels / (width * height))
            picture.thumbnail((max(1, int(width * scale)), max(1, int(height * scale))))
        return picture


def _on_page(pictures: Pictures, page: int) -> dict[tuple[int, int], Image.Image | None]:
    """The cells (x, y) of Z page `page` (coordinates missing for a sweep of fewer axes count as 0)."""
    cells: dict[tuple[int, int], Image.Image | None] = {}
    for coords, picture in pictures.items():
        x, y, z = (*coords, 0, 0)[:3]
        if z == page:
            cells[(x, y)] = picture
    return cells


def _first_image(child: PromptRecord) -> dict[str, Any] | None:
    """The first image reference among a child's outputs ({"filename", "subfolder", "type"}), or None."""
    for ui in child.outputs.values():
        images = ui.get("images") if isinstance(ui, dict) else None
        for ref in images if isinstance(images, list) else ():
            if isinstance(ref, dict) and "filename" in ref:
                return ref
    return None


def _child_summary(child: PromptRecord) -> dict[str, Any]:
    cell = child.workflow["meta"][CELL_META]
    return {
        "status": child.status,
        "coords": cell["coords"],
        "labels": cell["labels"],
        "image": _first_image(child),
        "error": child.error,
    }


def _status(children: list[PromptRecord]) -> tuple[PromptStatus, PromptError | None]:
    """Interrupted when any child was cancelled or interrupted, an error when every child failed, else success."""
    stopped = [child for child in children if child.status in STOPPED]
    if stopped:
        message = f"the sweep was stopped: {len(stopped)} of its {len(children)} children were cancelled or interrupted"
        return "interrupted", PromptError("interrupted", message)
    failed = [child for child in children if child.status != "success"]
    if not children or len(failed) < len(children):
        return "success", None
    first = failed[0].error or {}
    kind = first.get("kind")
    labels = ", ".join(failed[0].workflow["meta"][CELL_META]["labels"])
    return "error", PromptError(
        cast(ErrorKind, kind) if kind in get_args(ErrorKind) else "internal",
        f"every child of the sweep failed; the first ({labels}): {first.get('message', 'no reason given')}",
        first.get("node_id"),
        first.get("node_type"),
    )


SWEEPS = web.AppKey("graphflow_sweeps", SweepCollector)
