"""The server's workers: started, replaced when one dies, and offered to the dispatcher when idle."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from graphflow.server.workers.protocol import Job, WorkerMessage

log = logging.getLogger("graphflow.server.workers")
RESTART_BACKOFF_S = (0.5, 2.0, 10.0, 30.0)


class Worker(Protocol):
    """A worker as the server drives it: a process on this machine or a Ray actor anywhere."""

    name: str
    state: str  # starting, idle, busy, dead
    held: frozenset[str]
    current: str | None

    async def start(self) -> None: ...
    def run(self, job: Job) -> AsyncIterator[WorkerMessage]: ...
    def cancel(self) -> None: ...
    def free(self, unload_models: bool, free_memory: bool) -> None: ...
    def kill(self) -> None: ...
    async def stop(self, timeout_s: float = 5.0) -> None: ...
    def describe(self) -> dict[str, Any]: ...


class WorkerPool:
    """`size` workers made by `make(name)`; a dead one is replaced by a fresh one in the background."""

    def __init__(self, make: Callable[[str], Worker], size: int = 1) -> None:
        self.make = make
        self.size = size
        self.workers: list[Worker] = []
        self.changed = asyncio.Event()  # set whenever a worker becomes idle or goes away; the dispatcher's
        self._started = asyncio.Event()  # set whenever a start ends, well or not; ready()'s own
        self._numbers = itertools.count(1)
        self._starting: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Start every worker in the background (the server answers meanwhile)."""
        for _ in range(self.size):
            self._launch()

    async def ready(self) -> None:
        """Wait until no worker is starting any more."""
        while any(w.state == "starting" for w in self.workers):
            self._started.clear()  # never the dispatcher's event: clearing that could lose its wake-up
            await self._started.wait()

    def idle(self) -> list[Worker]:
        """The workers ready for a job now."""
        return [w for w in self.workers if w.state == "idle"]

    def replace(self, worker: Worker) -> None:
        """Kill `worker` (if it still runs) and start another in its place."""
        worker.kill()
        if worker in self.workers:
            self.workers.remove(worker)
            self._launch()
        self.changed.set()

    def describe(self) -> list[dict[str, Any]]:
        """Every worker as `/api/workers` shows it."""
        return [w.describe() for w in self.workers]

    async def close(self) -> None:
        """Stop every worker."""
        for task in self._starting:
            task.cancel()
        for task in list(self._starting):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await asyncio.gather(*(w.stop() for w in self.workers), return_exceptions=True)
        self.workers.clear()

    def _launch(self) -> None:
        worker = self.make(f"worker-{next(self._numbers)}")
        self.workers.append(worker)
        task = asyncio.get_running_loop().create_task(self._start(worker), name=f"start {worker.name}")
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    async def _start(self, worker: Worker) -> None:
        for attempt, delay in enumerate((0.0, *RESTART_BACKOFF_S)):
            await asyncio.sleep(delay)
            try:
                await worker.start()
            except Exception as exc:  # WorkerLost, OSError, or a Ray error creating the actor: try again
                log.error("worker %s could not start (attempt %d): %s", worker.name, attempt + 1, exc)
                worker.kill()
                worker.state = "starting"
                continue
            self.changed.set()
            self._started.set()
            return
        worker.state = "dead"
        self.changed.set()
        self._started.set()
        log.error("worker %s could not be started; the queue waits for a worker", worker.name)
