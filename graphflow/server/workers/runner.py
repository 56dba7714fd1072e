"""The worker's side of a job: plugins, executor and model cache, with run events sent to an `emit` callback.

A process worker and a Ray worker both hold one `PromptRunner`. Nodes write their files into the worker's
own folders; each file is shipped with the event that names it and the server writes it into its output
folder, so workers may live on other machines.
"""

from __future__ import annotations

import gc
import io
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from graphflow.context import CancelToken
from graphflow.executor import Executor
from graphflow.graph import WorkflowInvalid
from graphflow.hookspecs import hookimpl
from graphflow.models.quiet import hide_library_progress_bars
from graphflow.plugins import build_plugins
from graphflow.runs import RunInfo
from graphflow.server.outcome import PromptOutcome
from graphflow.server.workers.affinity import model_refs
from graphflow.server.workers.protocol import Finished, Job, Preview, RunEvent, StagedFile, WorkerMessage, WorkerSpec
from graphflow.workflow import WorkflowFileError, parse_workflow

log = logging.getLogger("graphflow.worker")
Emit = Callable[[WorkerMessage], None]


def encode_preview(image: Any, max_side: int) -> bytes | None:
    """A PIL image as JPEG bytes, shrunk to `max_side`; None for anything that is not an image."""
    if not hasattr(image, "convert") or not hasattr(image, "size"):
        return None
    picture = image.convert("RGB")
    if max(picture.size) > max_side:
        picture.thumbnail((max_side, max_side))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


class RunEvents:
    """Registered with the worker's plugin manager: turns executor hooks into messages for the server."""

    def __init__(self, folders: dict[str, Path], preview_max_side: int) -> None:
        self.folders = folders
        self.preview_max_side = preview_max_side
        self.emit: Emit = lambda message: None
        self.job: Job | None = None
        self.running_node: str | None = None

    @hookimpl
    def on_run_start(self, run: RunInfo) -> None:
        """A run began."""
        job = self.job
        self.running_node = None
        self.emit(
            RunEvent(
                "run_started",
                {
                    "prompt_id": run.run_id,
                    "number": job.number if job else 0,
                    "client_id": job.client_id if job else None,
                    "nodes": [n.node_id for n in run.plan.order],
                },
            )
        )

    @hookimpl
    def on_nodes_cached(self, run: RunInfo, node_ids: list[str]) -> None:
        """Some planned nodes come from the cache."""
        self.emit(RunEvent("nodes_cached", {"prompt_id": run.run_id, "nodes": list(node_ids)}))

    @hookimpl
    def on_node_start(self, run: RunInfo, node_id: str) -> None:
        """A node starts."""
        self.running_node = node_id
        node_type = run.plan.nodes[node_id].spec.type_id
        self.emit(RunEvent("node_started", {"prompt_id": run.run_id, "node_id": node_id, "node_type": node_type}))

    @hookimpl
    def on_progress(self, run: RunInfo, node_id: str, step: int, total: int, preview: Any) -> None:
        """A node reported progress, maybe with a preview image (encoded here, in the worker)."""
        self.emit(RunEvent("progress", {"prompt_id": run.run_id, "node_id": node_id, "value": step, "max": total}))
        if preview is None:
            return
        try:
            image = encode_preview(preview, self.preview_max_side)
        except (OSError, ValueError) as exc:
            log.warning("could not encode the preview of node %r: %s", node_id, exc)
            return
        if image is not None:
            header = {"prompt_id": run.run_id, "node_id": node_id, "value": step, "max": total}
            self.emit(Preview({**header, "mime": "image/jpeg", "ts": time.time()}, image))

    @hookimpl
    def on_node_end(self, run: RunInfo, node_id: str, ui: dict[str, list[Any]], seconds: float) -> None:
        """A node finished; its display outputs go along, with the files they name."""
        self.running_node = None
        data = {"prompt_id": run.run_id, "node_id": node_id, "outputs": ui, "seconds": round(seconds, 4)}
        self.emit(RunEvent("node_finished", data, tuple(self.take_files(ui))))

    def take_files(self, value: Any) -> Iterator[StagedFile]:
        """The files a result names in the worker's folders, read and then emptied (the name stays taken)."""
        for ref in file_refs(value):
            folder = self.folders.get(ref["type"])
            if folder is None:
                continue
            path = folder / ref.get("subfolder", "") / ref["filename"]
            if not path.is_file() or not path.resolve().is_relative_to(folder.resolve()):
                continue
            data = path.read_bytes()
            if not data:
                continue  # shipped already (a result from the cache)
            path.write_bytes(b"")
            yield StagedFile(ref["type"], ref.get("subfolder", ""), ref["filename"], data)


