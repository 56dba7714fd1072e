"""The queue's SQLite file: opened or refused with a reason, watched for vanishing or turning read-only, rewritten."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("graphflow.server.storage")

READ_ONLY = "is read-only (file permissions, an immutable flag or a read-only file system)"
NOT_A_FILE = "is not a file any more (something else was put in its place); remove it and the server writes it again"

# sqlite's primary result codes that mean the file, not the query, is at fault
_FAULTS = {
    sqlite3.SQLITE_READONLY: READ_ONLY,
    sqlite3.SQLITE_IOERR: "cannot be written (disk I/O error)",
    sqlite3.SQLITE_FULL: "cannot grow: the disk is full",
    sqlite3.SQLITE_CANTOPEN: "cannot be opened",
    sqlite3.SQLITE_PERM: "cannot be written (permission denied)",
    sqlite3.SQLITE_BUSY: "is locked by another process",
    sqlite3.SQLITE_LOCKED: "is locked by another process",
    sqlite3.SQLITE_NOTADB: "is not an SQLite database",
    sqlite3.SQLITE_CORRUPT: "is damaged",
}


class StorageUnavailable(RuntimeError):
    """The queue's database cannot be written (gone, read-only, full); the message names the file and why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"the queue database {path} {reason}")
        self.path = path
        self.reason = reason


def fault_reason(exc: BaseException) -> str | None:
    """Why `exc` means the database file cannot be used, or None when it is some other error."""
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        reason = _FAULTS.get(code & 0xFF) if isinstance(code, int) else None
        return f"{reason} ({exc})" if reason else None
    if isinstance(exc, OSError):
        return f"cannot be written ({exc.strerror or exc})"
    return None


class DatabaseFile:
    """One SQLite database at `path` in WAL mode, and the file its connection was opened on.

    `problem()` compares the path with that file: when it vanished (or another file took its place) the
    database is written there again from the still-open connection, so nothing it held is lost.
    """

    def __init__(self, path: Path, schema: str, busy_timeout_s: float = 5.0) -> None:
        self.path = path
        self._schema = schema
        self._busy_timeout_s = busy_timeout_s
        self._identity: tuple[int, int] | None = None
        reason = self._startup_problem()
        if reason is None:
            try:
                self.connection, self._identity = self._open()
            except (sqlite3.Error, OSError) as exc:
                reason = fault_reason(exc) or f"cannot be opened ({exc})"
        if reason is not None:
            raise StorageUnavailable(path, reason)

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()

    def probe(self) -> None:
        """Write one page in a transaction (raises the sqlite or OS error when the file takes no writes)."""
        _probe(self.connection)

    def problem(self) -> str | None:
        """Why the file cannot take writes now, or None; a vanished or replaced file is written again first."""
        if self._identity is None:
            return self._reopen("was written again")
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return self._rewrite("was deleted")
        except OSError as exc:
            return f"cannot be checked ({exc.strerror or exc})"
        if not stat.S_ISREG(info.st_mode):
            return NOT_A_FILE
        if (info.st_dev, info.st_ino) != self._identity:
            return self._rewrite("was replaced by another file")
        if not os.access(self.path, os.W_OK):
            return READ_ONLY
        return None

    def _startup_problem(self) -> str | None:
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return f"cannot be created: its folder cannot be made ({exc.strerror or exc})"
        if self.path.is_dir():
            return "is a directory, not a database file"
        if self.path.exists() and not os.access(self.path, os.W_OK):
            return READ_ONLY
        if (why := _folder_problem(folder)) is not None:
            return f"cannot be used: {why}"
        return None

    def _open(self) -> tuple[sqlite3.Connection, tuple[int, int]]:
        db = sqlite3.connect(self.path, timeout=self._busy_timeout_s, check_same_thread=False, isolation_level=None)
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
            db.executescript(self._schema)
            _probe(db)
            info = self.path.stat()
        except BaseException:
            db.close()
            raise
        return db, (info.st_dev, info.st_ino)

    def _rewrite(self, what: str) -> str | None:
        """Write the open connection's database to the path again; None when done, else why not."""
        fresh = self.path.with_name(f"{self.path.name}.rewrite")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fresh.unlink(missing_ok=True)
            target = sqlite3.connect(fresh)
            try:
                self.connection.backup(target)
            finally:
                target.close()
            if self.path.exists():
                aside = self.path.with_name(f"{self.path.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
                self.path.rename(aside)
                log.warning("%s was put in place of the queue database; it is kept as %s", self.path, aside)
            os.replace(fresh, self.path)
        except (sqlite3.Error, OSError) as exc:
            with contextlib.suppress(OSError):
                fresh.unlink(missing_ok=True)
            why = _folder_problem(self.path.parent) or fault_reason(exc) or exc
            return f"{what} and cannot be written again: {why}"
        # Closing the old connection removes its -wal and -shm files by name; any left would belong to the old
        # file, and SQLite would replay them into the new one.
        self.connection.close()
        for suffix in ("-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        self._identity = None
        reason = self._reopen(what)
        if reason is None:
            log.warning("the queue database %s %s; the server wrote it again from its open connection", self.path, what)
        return reason

    def _reopen(self, what: str) -> str | None:
        try:
            self.connection, self._identity = self._open()
        except (sqlite3.Error, OSError) as exc:
            return f"{what} and cannot be opened: {fault_reason(exc) or exc}"
        return None


@contextlib.contextmanager
def write_transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT on `db`, rolled back when the block raises."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise


def _folder_problem(folder: Path) -> str | None:
    if os.access(folder, os.W_OK | os.X_OK):
        return None
    return f"its folder {folder} is not writable (SQLite keeps its -wal and -shm files there)"


def _probe(db: sqlite3.Connection) -> None:
    with write_transaction(db):
        version = db.execute("PRAGMA user_version").fetchone()[0]
        db.execute(f"PRAGMA user_version = {int(version)}")
