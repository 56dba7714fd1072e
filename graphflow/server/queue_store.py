"""The queue and history in SQLite (WAL): prompts survive restarts and storage faults; a crashed run is interrupted."""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphflow.server.database_file import DatabaseFile, StorageUnavailable, fault_reason, write_transaction
from graphflow.server.outcome import PromptError, PromptOutcome

__all__ = ["FINISHED", "SWEEPING", "PromptRecord", "QueueStore", "StorageUnavailable"]

log = logging.getLogger("graphflow.server.storage")

FINISHED = ("success", "error", "interrupted", "cancelled")
SWEEPING = "sweeping"  # a fan-out's parent: never claimed by a worker, it ends when its children have

_SCHEMA = """
CREATE TABLE IF NOT EXISTS prompts (
    id TEXT PRIMARY KEY,
    number INTEGER NOT NULL UNIQUE,
    priority INTEGER NOT NULL DEFAULT 0,
    sort_key REAL NOT NULL,
    status TEXT NOT NULL,
    client_id TEXT,
    workflow TEXT NOT NULL,
    targets TEXT,
    submitted_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    outputs TEXT,
    executed TEXT,
    cached TEXT,
    error TEXT,
    requeued_from TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    parent TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS prompts_queue ON prompts (status, priority DESC, sort_key);
CREATE INDEX IF NOT EXISTS prompts_history ON prompts (finished_at);
"""
# Columns added after the first release, with their definitions, for databases made before them.
_ADDED_COLUMNS = {"attempts": "INTEGER NOT NULL DEFAULT 0", "parent": "TEXT"}
MAX_ATTEMPTS = 3


@dataclass
class PromptRecord:
    """One prompt in any state, as stored."""

    prompt_id: str
    number: int
    priority: int
    status: str
    client_id: str | None
    workflow: dict[str, Any]
    targets: list[str] | None
    submitted_at: float
    started_at: float | None
    finished_at: float | None
    outputs: dict[str, Any]
    executed: list[str]
    cached: list[str]
    error: dict[str, Any] | None
    requeued_from: str | None
    attempts: int = 0
    parent: str | None = None

    def to_dict(self, workflow: bool = False) -> dict[str, Any]:
        """The documented PromptRecord JSON (with the workflow only when asked)."""
        out = {
            "prompt_id": self.prompt_id,
            "number": self.number,
            "status": self.status,
            "priority": self.priority,
            "client_id": self.client_id,
            "submitted_at": self.submitted_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "requeued_from": self.requeued_from,
            "attempts": self.attempts,
            "parent": self.parent,
            "outputs": self.outputs,
            "executed": self.executed,
            "cached": self.cached,
            "error": self.error,
        }
        if workflow:
            out["workflow"] = self.workflow
            out["targets"] = self.targets
        return out

    def queue_item(self) -> dict[str, Any]:
        """The short QueueItem JSON."""
        return {
            "prompt_id": self.prompt_id,
            "number": self.number,
            "status": self.status,
            "priority": self.priority,
            "client_id": self.client_id,
            "submitted_at": self.submitted_at,
            "started_at": self.started_at,
        }


def _loads(text: str | None, default: Any) -> Any:
    return json.loads(text) if text else default


