"""Runs a validated workflow: output-driven order, structural caching, events, cancellation."""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from graphflow.cache import OutputCache
from graphflow.context import Cancelled, CancelToken, Context
from graphflow.graph import Plan, PlannedNode, plan
from graphflow.plugins import Plugins
from graphflow.workflow import Workflow

log = logging.getLogger("graphflow.executor")


class NodeExecutionError(RuntimeError):
    """A node raised while running; names the node, its type and its inputs."""

    def __init__(self, node_id: str, node_type: str, inputs: dict[str, str], cause: BaseException) -> None:
        self.node_id = node_id
        self.node_type = node_type
        self.inputs = inputs
        self.cause = cause
        shown = ", ".join(f"{k}={v}" for k, v in inputs.items()) or "(none)"
        super().__init__(f"node {node_id!r} ({node_type}) failed: {type(cause).__name__}: {cause}\n  inputs: {shown}")


class NodeOutputError(TypeError):
    """A node returned something that does not match its declared outputs."""


@dataclass
class RunInfo:
    """What observers of a run (CLI, server) are told about it."""

    run_id: str
    workflow: Workflow
    plan: Plan
    started: float = field(default_factory=time.perf_counter)


@dataclass
class RunResult:
    """The outcome of a run: status, which nodes ran or came from cache, outputs and display data."""

    run_id: str
    status: str
    executed: list[str]
    cached: list[str]
    outputs: dict[str, dict[str, Any]]
    ui: dict[str, dict[str, list[Any]]]
    error: BaseException | None = None
    seconds: float = 0.0


class Executor:
    """Runs workflows with one output cache shared across runs."""

    def __init__(
        self,
        plugins: Plugins,
        *,
        cache: OutputCache | None = None,
        output_dir: str | Path = "output",
        temp_dir: str | Path = "temp",
        input_dir: str | Path = "input",
        services: dict[str, Any] | None = None,
    ) -> None:
        self.plugins = plugins
        self.cache = cache if cache is not None else OutputCache()
        self.output_dir = Path(output_dir)
        self.temp_dir = Path(temp_dir)
        self.input_dir = Path(input_dir)
        self.services = services if services is not None else {}

    def run(
        self,
        workflow: Workflow,
        *,
        targets: Iterable[str] | None = None,
        run_id: str | None = None,
        cancel: CancelToken | None = None,
    ) -> RunResult:
        """Validate and run; raises WorkflowInvalid, else returns a result whose status tells how it ended."""
        execution_plan = plan(workflow, self.plugins.registry, targets)
        info = RunInfo(run_id or uuid.uuid4().hex, workflow, execution_plan)
        return _Run(self, info, cancel or CancelToken()).execute()


