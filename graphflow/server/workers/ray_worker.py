"""Workers as Ray actors: one per GPU (or per `--worker-cpus`), on this machine or anywhere in a Ray cluster.

Each actor builds one `PromptRunner` (plugins, executor, model cache) and streams a job's events back
through a Ray streaming generator. Ray's own retries are off: the server's queue decides what runs again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import shutil
import socket
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from graphflow.context import CancelToken
from graphflow.server.workers.base import WorkerHandle
from graphflow.server.workers.protocol import Finished, Job, WorkerMessage, WorkerSpec


class WorkerActor:
    """The actor's body (wrapped by `ray.remote` when a pool is made)."""

    def __init__(self, spec: WorkerSpec) -> None:
        from graphflow.server.workers.runner import PromptRunner

        self.staging = Path(tempfile.mkdtemp(prefix="graphflow-ray-worker-"))
        self.runner = PromptRunner(spec, self.staging)
        self.token = CancelToken()

    def ready(self) -> dict[str, Any]:
        """Where the actor lives."""
        return {"host": socket.gethostname(), "pid": os.getpid(), "device": str(self.runner.settings.device)}

    def run(self, job: Job) -> Iterator[WorkerMessage]:
        """Run `job`, yielding its messages (the actor is threaded, so `cancel` is heard meanwhile)."""
        token = self.token = CancelToken()
        messages: queue.Queue[WorkerMessage] = queue.Queue()
        thread = threading.Thread(
            target=lambda: messages.put(self.runner.run(job, messages.put, token)), daemon=True, name="graphflow-run"
        )
        thread.start()
        while True:
            message = messages.get()
            yield message
            if isinstance(message, Finished):
                return

    def cancel(self) -> None:
        """Cancel the running job at its next cancellation check."""
        self.token.cancel()

    def free(self, unload_models: bool, free_memory: bool) -> None:
        """Drop cached models and/or outputs."""
        self.runner.free(unload_models, free_memory)

    def close(self) -> None:
        """Remove the actor's own folders."""
        shutil.rmtree(self.staging, ignore_errors=True)


class RayWorker(WorkerHandle):
    """The server's handle on one worker actor."""

    kind = "ray"

    def __init__(self, spec: WorkerSpec, name: str, resources: dict[str, float]) -> None:
        super().__init__(name, spec.settings.device)
        self.spec = spec
        self.resources = resources
        self._actor: Any = None
        self._stream: Any = None

    async def start(self) -> None:
        """Create the actor and wait until it has built its runner."""
        import ray

        options = {"max_restarts": 0, "max_task_retries": 0, "max_concurrency": 2, **self.resources}
        self._actor = ray.remote(WorkerActor).options(**options).remote(self.spec)
        try:
            info = await self._actor.ready.remote()
        except ray.exceptions.RayError as exc:
            raise self._lost(f"actor could not start: {exc}", retry=False) from None
        self.host, self.pid, self.device = info["host"], info["pid"], info["device"]
        self.state = "idle"

    async def run(self, job: Job) -> AsyncIterator[WorkerMessage]:
        """Run `job` on the actor, yielding its messages; raises WorkerLost if the actor or its machine dies."""
        import ray

        self._begin(job.prompt_id)
        self._stream = self._actor.run.options(num_returns="streaming").remote(job)
        try:
            async for ref in self._stream:
                try:
                    message = await ref
                except ray.exceptions.RayError as exc:
                    raise self._lost(f"actor died ({type(exc).__name__})") from None
                self._track(message)
                yield message
                if isinstance(message, Finished):
                    return
            raise self._lost("actor ended the job without a result")
        except ray.exceptions.RayError as exc:
            raise self._lost(f"actor died ({type(exc).__name__})") from None
        finally:
            self._stream = None
            self._end()

    def cancel(self) -> None:
        """Cancel the running job at its next cancellation check."""
        if self._actor is not None:
            self._actor.cancel.remote()

    def free(self, unload_models: bool, free_memory: bool) -> None:
        """Drop cached models and/or outputs on the actor."""
        if self._actor is not None:
            self._actor.free.remote(unload_models, free_memory)

    def kill(self) -> None:
        """End the actor now."""
        import ray

        self.state = "dead"
        if self._actor is not None:
            ray.kill(self._actor, no_restart=True)

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Let the actor clean up, then end it."""
        if self._actor is not None and self.state != "dead":
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._actor.close.remote(), timeout_s)
        self.kill()
