"""What the server and a worker say to each other: a job, the events of its run, and how it ended."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphflow.server.outcome import PromptOutcome
from graphflow.settings import Settings


@dataclass(frozen=True)
class WorkerSpec:
    """How to build a worker: the server's run settings and the plugins it loads."""

    settings: Settings
    plugins_dir: Path | None = None
    entry_points: bool = True
    preview_max_side: int = 512
    memory_limit_bytes: int | None = None
    torch_threads: int | None = None  # None: torch's default (every core)


@dataclass(frozen=True)
class Job:
    """One prompt to run: its id, number and owner (for events), the workflow JSON and the targets."""

    prompt_id: str
    number: int
    client_id: str | None
    workflow: dict[str, Any]
    targets: list[str] | None = None


@dataclass(frozen=True)
class StagedFile:
    """A file a node wrote in the worker's own folders, shipped to the server with its bytes."""

    kind: str  # "output" or "temp"
    subfolder: str
    filename: str
    data: bytes

    @property
    def ref(self) -> tuple[str, str, str]:
        """The (type, subfolder, filename) the worker's results name it by."""
        return (self.kind, self.subfolder, self.filename)


@dataclass(frozen=True)
class RunEvent:
    """An event of a running prompt, as the websocket clients get it (`files` travel with node_finished)."""

    kind: str
    data: dict[str, Any]
    files: tuple[StagedFile, ...] = ()


@dataclass(frozen=True)
class Preview:
    """A step preview: the websocket header and the JPEG bytes."""

    header: dict[str, Any]
    image: bytes


@dataclass(frozen=True)
class Finished:
    """The end of a job: the outcome and the models the worker now holds."""

    outcome: PromptOutcome
    held: frozenset[str] = field(default_factory=frozenset)
    files: tuple[StagedFile, ...] = ()


WorkerMessage = RunEvent | Preview | Finished


class WorkerLost(Exception):
    """The worker running a job went away (process died, actor lost, machine gone)."""

    def __init__(
        self, reason: str, node_id: str | None = None, node_type: str | None = None, *, retry: bool = True
    ) -> None:
        where = f" while node {node_id!r} ({node_type}) was running" if node_id else ""
        super().__init__(f"the worker {reason}{where}")
        self.reason = reason
        self.node_id = node_id
        self.node_type = node_type
        self.retry = retry  # False when running the prompt again would end the same way