class _Run:
    def __init__(self, executor: Executor, info: RunInfo, cancel: CancelToken) -> None:
        self.executor = executor
        self.info = info
        self.cancel = cancel
        self.hook = executor.plugins.manager.hook
        self.nonce = uuid.uuid4().hex
        self.keys: dict[str, str] = {}
        self.values: dict[str, dict[str, Any]] = {}
        self.result = RunResult(info.run_id, "success", [], [], {}, {})
        self.workflow_json = info.workflow.model_dump(mode="json", exclude_none=True)
        self.observed = {name for name in _EVENTS if getattr(self.hook, name).get_hookimpls()}

    def execute(self) -> RunResult:
        order = self.info.plan.order
        cache = self.executor.cache
        for node in order:
            self.keys[node.node_id] = self._key(node)
        self.result.cached = [n.node_id for n in order if self.keys[n.node_id] in cache]
        self._emit("on_run_start", run=self.info)
        if self.result.cached:
            self._emit("on_nodes_cached", run=self.info, node_ids=list(self.result.cached))
        try:
            for node in order:
                self._step(node)
        except Cancelled as exc:
            self.result.status, self.result.error = "cancelled", exc
        except NodeExecutionError as exc:
            self.result.status, self.result.error = "error", exc
        self.result.outputs = {t: self.values[t] for t in self.info.plan.targets if t in self.values}
        self.result.seconds = time.perf_counter() - self.info.started
        self._emit("on_run_end", run=self.info, status=self.result.status, error=self.result.error)
        return self.result

    def _step(self, node: PlannedNode) -> None:
        if self.cancel.cancelled:
            raise Cancelled(f"cancelled before node {node.node_id!r}")
        key = self.keys[node.node_id]
        entry = self.executor.cache.get(key)
        if entry is not None:
            self.values[node.node_id] = entry.outputs
            if entry.ui:
                self.result.ui[node.node_id] = entry.ui
            return
        inputs = dict(node.literals)
        for name, (src, output) in node.links.items():
            inputs[name] = self.values[src][output]
        ctx = Context(node.node_id, node.spec.type_id, self.executor.output_dir, self.executor.temp_dir,
                      self.executor.input_dir, self.workflow_json, self.executor.services, self._progress, self.cancel)
        self._emit("on_node_start", run=self.info, node_id=node.node_id)
        started = time.perf_counter()
        try:
            outputs = _normalise(node, node.spec.cls().run(ctx, **inputs))
        except Cancelled:
            raise
        except Exception as exc:
            error = NodeExecutionError(node.node_id, node.spec.type_id, _describe_inputs(node, inputs), exc)
            error.__cause__ = exc
            self._emit("on_node_error", run=self.info, node_id=node.node_id, error=error)
            raise error from exc
        self.values[node.node_id] = outputs
        self.executor.cache.put(key, outputs, ctx.ui)
        self.result.executed.append(node.node_id)
        if ctx.ui:
            self.result.ui[node.node_id] = ctx.ui
        self._emit("on_node_end", run=self.info, node_id=node.node_id, ui=ctx.ui,
                   seconds=time.perf_counter() - started)

    def _key(self, node: PlannedNode) -> str:
        spec = node.spec
        parts = [spec.type_id, spec.version, json.dumps(node.literals, sort_keys=True, default=repr)]
        parts += [f"{name}={self.keys[src]}:{out}" for name, (src, out) in sorted(node.links.items())]
        if spec.fingerprint is not None:  # e.g. a file's size and mtime, so an edited file is re-read
            parts.append(repr(_fingerprint(node)))
        if not spec.cacheable:
            parts.append(self.nonce)  # never served from cache, and its descendants re-run too
        return hashlib.blake2b("\x00".join(parts).encode(), digest_size=16).hexdigest()

    def _progress(self, node_id: str, step: int, total: int, preview: Any) -> None:
        self._emit("on_progress", run=self.info, node_id=node_id, step=step, total=total, preview=preview)

    def _emit(self, hook_name: str, **kwargs: Any) -> None:
        if hook_name not in self.observed:
            return
        try:
            getattr(self.hook, hook_name)(**kwargs)
        except Exception:  # an observer's bug must not fail the run
            log.exception("a plugin's %s hook raised", hook_name)


_EVENTS = ("on_run_start", "on_nodes_cached", "on_node_start", "on_progress", "on_node_end", "on_node_error",
           "on_run_end")


def _normalise(node: PlannedNode, returned: Any) -> dict[str, Any]:
    names = list(node.spec.outputs)
    if isinstance(returned, dict) and set(returned) == set(names) and (names or not returned):
        return returned
    if returned is None and not names:
        return {}
    if isinstance(returned, tuple) and len(returned) == len(names) and len(names) != 1:
        return dict(zip(names, returned))
    if len(names) == 1 and not isinstance(returned, dict):
        return {names[0]: returned}
    raise NodeOutputError(f"run() returned {type(returned).__name__}; expected a dict with keys {names}")


def _fingerprint(node: PlannedNode) -> Any:
    try:
        return node.spec.fingerprint(**node.literals)
    except Exception as exc:  # a file that vanished: let the node itself report it when it runs
        return f"unavailable: {exc}"


def _describe_inputs(node: PlannedNode, inputs: dict[str, Any]) -> dict[str, str]:
    described = {}
    for name, value in inputs.items():
        if name in node.links:
            src, out = node.links[name]
            described[name] = f"<{node.spec.inputs[name].type} from {src!r}.{out}>"
        else:
            text = repr(value)
            described[name] = text if len(text) <= 60 else text[:57] + "..."
    return described
