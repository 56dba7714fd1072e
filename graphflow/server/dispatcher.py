"""Runs queued prompts one at a time in a single worker thread, recording each outcome; storage faults pause it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from graphflow.context import CancelToken
from graphflow.executor import Executor
from graphflow.graph import WorkflowInvalid
from graphflow.server.bridge import HookBridge
from graphflow.server.events import EventHub
from graphflow.server.outcome import PromptOutcome
from graphflow.server.queue_store import PromptRecord, QueueStore, StorageUnavailable
from graphflow.workflow import WorkflowFileError, parse_workflow

log = logging.getLogger("graphflow.server.dispatcher")
FIRST_RETRY_S = 0.1
LAST_RETRY_S = 5.0


@dataclass
class RunningPrompt:
    """The prompt being run now and the token that interrupts it."""

    record: PromptRecord
    token: CancelToken = field(default_factory=CancelToken)


class Dispatcher:
    """Takes prompts from the store in order and runs them off the event loop."""

    def __init__(
        self, store: QueueStore, hub: EventHub, executor: Executor, bridge: HookBridge, pool: ThreadPoolExecutor
    ) -> None:
        self.store = store
        self.hub = hub
        self.executor = executor
        self.bridge = bridge
        self.pool = pool
        self.current: RunningPrompt | None = None
        self._wake = asyncio.Event()

    def notify(self) -> None:
        """The queue changed: tell clients and wake the loop."""
        self.publish_queue()
        self._wake.set()

    def publish_queue(self) -> None:
        """Send the queue status to every client."""
        self.hub.set_queue(self.store.pending_count(), self.current.record.prompt_id if self.current else None)

    def interrupt(self, prompt_id: str | None = None) -> str | None:
        """Cancel the running prompt (only if it is `prompt_id`, when given); returns its id or None."""
        if self.current is None or prompt_id not in (None, self.current.record.prompt_id):
            return None
        self.current.token.cancel()
        return self.current.record.prompt_id

    async def run_forever(self) -> None:
        """Run prompts until cancelled; a database that takes no writes, or a bug, pauses it and it tries again."""
        retry_s = 0.0
        while True:
            self._wake.clear()
            try:
                record = self.store.claim_next()
                if record is not None:
                    await self._run(record)
            except StorageUnavailable as exc:
                if not retry_s:
                    log.warning("prompts wait until the database takes writes again: %s", exc)
                retry_s = _later(retry_s)
            except Exception:
                log.exception("the dispatcher failed; it tries again")
                retry_s = _later(retry_s)
            else:
                if retry_s:
                    log.warning("the dispatcher runs prompts again")
                    retry_s = 0.0
                if record is not None:
                    continue
            await self._sleep(retry_s)

    async def _sleep(self, seconds: float) -> None:
        """Wait for `notify` (or `seconds`, when not 0)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds or None)

    async def _run(self, record: PromptRecord) -> None:
        running = self.current = RunningPrompt(record)
        try:
            self.publish_queue()
            self.bridge.expect(record.prompt_id, record.number, record.client_id)
            loop = asyncio.get_running_loop()
            try:
                outcome = await loop.run_in_executor(self.pool, self._execute, running)
            except asyncio.CancelledError:
                running.token.cancel()  # server shutting down; the record stays 'running' and is recovered on restart
                raise
            self.store.finish(record.prompt_id, outcome)  # held in memory while the database takes no writes
        finally:
            self.current = None
        self._announce(record, outcome, time.time() - (record.started_at or time.time()))
        self.publish_queue()

    def _execute(self, running: RunningPrompt) -> PromptOutcome:
        record = running.record
        try:
            workflow = parse_workflow(record.workflow, source=f"prompt {record.number}")
            result = self.executor.run(workflow, targets=record.targets, run_id=record.prompt_id, cancel=running.token)
        except WorkflowInvalid as exc:
            return PromptOutcome.invalid(exc)
        except WorkflowFileError as exc:
            return PromptOutcome.failed("invalid_workflow", str(exc))
        except Exception as exc:  # a bug in the engine must fail this prompt, not the server
            log.exception("prompt %s crashed the executor", record.prompt_id)
            return PromptOutcome.failed("internal", f"{type(exc).__name__}: {exc}")
        return PromptOutcome.of_run(result, self.bridge.running_node)

    def _announce(self, record: PromptRecord, outcome: PromptOutcome, seconds: float) -> None:
        data: dict[str, Any] = {"prompt_id": record.prompt_id}
        error = outcome.error
        if outcome.status == "success":
            kind = "run_finished"
            data.update(status=outcome.status, outputs=outcome.outputs, seconds=round(seconds, 4))
        elif outcome.status == "interrupted":
            kind = "run_interrupted"
            data.update(node_id=error.node_id if error else None, reason="user")
        else:
            kind = "run_failed"
            details = error.to_dict() if error else {}
            issues = details.pop("issues", None)
            data["error"] = details
            if issues is not None:
                data["issues"] = issues
        self.hub.publish(kind, data)


def _later(retry_s: float) -> float:
    """The next wait before trying again: doubling from FIRST_RETRY_S up to LAST_RETRY_S."""
    return min(max(retry_s * 2, FIRST_RETRY_S), LAST_RETRY_S)
