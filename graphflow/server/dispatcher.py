"""Hands queued prompts to idle workers in queue order and records how each ended; storage faults pause it.

The SQLite queue is the only queue: a prompt is claimed only when a worker is idle, so each worker has at most
one in flight. A worker lost mid-prompt puts the prompt back in its place (`attempts` + 1, a `run_retrying`
event) until MAX_ATTEMPTS, then it fails with `worker_lost`. Files the workers ship are written here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graphflow.registry import Registry
from graphflow.server.events import EventHub
from graphflow.server.outcome import PromptOutcome
from graphflow.server.queue_store import MAX_ATTEMPTS, PromptRecord, QueueStore, StorageUnavailable
from graphflow.server.workers.affinity import choose_worker, model_refs
from graphflow.server.workers.pool import Worker, WorkerPool
from graphflow.server.workers.protocol import Finished, Job, Preview, RunEvent, WorkerLost
from graphflow.server.workers.publish import OutputPublisher

log = logging.getLogger("graphflow.server.dispatcher")
FIRST_RETRY_S = 0.1
LAST_RETRY_S = 5.0
INTERRUPT_GRACE_S = 10.0
RESULT_SOURCE = "result"  # files named only by a prompt's final outputs


@dataclass
class RunningPrompt:
    """A prompt on a worker, and whether the user asked it to stop."""

    record: PromptRecord
    worker: Worker
    interrupted_at: float | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)


@dataclass
class Routing:
    """How prompts were matched to workers: hits found a worker holding the prompt's models."""

    hits: int = 0
    misses: int = 0


