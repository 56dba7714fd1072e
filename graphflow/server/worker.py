"""Runs queued prompts one at a time in a single worker thread, recording each outcome."""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from graphflow.context import CancelToken
from graphflow.executor import Executor, NodeExecutionError, RunResult
from graphflow.graph import WorkflowInvalid
from graphflow.server.bridge import HookBridge
from graphflow.server.events import EventHub
from graphflow.server.queue_store import PromptRecord, QueueStore
from graphflow.workflow import WorkflowFileError, parse_workflow

log = logging.getLogger("graphflow.server.worker")


class Dispatcher:
    """Takes prompts from the store in order and runs them off the event loop."""

    def __init__(self, store: QueueStore, hub: EventHub, executor: Executor, bridge: HookBridge,
                 pool: ThreadPoolExecutor) -> None:
        self.store = store
        self.hub = hub
        self.executor = executor
        self.bridge = bridge
        self.pool = pool
        self.current: tuple[PromptRecord, CancelToken] | None = None
        self._wake = asyncio.Event()

    def notify(self) -> None:
        """The queue changed: tell clients and wake the loop."""
        self.publish_queue()
        self._wake.set()

    def publish_queue(self) -> None:
        """Send the queue status to every client."""
        running = self.current[0].prompt_id if self.current else None
        self.hub.set_queue(self.store.pending_count(), running)

    def interrupt(self, prompt_id: str | None = None) -> str | None:
        """Cancel the running prompt (only if it is `prompt_id`, when given); returns its id or None."""
        if self.current is None:
            return None
        record, token = self.current
        if prompt_id is not None and prompt_id != record.prompt_id:
            return None
        token.cancel()
        return record.prompt_id

    async def run_forever(self) -> None:
        """Run prompts until cancelled."""
        while True:
            self._wake.clear()
            record = self.store.claim_next()
            if record is None:
                await self._wake.wait()
                continue
            await self._run(record)

    async def _run(self, record: PromptRecord) -> None:
        token = CancelToken()
        self.current = (record, token)
        self.publish_queue()
        self.bridge.expect(record.prompt_id, record.number, record.client_id)
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self.pool, self._execute, record, token)
            outcome = _outcome(result)
        except asyncio.CancelledError:
            token.cancel()  # server shutting down; the record stays 'running' and is recovered on restart
            raise
        except WorkflowInvalid as exc:
            first = exc.issues[0] if exc.issues else None
            outcome = ("error", {}, [], [], {
                "node_id": first.node_id if first else None, "node_type": None, "kind": "invalid_workflow",
                "message": str(first) if first else "the workflow is invalid",
                "issues": [i.to_dict() for i in exc.issues]})
        except WorkflowFileError as exc:
            outcome = ("error", {}, [], [], {"node_id": None, "node_type": None, "kind": "invalid_workflow",
                                             "message": str(exc)})
        except Exception as exc:  # a bug in the engine must fail this prompt, not the server
            log.exception("prompt %s crashed the executor", record.prompt_id)
            outcome = ("error", {}, [], [], {"node_id": None, "node_type": None, "kind": "internal",
                                             "message": f"{type(exc).__name__}: {exc}"})
        status, outputs, executed, cached, error = outcome
        if status == "interrupted" and error is not None and self.hub.running is not None:
            error["node_id"] = self.hub.running.node_id
        self.store.finish(record.prompt_id, status, outputs=outputs, executed=executed, cached=cached, error=error)
        self._announce(record, status, outputs, error, time.time() - (record.started_at or time.time()))
        self.current = None
        self.publish_queue()

    def _execute(self, record: PromptRecord, token: CancelToken) -> RunResult:
        workflow = parse_workflow(record.workflow, source=f"prompt {record.number}")
        return self.executor.run(workflow, targets=record.targets, run_id=record.prompt_id, cancel=token)

    def _announce(self, record: PromptRecord, status: str, outputs: dict[str, Any],
                  error: dict[str, Any] | None, seconds: float) -> None:
        data: dict[str, Any] = {"prompt_id": record.prompt_id}
        if status == "success":
            kind = "run_finished"
            data.update(status=status, outputs=outputs, seconds=round(seconds, 4))
        elif status == "interrupted":
            kind = "run_interrupted"
            data.update(node_id=(error or {}).get("node_id"), reason="user")
        else:
            kind = "run_failed"
            error = dict(error or {})
            issues = error.pop("issues", None)
            data["error"] = error
            if issues is not None:
                data["issues"] = issues
        self.hub.run_event(kind, data, time.time())


def _outcome(result: RunResult) -> tuple[str, dict[str, Any], list[str], list[str], dict[str, Any] | None]:
    if result.status == "success":
        return "success", result.ui, result.executed, result.cached, None
    if result.status == "cancelled":
        return "interrupted", result.ui, result.executed, result.cached, {
            "node_id": None, "node_type": None, "kind": "interrupted", "message": str(result.error or "interrupted")}
    error = result.error
    if isinstance(error, NodeExecutionError):
        cause = error.cause
        details = {"node_id": error.node_id, "node_type": error.node_type, "kind": "node_error",
                   "message": f"{type(cause).__name__}: {cause}"}
    else:
        details = {"node_id": None, "node_type": None, "kind": "internal", "message": str(error)}
    return "error", result.ui, result.executed, result.cached, details

