"""What a run is and how it ended: the records the executor, its observers (hooks) and its callers share."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from graphflow.graph import Plan
from graphflow.workflow import Workflow

RunStatus = Literal["success", "error", "cancelled"]


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
    status: RunStatus
    executed: list[str]
    cached: list[str]
    outputs: dict[str, dict[str, Any]]
    ui: dict[str, dict[str, list[Any]]]
    error: BaseException | None = None
    seconds: float = 0.0
