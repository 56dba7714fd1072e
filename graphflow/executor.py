"""Runs a validated workflow: output-driven order, structural caching, events, cancellation."""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import pluggy

from graphflow.cache import ModelCache, OutputCache
from graphflow.context import Cancelled, CancelToken, Context
from graphflow.declaration import NodeSpec
from graphflow.graph import PlannedNode, plan
from graphflow.limits import over_limits
from graphflow.problems import shown
from graphflow.registry import Registry
from graphflow.runs import NodeExecutionError, NodeOutputError, RunInfo, RunResult
from graphflow.settings import Settings
from graphflow.types import number_problem
from graphflow.workflow import Workflow

log = logging.getLogger("graphflow.executor")


class Executor:
    """Runs workflows under one `Settings`, with an output cache and a model cache shared across its runs."""

    def __init__(
        self,
        registry: Registry,
        hooks: pluggy.HookRelay,
        settings: Settings,
        *,
        cache: OutputCache | None = None,
        models: ModelCache | None = None,
    ) -> None:
        self.registry = registry
        self.hooks = hooks
        self.settings = settings
        self.cache = (
            cache if cache is not None else OutputCache(settings.output_cache_entries, settings.output_cache_bytes)
        )
        self.models = models if models is not None else ModelCache(settings.model_cache_bytes)

    def run(
        self,
        workflow: Workflow,
        *,
        targets: Iterable[str] | None = None,
        run_id: str | None = None,
        cancel: CancelToken | None = None,
    ) -> RunResult:
        """Validate and run; raises WorkflowInvalid, else returns a result whose status tells how it ended."""
        execution_plan = plan(workflow, self.registry, self.settings, targets)
        info = RunInfo(run_id or uuid.uuid4().hex, workflow, execution_plan)
        return _Run(self, info, cancel or CancelToken()).execute()


class _Run:
    def __init__(self, executor: Executor, info: RunInfo, cancel: CancelToken) -> None:
        self.executor = executor
        self.info = info
        self.cancel = cancel
        self.hook = executor.hooks
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
        ctx = Context(
            node.node_id,
            node.spec.type_id,
            self.executor.settings,
            self.executor.models,
            self.workflow_json,
            self._progress,
            self.cancel,
        )
        self._emit("on_node_start", run=self.info, node_id=node.node_id)
        started = time.perf_counter()
        try:
            for name, problem in over_limits(node.spec, inputs, self.executor.settings):  # linked values too
                raise ValueError(f"input {name!r}: {problem}")
            outputs = collect_outputs(node.spec, node.spec.cls().run(ctx, **inputs))
        except Cancelled:
            raise
        except (Exception, SystemExit) as exc:  # a node calling sys.exit() fails itself, not its process
            error = NodeExecutionError(node.node_id, node.spec.type_id, _describe_inputs(node, inputs), exc)
            error.__cause__ = exc
            self._emit("on_node_error", run=self.info, node_id=node.node_id, error=error)
            raise error from exc
        self.values[node.node_id] = outputs
        self.executor.cache.put(key, outputs, ctx.ui)
        self.result.executed.append(node.node_id)
        if ctx.ui:
            self.result.ui[node.node_id] = ctx.ui
        self._emit("on_node_end", run=self.info, node_id=node.node_id, ui=ctx.ui, seconds=time.perf_counter() - started)

    def _key(self, node: PlannedNode) -> str:
        spec = node.spec
        parts = [spec.type_id, spec.version, json.dumps(node.literals, sort_keys=True, default=repr)]
        parts += [f"{name}={self.keys[src]}:{out}" for name, (src, out) in sorted(node.links.items())]
        if spec.fingerprint is not None:  # e.g. a file's size and mtime, so an edited file is re-read
            parts.append(repr(_fingerprint(node, self.executor.settings)))
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


_EVENTS = (
    "on_run_start",
    "on_nodes_cached",
    "on_node_start",
    "on_progress",
    "on_node_end",
    "on_node_error",
    "on_run_end",
)


def collect_outputs(spec: NodeSpec, returned: Any) -> dict[str, Any]:
    """A node's outputs by name from what `run()` returned, each checked against its declared type.

    One output: the value itself. Several: a mapping or a named tuple with exactly the output names.
    No output: None.
    """
    names = list(spec.outputs)
    if not names:
        if returned is not None:
            raise NodeOutputError(f"run() returned {type(returned).__name__}, but the node declares no outputs")
        return {}
    if len(names) == 1:
        values = {names[0]: returned}
    elif isinstance(returned, tuple) and hasattr(returned, "_asdict"):
        values = dict(returned._asdict())
    elif isinstance(returned, Mapping):
        values = dict(returned)
    else:
        raise NodeOutputError(
            f"run() returned {type(returned).__name__}; a node with several outputs returns a dict "
            f"or a NamedTuple naming them: {', '.join(names)}"
        )
    if set(values) != set(names):
        raise NodeOutputError(f"run() returned outputs {sorted(values)}, but the node declares {names}")
    for name, value in values.items():
        declared = spec.outputs[name].type
        if not declared.accepts_value(value):
            problem = number_problem(value) if declared.literal else None
            detail = f" ({problem})" if problem else ""
            raise NodeOutputError(
                f"output {name!r} must be {declared}, but run() gave {type(value).__name__} {shown(value)}{detail}"
            )
    return values


def _fingerprint(node: PlannedNode, settings: Settings) -> Any:
    assert node.spec.fingerprint is not None
    try:
        return node.spec.fingerprint(settings, node.literals)
    except Exception as exc:  # a file that vanished: let the node itself report it when it runs
        return f"unavailable: {exc}"


def _describe_inputs(node: PlannedNode, inputs: dict[str, Any]) -> dict[str, str]:
    described = {}
    for name, value in inputs.items():
        if name in node.links:
            src, out = node.links[name]
            described[name] = f"<{node.spec.inputs[name].type} from {src!r}.{out}>"
        else:
            described[name] = shown(value)
    return described
