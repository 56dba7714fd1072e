"""A worker in a child process: the server never runs node code itself, so a crashing node cannot take it down."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.context
import os
import queue
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from graphflow.context import CancelToken
from graphflow.plugins import builtin_modules
from graphflow.server.workers.base import WorkerHandle
from graphflow.server.workers.protocol import Finished, Job, WorkerLost, WorkerMessage, WorkerSpec

log = logging.getLogger("graphflow.server.workers")
START_TIMEOUT_S = 300.0
MEMORY_CHECK_S = 0.2
OVER_MEMORY_EXIT = 70


class ProcessWorker(WorkerHandle):
    """The server's handle on one worker process: start it, give it jobs one at a time, stop or kill it."""

    kind = "process"

    def __init__(self, spec: WorkerSpec, name: str, gpu: int | None = None) -> None:
        super().__init__(name, spec.settings.device if gpu is None else f"cuda:{gpu}")
        self.spec = spec
        self.gpu = gpu
        self.host = socket.gethostname()
        self._process: Any = None
        self._conn: Connection | None = None
        self._inbox: asyncio.Queue[tuple[str, Any]] | None = None
        self._used_memory: int | None = None  # what the worker reported using when over its cap

    async def start(self) -> None:
        """Start the process and wait until its plugins and executor are ready."""
        loop = asyncio.get_running_loop()
        context = _context()
        ours, theirs = context.Pipe(duplex=True)
        self._process = context.Process(target=_child_main, args=(theirs, self.gpu), name=self.name, daemon=True)
        await loop.run_in_executor(None, self._process.start)
        theirs.close()
        self._conn, self._inbox, self.pid = ours, asyncio.Queue(), self._process.pid
        self._conn.send(self.spec)
        reader = threading.Thread(target=self._read, args=(loop, self._conn, self._inbox), daemon=True)
        reader.start()
        try:
            kind, info = await asyncio.wait_for(self._inbox.get(), START_TIMEOUT_S)
        except TimeoutError:
            self.kill()
            raise WorkerLost(f"did not start within {START_TIMEOUT_S:.0f} s", retry=False) from None
        if kind != "ready":
            self.state = "dead"
            raise self._lost(self._death(), retry=False)
        if self.gpu is None:
            self.device = info.get("device", self.device)
        self.state = "idle"
        log.info("worker %s started (pid %s)", self.name, self.pid)

    async def run(self, job: Job) -> AsyncIterator[WorkerMessage]:
        """Run `job`, yielding its events and ending with `Finished`; raises WorkerLost if the process dies."""
        assert self._conn is not None and self._inbox is not None
        self._begin(job.prompt_id)
        try:
            self._conn.send(("run", job))
        except OSError:
            raise self._gone() from None
        try:
            while True:
                kind, message = await self._inbox.get()
                if kind == "over_memory":
                    self._used_memory = message
                    continue
                if kind != "message":
                    raise self._gone()
                self._track(message)
                yield message
                if isinstance(message, Finished):
                    return
        finally:
            self._end()

    def cancel(self) -> None:
        """Ask the running job to stop at its next cancellation check."""
        self._tell("cancel")

    def free(self, unload_models: bool, free_memory: bool) -> None:
        """Drop cached models and/or outputs once the running job (if any) is done."""
        self._tell("free", (unload_models, free_memory))
        self._models_freed(unload_models)

    def kill(self) -> None:
        """Stop the process now (a node that ignores cancellation, or shutdown)."""
        self.state = "dead"
        if self._process is not None and self._process.exitcode is None:
            self._process.kill()

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the process to exit, killing it if it does not within `timeout_s`."""
        self._tell("stop")
        if self._process is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._process.join, timeout_s)
        self.kill()

    def _tell(self, kind: str, value: Any = None) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send((kind, value))

    def _gone(self) -> WorkerLost:
        if self._used_memory is not None:
            cap = self.spec.memory_limit_bytes or 0
            return self._over_memory(self._used_memory, cap)
        return self._lost(self._death())

    def _death(self) -> str:
        code = None
        if self._process is not None:
            self._process.join(1.0)
            code = self._process.exitcode
        if code is None:
            return "process stopped answering"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"process died ({name})"
        return f"process exited with status {code}"

    @staticmethod
    def _read(loop: asyncio.AbstractEventLoop, conn: Connection, inbox: asyncio.Queue[tuple[str, Any]]) -> None:
        while True:
            try:
                item = conn.recv()
            except (EOFError, OSError):
                item = ("lost", None)
            except Exception as exc:  # a message that cannot be unpickled: the worker is of no use any more
                log.error("could not read a message from a worker: %s", exc)
                item = ("lost", None)
            try:
                loop.call_soon_threadsafe(inbox.put_nowait, item)
            except RuntimeError:  # the server's loop has closed (shutdown)
                return
            if item[0] == "lost":
                return


def _context() -> multiprocessing.context.SpawnContext | multiprocessing.context.ForkServerContext:
    """Workers fork from a server process that has imported the built-in nodes once (spawn where there is no
    fork server), so a new worker is ready in a fraction of a second instead of importing torch again."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["graphflow.server.workers.runner", *builtin_modules()])
    return context


def _child_main(conn: Connection, gpu: int | None) -> None:
    """The worker process: build the runner, then run jobs from the server until told to stop."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)  # before anything initialises CUDA
    spec: WorkerSpec = conn.recv()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the server's to handle
    from graphflow.server.workers.runner import PromptRunner

    send_lock = threading.Lock()

    def send(kind: str, value: Any) -> None:
        with send_lock:
            conn.send((kind, value))

    staging = Path(tempfile.mkdtemp(prefix="graphflow-worker-"))
    try:
        if spec.memory_limit_bytes:
            threading.Thread(target=_watch_memory, args=(spec.memory_limit_bytes, send), daemon=True).start()
        runner = PromptRunner(spec, staging)
        jobs: queue.Queue[tuple[Job, CancelToken] | tuple[bool, bool] | None] = queue.Queue()
        current = [CancelToken()]

        def listen() -> None:
            while True:
                try:
                    kind, value = conn.recv()
                except (EOFError, OSError):
                    os._exit(0)  # the server is gone
                if kind == "run":
                    current[0] = CancelToken()  # made here, so a cancel right after the job is never lost
                    jobs.put((value, current[0]))
                elif kind == "cancel":
                    current[0].cancel()
                elif kind == "free":
                    jobs.put(value)
                else:
                    jobs.put(None)
                    return

        threading.Thread(target=listen, daemon=True).start()
        send("ready", {"device": runner.device, "pid": os.getpid()})
        while (item := jobs.get()) is not None:
            if isinstance(item[0], Job):
                job, token = item
                send("message", runner.run(job, lambda message: send("message", message), token))
            else:
                runner.free(*item)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _watch_memory(limit: int, send: Any) -> None:
    import psutil

    process = psutil.Process()
    while True:
        rss = process.memory_info().rss
        if rss > limit:
            send("over_memory", rss)
            time.sleep(0.05)
            os._exit(OVER_MEMORY_EXIT)
        time.sleep(MEMORY_CHECK_S)