def file_refs(value: Any) -> Iterator[dict[str, Any]]:
    """Every file reference ({"filename", "subfolder", "type"}) inside a result."""
    if isinstance(value, dict):
        if isinstance(value.get("filename"), str) and value.get("type") in ("output", "temp"):
            yield value
            return
        for item in value.values():
            yield from file_refs(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from file_refs(item)


class PromptRunner:
    """Runs jobs one at a time with one executor and model cache, built once per worker."""

    def __init__(self, spec: WorkerSpec, staging: Path) -> None:
        if spec.torch_threads:
            import torch

            torch.set_num_threads(spec.torch_threads)  # workers sharing a machine share its cores
        folders = {"output": staging / "output", "temp": staging / "temp"}
        for folder in folders.values():
            folder.mkdir(parents=True, exist_ok=True)
        self.settings = spec.settings.replace(output_dir=folders["output"], temp_dir=folders["temp"])
        hide_library_progress_bars()  # a worker's output is the server's log, not a terminal
        plugins = build_plugins(
            spec.plugins_dir, entry_points=spec.entry_points, import_timeout_s=spec.settings.plugin_import_timeout_s
        )
        for problem in plugins.registry.problems:
            log.warning("%s", problem)
        self.registry = plugins.registry
        self.events = RunEvents(folders, spec.preview_max_side)
        plugins.manager.register(self.events, name="graphflow.worker-events")
        self.executor = Executor(plugins.registry, plugins.hooks, self.settings)
        self._held: dict[str, frozenset[object]] = {}

    @property
    def device(self) -> str:
        """The device the models run on ("cpu", "cuda", ...), as chosen from the settings."""
        from graphflow.models.device import pick_device

        return str(pick_device(self.settings.device)[0])

    @property
    def held(self) -> frozenset[str]:
        """The model files of earlier jobs whose loaded weights are still in the model cache."""
        keys = set(self.executor.models.keys())
        return frozenset(ref for ref, loaded in self._held.items() if loaded & keys)

    def run(self, job: Job, emit: Emit, cancel: CancelToken) -> Finished:
        """Run one job, sending its events to `emit`; never raises for a bad workflow or a failing node."""
        self.events.emit, self.events.job = emit, job
        before = set(self.executor.models.keys())
        try:
            outcome = self._outcome(job, cancel)
        finally:
            self.events.emit, self.events.job = (lambda message: None), None
        loaded = frozenset(set(self.executor.models.keys()) - before)
        if loaded:
            for ref in model_refs(job.workflow, self.registry):
                self._held[ref] = self._held.get(ref, frozenset()) | loaded
        return Finished(outcome, self.held, tuple(self.events.take_files(outcome.outputs)))

    def free(self, unload_models: bool, free_memory: bool) -> None:
        """Drop cached models and/or cached outputs (ComfyUI's /free), between jobs."""
        if unload_models:
            self.executor.models.clear()
            self._held.clear()
        if free_memory:
            self.executor.cache.clear()
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        log.info("freed memory (unload_models=%s, free_memory=%s)", unload_models, free_memory)

    def _outcome(self, job: Job, cancel: CancelToken) -> PromptOutcome:
        try:
            workflow = parse_workflow(job.workflow, source=f"prompt {job.number}")
            result = self.executor.run(workflow, targets=job.targets, run_id=job.prompt_id, cancel=cancel)
        except WorkflowInvalid as exc:
            return PromptOutcome.invalid(exc)
        except WorkflowFileError as exc:
            return PromptOutcome.failed("invalid_workflow", str(exc))
        except Exception as exc:  # a bug in the engine must fail this prompt, not the worker
            log.exception("prompt %s crashed the executor", job.prompt_id)
            return PromptOutcome.failed("internal", f"{type(exc).__name__}: {exc}")
        return PromptOutcome.of_run(result, self.events.running_node)