class Dispatcher:
    """Takes prompts from the store in order and runs each on an idle worker."""

    def __init__(
        self,
        store: QueueStore,
        hub: EventHub,
        workers: WorkerPool,
        publisher: OutputPublisher,
        registry: Registry,
        *,
        interrupt_grace_s: float = INTERRUPT_GRACE_S,
    ) -> None:
        self.store = store
        self.hub = hub
        self.workers = workers
        self.publisher = publisher
        self.registry = registry
        self.interrupt_grace_s = interrupt_grace_s
        self.running: dict[str, RunningPrompt] = {}
        self.routing = Routing()
        self.listeners: list[Callable[[PromptRecord, PromptOutcome], None]] = []  # told when a prompt ends
        self._wake = asyncio.Event()

    @property
    def current(self) -> RunningPrompt | None:
        """The longest-running prompt (the one a single-worker client thinks of as running)."""
        return next(iter(self.running.values()), None)

    def notify(self) -> None:
        """The queue changed: tell clients and wake the loop."""
        self.publish_queue()
        self._wake.set()

    def publish_queue(self) -> None:
        """Send the queue status to every client."""
        self.hub.set_queue(self.store.pending_count(), list(self.running))

    def interrupt(self, prompt_id: str | None = None) -> str | None:
        """Cancel a running prompt (`prompt_id`, or the longest-running one); returns its id or None.

        A node that does not stop within the grace period has its worker killed (and replaced).
        """
        running = self.running.get(prompt_id) if prompt_id else self.current
        if running is None:
            return None
        if running.interrupted_at is None:
            running.interrupted_at = time.monotonic()
            running.worker.cancel()
            asyncio.get_running_loop().call_later(self.interrupt_grace_s, self._force_stop, running)
        return running.record.prompt_id

    async def run_forever(self) -> None:
        """Run prompts until cancelled; a database that takes no writes, or a bug, pauses it and it tries again."""
        retry_s = 0.0
        while True:
            self._wake.clear()
            self.workers.changed.clear()
            try:
                self._dispatch()
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
            await self._sleep(retry_s)

    async def close(self) -> None:
        """Stop following running prompts (server shutdown; they are re-queued at the next start)."""
        for running in list(self.running.values()):
            if running.task is not None:
                running.task.cancel()
        await asyncio.gather(*(r.task for r in self.running.values() if r.task), return_exceptions=True)

    def _dispatch(self) -> None:
        while idle := self.workers.idle():
            record = self.store.claim_next()
            if record is None:
                return
            needs = model_refs(record.workflow, self.registry)
            worker = choose_worker(idle, needs, self._waiting_needs() if needs or len(idle) > 1 else [])
            if needs:
                if needs <= worker.held:
                    self.routing.hits += 1
                else:
                    self.routing.misses += 1
            worker.state = "busy"  # taken now, so the next pass does not pick it again
            running = RunningPrompt(record, worker)
            self.running[record.prompt_id] = running
            running.task = asyncio.get_running_loop().create_task(self._run(running), name=record.prompt_id)
            self.publish_queue()

    def _waiting_needs(self) -> list[frozenset[str]]:
        return [model_refs(r.workflow, self.registry) for r in self.store.pending(limit=64)]

    async def _sleep(self, seconds: float) -> None:
        """Wait for `notify` or a worker becoming idle (or `seconds`, when not 0)."""
        waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(self.workers.changed.wait())]
        try:
            await asyncio.wait(waits, timeout=seconds or None, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    async def _run(self, running: RunningPrompt) -> None:
        record, worker = running.record, running.worker
        job = Job(record.prompt_id, record.number, record.client_id, record.workflow, record.targets)
        outcome: PromptOutcome | None
        try:
            outcome = await self._follow(job, worker)
        except WorkerLost as lost:
            self.workers.replace(worker)
            self.publisher.forget_worker(worker.name)
            outcome = self._after_loss(running, lost)
        except asyncio.CancelledError:
            raise  # server shutting down: the record stays 'running' and is re-queued at the next start
        except Exception as exc:  # a bug here must fail this prompt, not the dispatcher
            log.exception("following prompt %s failed", record.prompt_id)
            outcome = PromptOutcome.failed("internal", f"{type(exc).__name__}: {exc}")
        finally:
            self.running.pop(record.prompt_id, None)
            self.workers.changed.set()
        if outcome is not None:
            self._end(record, outcome)
        self.publish_queue()

    async def _follow(self, job: Job, worker: Worker) -> PromptOutcome:
        async for message in worker.run(job):
            if isinstance(message, RunEvent):
                data = message.data
                if message.files:
                    self.publisher.publish(worker.name, job.prompt_id, str(data.get("node_id")), message.files)
                self.hub.publish(message.kind, self.publisher.rewrite(worker.name, data))
            elif isinstance(message, Preview):
                self.hub.preview(message.header, message.image)
            elif isinstance(message, Finished):
                self.publisher.publish(worker.name, job.prompt_id, RESULT_SOURCE, message.files)
                outcome = message.outcome
                return PromptOutcome(
                    outcome.status,
                    self.publisher.rewrite(worker.name, outcome.outputs),
                    outcome.executed,
                    outcome.cached,
                    outcome.error,
                )
        raise WorkerLost("ended the job without a result")

    def _after_loss(self, running: RunningPrompt, lost: WorkerLost) -> PromptOutcome | None:
        """How a prompt whose worker was lost goes on: stopped, retried (None), or failed."""
        record = running.record
        log.warning("prompt %s: %s", record.prompt_id, lost)
        if running.interrupted_at is not None:
            return PromptOutcome.stopped(
                f"interrupted; the node did not stop within {self.interrupt_grace_s:g} s, so its worker was stopped",
                lost.node_id,
                lost.node_type,
            )
        if lost.retry and record.attempts < MAX_ATTEMPTS:
            self.store.requeue(record.prompt_id)
            self.hub.publish(
                "run_retrying",
                {
                    "prompt_id": record.prompt_id,
                    "attempt": record.attempts + 1,  # the one about to be made
                    "reason": str(lost),
                    "node_id": lost.node_id,
                },
            )
            return None
        tries = f" ({record.attempts} attempts)" if lost.retry else ""
        return PromptOutcome.failed("worker_lost", f"{lost}{tries}", lost.node_id, lost.node_type)

    def _force_stop(self, running: RunningPrompt) -> None:
        if self.running.get(running.record.prompt_id) is running:
            log.warning(
                "prompt %s did not stop within %g s of the interrupt; stopping its worker",
                running.record.prompt_id,
                self.interrupt_grace_s,
            )
            running.worker.kill()

    def _end(self, record: PromptRecord, outcome: PromptOutcome) -> None:
        self.store.finish(record.prompt_id, outcome)  # held in memory while the database takes no writes
        self.publisher.forget_prompt(record.prompt_id)
        self.announce(record, outcome, time.time() - (record.started_at or time.time()))
        for listener in self.listeners:
            try:
                listener(record, outcome)
            except Exception:  # a listener's bug must not stop the queue
                log.exception("a listener failed on the end of prompt %s", record.prompt_id)

    def announce(self, record: PromptRecord, outcome: PromptOutcome, seconds: float) -> None:
        """Tell the clients how a prompt ended: `run_finished`, `run_interrupted` or `run_failed`."""
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
