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
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from graphflow.context import CancelToken
from graphflow.server.workers.base import WorkerHandle
from graphflow.server.workers.protocol import Finished, Job, RunEvent, WorkerMessage, WorkerSpec

START_TIMEOUT_S = 300.0
MEMORY_CHECK_S = 0.2
OVER_MEMORY = "worker_over_memory"  # the event an actor sends before it ends itself for using too much memory
OVER_MEMORY_EXIT = 70
EXIT_AFTER_S = 2.0  # time for the last event to reach the server before an actor over its cap exits


class WorkerActor:
    """The actor's body (wrapped by `ray.remote` when a pool is made)."""

    def __init__(self, spec: WorkerSpec) -> None:
        from graphflow.server.workers.runner import PromptRunner

        self.staging = Path(tempfile.mkdtemp(prefix="graphflow-ray-worker-"))
        self.runner = PromptRunner(spec, self.staging)
        self.busy = threading.Lock()  # held while the runner runs a job or frees memory
        self.guard = threading.Lock()  # guards the fields below
        self.prompt_id: str | None = None
        self.token = CancelToken()
        self.cancel_first: str | None = None  # a cancel that arrived before its job
        self.messages: queue.Queue[WorkerMessage] | None = None
        if spec.memory_limit_bytes:
            threading.Thread(target=self._watch_memory, args=(spec.memory_limit_bytes,), daemon=True).start()

    def ready(self) -> dict[str, Any]:
        """Where the actor lives: host, process and device (`cuda:N` names the GPU Ray gave it on that host)."""
        import ray

        gpus = ray.get_runtime_context().get_accelerator_ids().get("GPU", [])
        device = f"cuda:{gpus[0]}" if gpus else self.runner.device
        return {"host": socket.gethostname(), "pid": os.getpid(), "device": device}

    def run(self, job: Job) -> Iterator[WorkerMessage]:
        """Run `job`, yielding its messages (the actor is threaded, so `cancel` is heard meanwhile)."""
        token = CancelToken()
        messages: queue.Queue[WorkerMessage] = queue.Queue()
        with self.guard:
            if self.cancel_first == job.prompt_id:
                token.cancel()
            self.prompt_id, self.token, self.cancel_first, self.messages = job.prompt_id, token, None, messages

        def work() -> None:
            with self.busy:
                messages.put(self.runner.run(job, messages.put, token))

        threading.Thread(target=work, daemon=True, name="graphflow-run").start()
        try:
            while True:
                message = messages.get()
                yield message
                if isinstance(message, Finished):
                    return
                if isinstance(message, RunEvent) and message.kind == OVER_MEMORY:
                    time.sleep(EXIT_AFTER_S)  # the server kills the actor meanwhile; this is in case it cannot
                    os._exit(OVER_MEMORY_EXIT)
        finally:
            with self.guard:
                self.prompt_id, self.messages = None, None

    def cancel(self, prompt_id: str) -> None:
        """Cancel the job of `prompt_id` at its next cancellation check (even if it has not begun yet)."""
        with self.guard:
            if self.prompt_id == prompt_id:
                self.token.cancel()
            else:
                self.cancel_first = prompt_id

    def free(self, unload_models: bool, free_memory: bool) -> None:
        """Drop cached models and/or outputs once the running job (if any) is done."""

        def free() -> None:
            with self.busy:
                self.runner.free(unload_models, free_memory)

        threading.Thread(target=free, daemon=True, name="graphflow-free").start()

    def close(self) -> None:
        """Remove the actor's own folders."""
        shutil.rmtree(self.staging, ignore_errors=True)

    def _watch_memory(self, limit: int) -> None:
        import psutil

        process = psutil.Process()
        while (rss := process.memory_info().rss) <= limit:
            time.sleep(MEMORY_CHECK_S)
        with self.guard:
            messages = self.messages
        if messages is None:
            os._exit(OVER_MEMORY_EXIT)  # over the cap between jobs: nothing to report, the server replaces it
        messages.put(RunEvent(OVER_MEMORY, {"rss": rss, "limit": limit}))


class RayWorker(WorkerHandle):
    """The server's handle on one worker actor."""

    kind = "ray"

    def __init__(self, spec: WorkerSpec, name: str, resources: dict[str, float]) -> None:
        super().__init__(name, spec.settings.device)
        self.spec = spec
        self.resources = resources
        self._actor: Any = None

    async def start(self) -> None:
        """Create the actor and wait until it has built its runner (and the cluster had room for it)."""
        import ray

        options = {"max_restarts": 0, "max_task_retries": 0, "max_concurrency": 2, **self.resources}
        self._actor = ray.remote(WorkerActor).options(**options).remote(self.spec)
        try:
            info = await asyncio.wait_for(self._actor.ready.remote(), START_TIMEOUT_S)
        except TimeoutError:
            raise self._lost(
                f"did not start within {START_TIMEOUT_S:.0f} s; does the cluster have {self.resources} free?",
                retry=False,
            ) from None
        except ray.exceptions.RayError as exc:
            raise self._lost(f"actor could not start: {exc}", retry=False) from None
        self.host, self.pid, self.device = info["host"], info["pid"], info["device"]
        self.state = "idle"

    async def run(self, job: Job) -> AsyncIterator[WorkerMessage]:
        """Run `job` on the actor, yielding its messages; raises WorkerLost if the actor or its machine dies."""
        import ray

        self._begin(job.prompt_id)
        stream = self._actor.run.options(num_returns="streaming").remote(job)
        try:
            async for ref in stream:
                message = await ref
                if isinstance(message, RunEvent) and message.kind == OVER_MEMORY:
                    raise self._over_memory(message.data["rss"], message.data["limit"])
                self._track(message)
                yield message
                if isinstance(message, Finished):
                    return
            raise self._lost("actor ended the job without a result")
        except ray.exceptions.RayError as exc:
            raise self._lost(f"actor died ({type(exc).__name__})") from None
        finally:
            self._end()

    def cancel(self) -> None:
        """Cancel the running job at its next cancellation check."""
        if self._actor is not None and self.current is not None:
            self._actor.cancel.remote(self.current)

    def free(self, unload_models: bool, free_memory: bool) -> None:
        """Drop cached models and/or outputs on the actor once its running job is done."""
        if self._actor is not None:
            self._actor.free.remote(unload_models, free_memory)
            self._models_freed(unload_models)

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
