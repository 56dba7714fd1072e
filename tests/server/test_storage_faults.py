"""Storage faults under a running server: a deleted, read-only or displaced database loses nothing it accepted."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from graphflow.server import create_app
from graphflow.server.queue_store import QueueStore, StorageUnavailable
from tests.server.helpers import submit, wait_finished, workflow

CHECK_S = 0.05  # the storage timer in these tests
ROOT = os.geteuid() == 0


class Unwritable:
    """Makes files and folders unwritable for this process, root included (`chattr +i`), and undoes it."""

    def __init__(self) -> None:
        self.locked: list[Path] = []

    def lock(self, path: Path) -> None:
        """Make `path` unwritable."""
        if ROOT:
            done = shutil.which("chattr") and subprocess.run(["chattr", "+i", str(path)], capture_output=True)
            if not done or done.returncode:
                pytest.skip("running as root and chattr +i does not work here")
        else:
            path.chmod(0o555 if path.is_dir() else 0o444)
        self.locked.append(path)

    def unlock(self, path: Path) -> None:
        """Make `path` writable again."""
        if ROOT:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            path.chmod(0o755 if path.is_dir() else 0o644)
        self.locked.remove(path)


@pytest.fixture
def unwritable() -> Iterator[Unwritable]:
    """An `Unwritable` whose locks are all undone after the test (so its folder can be removed)."""
    locks = Unwritable()
    yield locks
    for path in list(locks.locked):
        locks.unlock(path)


@pytest.fixture
def check_s() -> float:
    """The server's storage timer."""
    return CHECK_S


@pytest.fixture
async def client(aiohttp_client, config, check_s):
    """A server on loopback whose storage timer ticks every `check_s`."""
    return await aiohttp_client(create_app(config, storage_check_s=check_s))


async def restarted(client, aiohttp_client, config):
    """Stop the server behind `client` and start a new one on the same folders."""
    await client.close()
    return await aiohttp_client(create_app(config, storage_check_s=CHECK_S))


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll `condition` until it holds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def status(client, prompt_id: str) -> str:
    """A prompt's status."""
    return (await (await client.get(f"/api/prompt/{prompt_id}")).json())["status"]


async def wait_status(client, prompt_id: str, wanted: str) -> None:
    """Poll until a prompt has status `wanted`."""
    async with asyncio.timeout(10):
        while await status(client, prompt_id) != wanted:
            await asyncio.sleep(0.02)


async def history_statuses(client) -> dict[str, str]:
    """Every finished prompt's status by id."""
    body = await (await client.get("/api/history?limit=100")).json()
    return {item["prompt_id"]: item["status"] for item in body["items"]}


@pytest.mark.parametrize("check_s", [CHECK_S, 3600], ids=["noticed-by-the-timer", "noticed-by-a-write"])
async def test_a_deleted_database_is_written_again_from_the_open_connection(
    check_s, client, aiohttp_client, config, gate
):
    gate.clear()
    done = (await submit(client, workflow(label="done", steps=1)))["prompt_id"]
    await wait_finished(client, done)
    held = (await submit(client, workflow(label="held", hold=True)))["prompt_id"]
    await wait_status(client, held, "running")
    queued = (await submit(client, workflow(label="queued", steps=1)))["prompt_id"]

    config.database.unlink()
    if check_s == CHECK_S:
        await wait_until(config.database.exists)
    after = (await submit(client, workflow(label="after", steps=1)))["prompt_id"]
    assert config.database.exists()
    gate.set()
    for prompt_id in (held, queued, after):
        assert (await wait_finished(client, prompt_id))["status"] == "success"

    client = await restarted(client, aiohttp_client, config)
    assert await history_statuses(client) == {p: "success" for p in (done, held, queued, after)}


@pytest.mark.parametrize("check_s", [3600])
async def test_a_database_deleted_just_before_the_server_stops_is_written_again_at_close(
    check_s, client, aiohttp_client, config
):
    done = (await submit(client, workflow(label="done", steps=1)))["prompt_id"]
    await wait_finished(client, done)
    config.database.unlink()

    client = await restarted(client, aiohttp_client, config)
    assert await history_statuses(client) == {done: "success"}


