"""The queue and history in SQLite (WAL): prompts survive restarts, a crashed run is marked interrupted."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphflow.server.outcome import PromptError, PromptOutcome

FINISHED = ("success", "error", "interrupted", "cancelled")


class StorageUnavailable(RuntimeError):
    """The queue's database cannot be written (gone, read-only, full); the message names the file and why."""

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
    requeued_from TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS prompts_queue ON prompts (status, priority DESC, sort_key);
CREATE INDEX IF NOT EXISTS prompts_history ON prompts (finished_at);
"""


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


def _record(row: sqlite3.Row) -> PromptRecord:
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
    )


_QUEUE_ORDER = "ORDER BY priority DESC, sort_key ASC"


class QueueStore:
    """Prompts in SQLite; every method is one short transaction, safe to call from any thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def _tx(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, params)

    def recover(self) -> list[str]:
        """Mark prompts left running by a previous process as interrupted; returns their ids."""
        error = json.dumps(
            PromptError(
                "server_restart", "the server stopped while this prompt was running; re-queue it to run again"
            ).to_dict()
        )
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            ids = [r["id"] for r in self._db.execute("SELECT id FROM prompts WHERE status = 'running'")]
            self._db.execute(
                "UPDATE prompts SET status = 'interrupted', finished_at = ?, error = ? WHERE status = 'running'",
                (time.time(), error),
            )
            self._db.execute("COMMIT")
        return ids

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
    ) -> PromptRecord:
        """Queue a prompt and return its record (`prompt_id` chosen by the client, or a new one)."""
        prompt_id = prompt_id or uuid.uuid4().hex
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                # numbers are never reused, even after history is deleted
                number = self._db.execute(
                    "SELECT MAX(COALESCE((SELECT value FROM meta WHERE key = 'last_number'), 0), "
                    "COALESCE((SELECT MAX(number) FROM prompts), 0)) + 1"
                ).fetchone()[0]
                self._db.execute(
                    "INSERT INTO meta (key, value) VALUES ('last_number', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (number,),
                )
                if front:
                    lowest = self._db.execute(
                        "SELECT MIN(sort_key) FROM prompts WHERE status = 'pending' AND priority = ?", (priority,)
                    ).fetchone()[0]
                    sort_key = (lowest if lowest is not None else number) - 1
                else:
                    sort_key = number
                self._db.execute(
                    "INSERT INTO prompts (id, number, priority, sort_key, status, client_id, workflow, targets, "
                    "submitted_at, requeued_from) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)",
                    (
                        prompt_id,
                        number,
                        priority,
                        sort_key,
                        client_id,
                        json.dumps(workflow),
                        json.dumps(targets) if targets is not None else None,
                        time.time(),
                        requeued_from,
                    ),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        record = self.get(prompt_id)
        assert record is not None
        return record

    def claim_next(self) -> PromptRecord | None:
        """Mark the first pending prompt running and return it (None when the queue is empty)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute(f"SELECT id FROM prompts WHERE status = 'pending' {_QUEUE_ORDER} LIMIT 1").fetchone()
            if row is not None:
                self._db.execute(
                    "UPDATE prompts SET status = 'running', started_at = ? WHERE id = ?", (time.time(), row["id"])
                )
            self._db.execute("COMMIT")
        return self.get(row["id"]) if row is not None else None

    def finish(self, prompt_id: str, outcome: PromptOutcome) -> None:
        """Record how a running prompt ended."""
        error = json.dumps(outcome.error.to_dict()) if outcome.error is not None else None
        self._tx(
            "UPDATE prompts SET status = ?, finished_at = ?, outputs = ?, executed = ?, cached = ?, error = ? "
            "WHERE id = ?",
            (
                outcome.status,
                time.time(),
                json.dumps(outcome.outputs, default=str),
                json.dumps(outcome.executed),
                json.dumps(outcome.cached),
                error,
                prompt_id,
            ),
        )

    def cancel_pending(self, prompt_id: str | None = None) -> list[str]:
        """Cancel one pending prompt (or all when `prompt_id` is None); returns the ids cancelled."""
        where, params = ("status = 'pending' AND id = ?", (prompt_id,)) if prompt_id else ("status = 'pending'", ())
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            ids = [r["id"] for r in self._db.execute(f"SELECT id FROM prompts WHERE {where}", params)]
            self._db.execute(
                f"UPDATE prompts SET status = 'cancelled', finished_at = ? WHERE {where}", (time.time(), *params)
            )
            self._db.execute("COMMIT")
        return ids

    def get(self, prompt_id: str) -> PromptRecord | None:
        """One prompt by id."""
        row = self._tx("SELECT * FROM prompts WHERE id = ?", (prompt_id,)).fetchone()
        return _record(row) if row is not None else None

    def pending(self) -> list[PromptRecord]:
        """Pending prompts in run order."""
        return [_record(r) for r in self._tx(f"SELECT * FROM prompts WHERE status = 'pending' {_QUEUE_ORDER}")]

    def pending_count(self) -> int:
        """How many prompts wait."""
        return self._tx("SELECT COUNT(*) FROM prompts WHERE status = 'pending'").fetchone()[0]

    def position(self, record: PromptRecord) -> int:
        """How many pending prompts run before `record`."""
        return self._tx(
            "SELECT COUNT(*) FROM prompts WHERE status = 'pending' AND "
            "(priority > ? OR (priority = ? AND sort_key < (SELECT sort_key FROM prompts WHERE id = ?)))",
            (record.priority, record.priority, record.prompt_id),
        ).fetchone()[0]

    def history(self, offset: int = 0, limit: int = 50) -> tuple[list[PromptRecord], int]:
        """Finished prompts, newest first, and how many there are."""
        marks = ",".join("?" * len(FINISHED))
        rows = self._tx(
            f"SELECT * FROM prompts WHERE status IN ({marks}) ORDER BY finished_at DESC, number DESC LIMIT ? OFFSET ?",
            (*FINISHED, limit, offset),
        ).fetchall()
        total = self._tx(f"SELECT COUNT(*) FROM prompts WHERE status IN ({marks})", FINISHED).fetchone()[0]
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
        rows = self._tx(
            f"SELECT * FROM prompts WHERE {where} ORDER BY {key} {direction}, number {direction} LIMIT ? OFFSET ?",
            (*params, limit, offset),
        ).fetchall()
        total = self._tx(f"SELECT COUNT(*) FROM prompts WHERE {where}", params).fetchone()[0]
        return [_record(r) for r in rows], total

    def delete_finished(self, prompt_id: str | None = None) -> int:
        """Delete one finished prompt (or all when `prompt_id` is None); returns how many went."""
        marks = ",".join("?" * len(FINISHED))
        if prompt_id is None:
            return self._tx(f"DELETE FROM prompts WHERE status IN ({marks})", FINISHED).rowcount
        return self._tx(f"DELETE FROM prompts WHERE status IN ({marks}) AND id = ?", (*FINISHED, prompt_id)).rowcount
