"""How a prompt ended, as the server records and announces it: a status, its results and a typed error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from graphflow.graph import WorkflowInvalid
from graphflow.runs import NodeExecutionError, RunResult

PromptStatus = Literal["success", "error", "interrupted"]
ErrorKind = Literal["node_error", "invalid_workflow", "internal", "interrupted", "worker_lost"]


@dataclass(frozen=True)
class PromptError:
    """Why a prompt did not succeed: its kind, a sentence, and the node at fault when there is one."""

    kind: ErrorKind
    message: str
    node_id: str | None = None
    node_type: str | None = None
    issues: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The documented error JSON (with the validation issues when there are some)."""
        out: dict[str, Any] = {
            "node_id": self.node_id,
            "node_type": self.node_type,
            "kind": self.kind,
            "message": self.message,
        }
        if self.issues is not None:
            out["issues"] = self.issues
        return out


@dataclass(frozen=True)
class PromptOutcome:
    """The end of one prompt: status, what each output node showed, which nodes ran or came from cache."""

    status: PromptStatus
    outputs: dict[str, Any] = field(default_factory=dict)
    executed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    error: PromptError | None = None

    @classmethod
    def of_run(cls, result: RunResult, running_node: str | None = None) -> PromptOutcome:
        """The outcome of a run that started; an interrupted one names `running_node`."""
        error = result.error
        if result.status == "success":
            status: PromptStatus = "success"
            reason = None
        elif result.status == "cancelled":
            status, reason = (
                "interrupted",
                PromptError("interrupted", str(error or "interrupted"), node_id=running_node),
            )
        elif isinstance(error, NodeExecutionError):
            cause = error.cause
            status = "error"
            reason = PromptError("node_error", f"{type(cause).__name__}: {cause}", error.node_id, error.node_type)
        else:
            status, reason = "error", PromptError("internal", str(error))
        return cls(status, result.ui, result.executed, result.cached, reason)

    @classmethod
    def invalid(cls, exc: WorkflowInvalid) -> PromptOutcome:
        """A prompt whose workflow no longer validates (e.g. a model file went away while it waited)."""
        first = exc.issues[0] if exc.issues else None
        return cls(
            "error",
            error=PromptError(
                "invalid_workflow",
                str(first) if first else "the workflow is invalid",
                node_id=first.node_id if first else None,
                issues=[i.to_dict() for i in exc.issues],
            ),
        )

    @classmethod
    def failed(
        cls, kind: ErrorKind, message: str, node_id: str | None = None, node_type: str | None = None
    ) -> PromptOutcome:
        """A prompt that failed outside its nodes' own code (before any ran, or with its worker)."""
        return cls("error", error=PromptError(kind, message, node_id, node_type))

    @classmethod
    def stopped(cls, message: str, node_id: str | None = None, node_type: str | None = None) -> PromptOutcome:
        """A prompt interrupted by the user whose worker had to be stopped."""
        return cls("interrupted", error=PromptError("interrupted", message, node_id, node_type))