FAULTS = {
    "read-only file": (lambda db, locks: locks.lock(db), lambda db, locks: locks.unlock(db), "is read-only"),
    "deleted, folder unwritable": (
        lambda db, locks: (db.unlink(), locks.lock(db.parent)),
        lambda db, locks: locks.unlock(db.parent),
        "was deleted and cannot be written again",
    ),
    "a folder in its place": (lambda db, locks: (db.unlink(), db.mkdir()), lambda db, locks: db.rmdir(), "not a file"),
}


@pytest.mark.parametrize("fault", FAULTS)
async def test_nothing_is_accepted_while_the_database_takes_no_writes_and_nothing_accepted_is_lost(
    fault, client, aiohttp_client, config, gate, unwritable
):
    gate.clear()
    break_it, repair, reason = FAULTS[fault]
    done = (await submit(client, workflow(label="done", steps=1)))["prompt_id"]
    await wait_finished(client, done)
    held = (await submit(client, workflow(label="held", hold=True)))["prompt_id"]
    await wait_status(client, held, "running")
    queued = (await submit(client, workflow(label="queued", steps=1)))["prompt_id"]

    break_it(config.database, unwritable)
    refused = await client.post("/api/prompt", json={"workflow": workflow(label="refused")})
    body = await refused.json()
    assert refused.status == 503 and body["error"] == "storage_unavailable"
    assert str(config.database) in body["message"] and reason in body["message"]
    assert (await client.delete("/api/history")).status == 503
    assert [p["prompt_id"] for p in (await (await client.get("/api/queue")).json())["pending"]] == [queued]

    gate.set()  # the held run ends while nothing can be written: its result waits in memory
    assert (await wait_finished(client, held))["status"] == "success"
    await asyncio.sleep(10 * CHECK_S)
    assert await status(client, queued) == "pending"  # the dispatcher waits, alive

    repair(config.database, unwritable)
    assert (await wait_finished(client, queued))["status"] == "success"
    after = (await submit(client, workflow(label="after", steps=1)))["prompt_id"]
    await wait_finished(client, after)

    client = await restarted(client, aiohttp_client, config)
    assert await history_statuses(client) == {p: "success" for p in (done, held, queued, after)}


async def test_a_file_put_in_place_of_the_database_is_kept_aside(client, aiohttp_client, config):
    done = (await submit(client, workflow(label="done", steps=1)))["prompt_id"]
    await wait_finished(client, done)
    stranger = config.database.with_name("stranger.db")
    sqlite3.connect(stranger).close()
    os.replace(stranger, config.database)
    await wait_until(lambda: any(config.database.parent.glob("graphflow.db.replaced-*")))

    client = await restarted(client, aiohttp_client, config)
    assert await history_statuses(client) == {done: "success"}


def garbage(db: Path, locks: Unwritable) -> None:
    db.write_bytes(b"not a database " * 300)


STARTUP_FAULTS = {
    "read-only file": (lambda db, locks: (sqlite3.connect(db).close(), locks.lock(db)), "is read-only"),
    "folder not writable": (lambda db, locks: locks.lock(db.parent), "cannot be used: its folder"),
    "not a database": (garbage, "is not an SQLite database"),
    "a folder": (lambda db, locks: db.mkdir(), "is a directory"),
}


@pytest.mark.parametrize("fault", STARTUP_FAULTS)
async def test_start_up_on_an_unusable_database_names_the_file_and_why(fault, config, unwritable):
    spoil, reason = STARTUP_FAULTS[fault]
    config.database.parent.mkdir(parents=True)
    spoil(config.database, unwritable)
    runner = web.AppRunner(create_app(config))
    with pytest.raises(StorageUnavailable) as refused:
        await runner.setup()
    assert str(refused.value).startswith(f"the queue database {config.database} {reason}")


def test_start_up_on_a_database_locked_by_another_process_says_so(tmp_path: Path):
    path = tmp_path / "graphflow.db"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageUnavailable, match="is locked by another process"):
            QueueStore(path, busy_timeout_s=0.05)
    finally:
        other.close()