def _record(row: sqlite3.Row | dict[str, Any]) -> PromptRecord:
    return PromptRecord(
        prompt_id=row["id"],
        number=row["number"],
        priority=row["priority"],
        status=row["status"],
        client_id=row["client_id"],
        workflow=json.loads(row["workflow"]),
        targets=_loads(row["targets"], None),
        submitted_at=row["submitted_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        outputs=_loads(row["outputs"], {}),
        executed=_loads(row["executed"], []),
        cached=_loads(row["cached"], []),
        error=_loads(row["error"], None),
        requeued_from=row["requeued_from"],
        attempts=row["attempts"],
        parent=row["parent"],
    )


_QUEUE_ORDER = "ORDER BY priority DESC, sort_key ASC"
_FINISH = (
    "UPDATE prompts SET status = :status, finished_at = :finished_at, outputs = :outputs, executed = :executed, "
    "cached = :cached, error = :error WHERE id = :id"
)


class QueueStore:
    """Prompts in SQLite; every method is one short transaction, safe to call from any thread.

    Every write first checks the database file (`DatabaseFile.problem`): a deleted file is written again from
    the open connection; while the file takes no writes, writes raise `StorageUnavailable` and reads answer from
    the open connection. A prompt that finishes meanwhile keeps its result in memory until the file takes
    writes again (`check`, called on a timer by the app, or the next write).
    """

    def __init__(self, path: Path, *, busy_timeout_s: float = 5.0) -> None:
        self._file = DatabaseFile(path, _SCHEMA, busy_timeout_s)
        _add_missing_columns(self._file.connection)
        self._lock = threading.Lock()
        self._problem: str | None = None
        self._unsaved: dict[str, dict[str, Any]] = {}  # prompt id -> the finished columns not yet written

    @property
    def path(self) -> Path:
        """The database file."""
        return self._file.path

    @property
    def problem(self) -> str | None:
        """Why the database took no writes at the last look, or None."""
        return self._problem

    def check(self) -> bool:
        """Look at the database file now (writing it again or saving held results when possible); True if usable."""
        with self._lock:
            return self._usable()

    def close(self) -> None:
        """Close the database, after a last check (a file deleted since the last one is written again first)."""
        with self._lock:
            if not self._usable() and self._unsaved:
                log.error(
                    "the results of prompts %s could not be written to %s (%s); they run again next time",
                    ", ".join(self._unsaved),
                    self.path,
                    self._problem,
                )
            self._file.close()

    def _usable(self) -> bool:
        problem = self._file.problem()
        if problem is None and (self._problem is not None or self._unsaved):
            problem = self._attempt(self._save_unsaved)
        self._set_problem(problem)
        return problem is None

    def _set_problem(self, problem: str | None) -> None:
        if problem == self._problem:
            return
        if problem is not None:
            log.warning("%s; nothing is accepted until it takes writes again", StorageUnavailable(self.path, problem))
        else:
            log.warning("the queue database %s takes writes again", self.path)
        self._problem = problem

    def _attempt(self, write: Callable[[], None]) -> str | None:
        try:
            write()
        except (sqlite3.Error, OSError) as exc:
            if (reason := fault_reason(exc)) is None:
                raise
            return reason
        return None

    def _save_unsaved(self) -> None:
        self._file.probe()
        if not self._unsaved:
            return
        with write_transaction(self._file.connection) as db:
            db.executemany(_FINISH, [{**columns, "id": prompt_id} for prompt_id, columns in self._unsaved.items()])
        log.warning("results held in memory are written to the database: prompts %s", ", ".join(self._unsaved))
        self._unsaved.clear()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction on a usable database, or `StorageUnavailable`."""
        with self._lock:
            if not self._usable():
                assert self._problem is not None
                raise StorageUnavailable(self.path, self._problem)
            try:
                with write_transaction(self._file.connection) as db:
                    yield db
            except (sqlite3.Error, OSError) as exc:
                if (reason := fault_reason(exc)) is None:
                    raise
                self._set_problem(reason)
                raise StorageUnavailable(self.path, reason) from exc

    def _rows(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._file.connection.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                if (reason := fault_reason(exc)) is None:
                    raise
                raise StorageUnavailable(self.path, reason) from exc

    def recover(self) -> tuple[list[str], list[str]]:
        """Prompts left running by a previous process go back to pending in their place, unless they have had
        MAX_ATTEMPTS already (those fail with `worker_lost`); returns (re-queued ids, failed ids)."""
        error = json.dumps(
            PromptError(
                "worker_lost", f"the server stopped while this prompt was running, {MAX_ATTEMPTS} times"
            ).to_dict()
        )
        with self._transaction() as db:
            rows = db.execute("SELECT id, attempts FROM prompts WHERE status = 'running'").fetchall()
            failed = [r["id"] for r in rows if r["attempts"] >= MAX_ATTEMPTS]
            requeued = [r["id"] for r in rows if r["attempts"] < MAX_ATTEMPTS]
            db.executemany(
                "UPDATE prompts SET status = 'error', finished_at = ?, error = ? WHERE id = ?",
                [(time.time(), error, prompt_id) for prompt_id in failed],
            )
            db.executemany(
                "UPDATE prompts SET status = 'pending', started_at = NULL WHERE id = ?", [(i,) for i in requeued]
            )
        return requeued, failed

    def requeue(self, prompt_id: str) -> PromptRecord | None:
        """Put a running prompt back to pending in its place (its worker was lost); returns it, or None."""
        with self._transaction() as db:
            db.execute(
                "UPDATE prompts SET status = 'pending', started_at = NULL WHERE id = ? AND status = 'running'",
                (prompt_id,),
            )
        return self.get(prompt_id)

    def add(
        self,
        workflow: dict[str, Any],
        *,
        client_id: str | None = None,
        priority: int = 0,
        front: bool = False,
        targets: list[str] | None = None,
        requeued_from: str | None = None,
        prompt_id: str | None = None,
        parent: str | None = None,
    ) -> PromptRecord:
        """Queue a prompt and return its record (`prompt_id` chosen by the client, or a new one)."""
        prompt_id = prompt_id or uuid.uuid4().hex
        with self._transaction() as db:
            _insert(
                db,
                prompt_id,
                workflow,
                client_id=client_id,
                priority=priority,
                front=front,
                targets=targets,
                requeued_from=requeued_from,
                parent=parent,
            )
        record = self.get(prompt_id)
        assert record is not None
        return record

    def add_sweep(
        self,
        workflow: dict[str, Any],
        children: list[dict[str, Any]],
        *,
        client_id: str | None = None,
        priority: int = 0,
        targets: list[str] | None = None,
    ) -> tuple[PromptRecord, list[str]]:
        """Queue a fan-out in one transaction: its parent (status SWEEPING, started now, never run) and one
        pending child per workflow in `children`, in that order; returns the parent's record and the children's ids."""
        parent_id = uuid.uuid4().hex
        child_ids = [uuid.uuid4().hex for _ in children]
        common: dict[str, Any] = {"client_id": client_id, "priority": priority, "targets": targets}
        with self._transaction() as db:
            _insert(db, parent_id, workflow, status=SWEEPING, started_at=time.time(), **common)
            for child_id, child in zip(child_ids, children, strict=True):
                _insert(db, child_id, child, parent=parent_id, **common)
        record = self.get(parent_id)
        assert record is not None
        return record, child_ids

    def finished_sweeps(self) -> list[str]:
        """The SWEEPING parents none of whose children waits or runs any more (they are ready to end)."""
        rows = self._rows(
            "SELECT id FROM prompts AS p WHERE status = ? AND NOT EXISTS "
            "(SELECT 1 FROM prompts WHERE parent = p.id AND status IN ('pending', 'running')) ORDER BY number",
            (SWEEPING,),
        )
        return [row["id"] for row in rows]

    def settle_sweep(self, prompt_id: str, outcome: PromptOutcome) -> bool:
        """Record how a fan-out's parent ended, once: False when it is not (or no longer) SWEEPING."""
        columns = _finished_columns(outcome)
        with self._transaction() as db:
            changed = db.execute(f"{_FINISH} AND status = :was", {**columns, "id": prompt_id, "was": SWEEPING})
            return changed.rowcount == 1

    def claim_next(self) -> PromptRecord | None:
        """Mark the first pending prompt running and return it (None when the queue is empty)."""
        with self._transaction() as db:
            row = db.execute(f"SELECT id FROM prompts WHERE status = 'pending' {_QUEUE_ORDER} LIMIT 1").fetchone()
            if row is not None:
                db.execute(
                    "UPDATE prompts SET status = 'running', started_at = ?, attempts = attempts + 1 WHERE id = ?",
                    (time.time(), row["id"]),
                )
        return self.get(row["id"]) if row is not None else None

    def finish(self, prompt_id: str, outcome: PromptOutcome) -> None:
        """Record how a running prompt ended; while the database takes no writes the result waits in memory."""
        columns = _finished_columns(outcome)
        try:
            with self._transaction() as db:
                db.execute(_FINISH, {**columns, "id": prompt_id})
        except StorageUnavailable as exc:
            with self._lock:
                self._unsaved[prompt_id] = columns
            log.warning("prompt %s ended while %s; its result is kept in memory until then", prompt_id, exc)

    def cancel_pending(self, prompt_id: str | None = None) -> list[str]:
        """Cancel one pending prompt (or all when `prompt_id` is None); returns the ids cancelled."""
        return self._cancel_pending("AND id = ?", (prompt_id,)) if prompt_id else self._cancel_pending()

    def cancel_pending_children(self, parent: str) -> list[str]:
        """Cancel the pending children of a fan-out's parent; returns the ids cancelled."""
        return self._cancel_pending("AND parent = ?", (parent,))

    def _cancel_pending(self, condition: str = "", params: tuple[str, ...] = ()) -> list[str]:
        """Cancel the pending prompts that also meet `condition` (SQL after AND, with its `params`)."""
        where = f"status = 'pending' {condition}"
        with self._transaction() as db:
            ids = [r["id"] for r in db.execute(f"SELECT id FROM prompts WHERE {where}", params)]
            db.execute(
                f"UPDATE prompts SET status = 'cancelled', finished_at = ? WHERE {where}", (time.time(), *params)
            )
        return ids

    def get(self, prompt_id: str) -> PromptRecord | None:
        """One prompt by id (with its result when that waits in memory)."""
        rows = self._rows("SELECT * FROM prompts WHERE id = ?", (prompt_id,))
        if not rows:
            return None
        unsaved = self._unsaved.get(prompt_id)
        return _record({**dict(rows[0]), **unsaved} if unsaved else rows[0])

    def children(self, parent: str) -> list[PromptRecord]:
        """The prompts a fan-out made of `parent`, in the order they were queued."""
        return [_record(r) for r in self._rows("SELECT * FROM prompts WHERE parent = ? ORDER BY number", (parent,))]

    def pending(self, limit: int = -1) -> list[PromptRecord]:
        """Pending prompts in run order (the first `limit` of them, when given)."""
        rows = self._rows(f"SELECT * FROM prompts WHERE status = 'pending' {_QUEUE_ORDER} LIMIT ?", (limit,))
        return [_record(r) for r in rows]

    def pending_count(self) -> int:
        """How many prompts wait."""
        return self._rows("SELECT COUNT(*) FROM prompts WHERE status = 'pending'")[0][0]

    def position(self, record: PromptRecord) -> int:
        """How many pending prompts run before `record`."""
        return self._rows(
            "SELECT COUNT(*) FROM prompts WHERE status = 'pending' AND "
            "(priority > ? OR (priority = ? AND sort_key < (SELECT sort_key FROM prompts WHERE id = ?)))",
            (record.priority, record.priority, record.prompt_id),
        )[0][0]

    def history(self, offset: int = 0, limit: int = 50) -> tuple[list[PromptRecord], int]:
        """Finished prompts, newest first, and how many there are."""
        marks = ",".join("?" * len(FINISHED))
        rows = self._rows(
            f"SELECT * FROM prompts WHERE status IN ({marks}) ORDER BY finished_at DESC, number DESC LIMIT ? OFFSET ?",
            (*FINISHED, limit, offset),
        )
        total = self._rows(f"SELECT COUNT(*) FROM prompts WHERE status IN ({marks})", FINISHED)[0][0]
        return [_record(r) for r in rows], total

    def by_status(
        self,
        statuses: tuple[str, ...],
        offset: int = 0,
        limit: int = 50,
        *,
        by_duration: bool = False,
        newest: bool = True,
        meta: tuple[str, str] | None = None,
    ) -> tuple[list[PromptRecord], int]:
        """Prompts in `statuses` by submission time (or run time, `by_duration`), newest (longest) first unless
        `newest` is false, and how many there are; `meta` (JSON path under the workflow's `meta`, value) filters."""
        if not statuses:
            return [], 0
        where = f"status IN ({','.join('?' * len(statuses))})"
        params: tuple[Any, ...] = statuses
        if meta is not None:
            where += " AND json_extract(workflow, ?) = ?"
            params = (*params, f"$.meta.{meta[0]}", meta[1])
        key = "COALESCE(finished_at - started_at, 0)" if by_duration else "submitted_at"
        direction = "DESC" if newest else "ASC"
        rows = self._rows(
            f"SELECT * FROM prompts WHERE {where} ORDER BY {key} {direction}, number {direction} LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        total = self._rows(f"SELECT COUNT(*) FROM prompts WHERE {where}", params)[0][0]
        return [_record(r) for r in rows], total

    def delete_finished(self, prompt_id: str | None = None) -> int:
        """Delete one finished prompt (or all when `prompt_id` is None); returns how many went."""
        marks = ",".join("?" * len(FINISHED))
        with self._transaction() as db:
            if prompt_id is None:
                return db.execute(f"DELETE FROM prompts WHERE status IN ({marks})", FINISHED).rowcount
            return db.execute(
                f"DELETE FROM prompts WHERE status IN ({marks}) AND id = ?", (*FINISHED, prompt_id)
            ).rowcount


def _finished_columns(outcome: PromptOutcome) -> dict[str, Any]:
    """The columns `_FINISH` writes for an outcome."""
    return {
        "status": outcome.status,
        "finished_at": time.time(),
        "outputs": json.dumps(outcome.outputs, default=str),
        "executed": json.dumps(outcome.executed),
        "cached": json.dumps(outcome.cached),
        "error": json.dumps(outcome.error.to_dict()) if outcome.error is not None else None,
    }


def _insert(
    db: sqlite3.Connection,
    prompt_id: str,
    workflow: dict[str, Any],
    *,
    status: str = "pending",
    started_at: float | None = None,
    client_id: str | None = None,
    priority: int = 0,
    front: bool = False,
    targets: list[str] | None = None,
    requeued_from: str | None = None,
    parent: str | None = None,
) -> None:
    """Insert one prompt with the next number, in the transaction `db`."""
    # numbers are never reused, even after history is deleted
    number = db.execute(
        "SELECT MAX(COALESCE((SELECT value FROM meta WHERE key = 'last_number'), 0), "
        "COALESCE((SELECT MAX(number) FROM prompts), 0)) + 1"
    ).fetchone()[0]
    db.execute(
        "INSERT INTO meta (key, value) VALUES ('last_number', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (number,),
    )
    if front:
        lowest = db.execute(
            "SELECT MIN(sort_key) FROM prompts WHERE status = 'pending' AND priority = ?", (priority,)
        ).fetchone()[0]
        sort_key = (lowest if lowest is not None else number) - 1
    else:
        sort_key = number
    db.execute(
        "INSERT INTO prompts (id, number, priority, sort_key, status, client_id, workflow, targets, "
        "submitted_at, started_at, requeued_from, parent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            prompt_id,
            number,
            priority,
            sort_key,
            status,
            client_id,
            json.dumps(workflow),
            json.dumps(targets) if targets is not None else None,
            time.time(),
            started_at,
            requeued_from,
            parent,
        ),
    )


def _add_missing_columns(db: sqlite3.Connection) -> None:
    """Bring a database made by an earlier graphflow up to the current columns."""
    present = {row["name"] for row in db.execute("PRAGMA table_info(prompts)")}
    for name, definition in _ADDED_COLUMNS.items():
        if name not in present:
            db.execute(f"ALTER TABLE prompts ADD COLUMN {name} {definition}")
    db.execute("CREATE INDEX IF NOT EXISTS prompts_parent ON prompts (parent)")
