"""What every kind of worker handle keeps: its state, the models it holds, the job and node it is running."""

from __future__ import annotations

from typing import Any

from graphflow.server.workers.protocol import Finished, RunEvent, WorkerLost, WorkerMessage


class WorkerHandle:
    """The server-side bookkeeping shared by process and Ray workers."""

    kind = "worker"

    def __init__(self, name: str, device: str) -> None:
        self.name = name
        self.device = device
        self.host = "?"
        self.pid: int | None = None
        self.state = "starting"  # starting, idle, busy, dead
        self.held: frozenset[str] = frozenset()
        self.current: str | None = None
        self.running_node: tuple[str, str] | None = None

    def describe(self) -> dict[str, Any]:
        """What `/api/workers` shows about this worker."""
        return {
            "name": self.name,
            "kind": self.kind,
            "host": self.host,
            "pid": self.pid,
            "device": self.device,
            "state": self.state,
            "models": sorted(self.held),
            "prompt_id": self.current,
        }

    def _begin(self, prompt_id: str) -> None:
        self.state, self.current, self.running_node = "busy", prompt_id, None

    def _track(self, message: WorkerMessage) -> None:
        if isinstance(message, RunEvent):
            if message.kind == "node_started":
                self.running_node = (message.data["node_id"], message.data["node_type"])
            elif message.kind == "node_finished":
                self.running_node = None
        elif isinstance(message, Finished):
            self.held = message.held

    def _end(self) -> None:
        self.current, self.running_node = None, None
        if self.state == "busy":
            self.state = "idle"

    def _models_freed(self, unload_models: bool) -> None:
        """The server asked the worker to unload its models: it holds none for affinity's sake."""
        if unload_models:
            self.held = frozenset()

    def _over_memory(self, used: int, cap: int) -> WorkerLost:
        """The worker was stopped for using more than `--worker-memory`: running the prompt again would too."""
        gib = 1 << 30
        return self._lost(
            f"used {used / gib:.2f} GiB, more than its memory cap of {cap / gib:.2f} GiB (--worker-memory)",
            retry=False,
        )

    def _lost(self, reason: str, *, retry: bool = True) -> WorkerLost:
        self.state = "dead"
        node_id, node_type = self.running_node or (None, None)
        return WorkerLost(reason, node_id, node_type, retry=retry)
