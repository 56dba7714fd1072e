"""Nodes that kill, crash, exit or ignore cancellation run in worker processes: the server answers throughout,
each prompt ends with a message naming the node, and the next prompt runs on a fresh worker."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from graphflow.server import ServerConfig, create_app
from graphflow.server.keys import DISPATCHER
from tests.running import settings_under
from tests.server.helpers import SERVER_PLUGIN, submit, wait_finished, workflow

HOSTILE_PLUGIN = '''
"""Nodes that take their worker down in every way a node can."""
import ctypes
import os
import signal
import time

from graphflow.api import INT, STRING, Context, Input, hookimpl, node


@node("hostile.exit", version="1.0.0", category="test", output=True, cacheable=False)
class Exit:
    """Ends the process at once, as os._exit does."""
    code = Input(INT, default=1)

    def run(self, ctx: Context, code: int) -> None:
        os._exit(code)


@node("hostile.segfault", version="1.0.0", category="test", output=True, cacheable=False)
class Segfault:
    """Reads address 0."""
    size = Input(INT, default=1)

    def run(self, ctx: Context, size: int) -> None:
        ctypes.string_at(0, size)
        os.kill(os.getpid(), signal.SIGSEGV)  # where address 0 happens to be readable


@node("hostile.sys_exit", version="1.0.0", category="test", output=True, cacheable=False)
class SysExit:
    """Raises SystemExit, as sys.exit does."""
    code = Input(INT, default=3)

    def run(self, ctx: Context, code: int) -> None:
        raise SystemExit(code)


@node("hostile.stubborn", version="1.0.0", category="test", output=True, cacheable=False)
class Stubborn:
    """Never checks for cancellation; says it started by writing `started`."""
    started = Input(STRING, default="")

    def run(self, ctx: Context, started: str) -> None:
        if started:
            open(started, "w").close()
        while True:
            time.sleep(0.05)


@node("hostile.hog", version="1.0.0", category="test", output=True, cacheable=False)
class Hog:
    """Holds `mib` MiB of memory for a while."""
    mib = Input(INT, default=1, min=1, max=1 << 20)

    def run(self, ctx: Context, mib: int) -> None:
        held = b"x" * (mib << 20)  # written, so the pages count in the resident size
        time.sleep(5)
        del held


@hookimpl
def register_nodes(register):
    for cls in (Exit, Segfault, SysExit, Stubborn, Hog):
        register(cls)
'''


def one_node(node_type: str, **inputs: Any) -> dict[str, Any]:
    """A workflow of one hostile node, id 'x'."""
    return {"format": "graphflow.workflow", "version": 1, "nodes": {"x": {"type": node_type, "inputs": inputs}}}


@pytest.fixture
def hostile_config(tmp_path: Path, plugin_dir) -> ServerConfig:
    """A server whose plugins folder holds the test nodes and the hostile ones; a short interrupt grace."""
    folder = plugin_dir("servertest", SERVER_PLUGIN)
    (folder / "hostile.py").write_text(HOSTILE_PLUGIN)
    return ServerConfig(
        settings=settings_under(tmp_path, temp_dir=tmp_path / "user" / "temp"),
        user_dir=tmp_path / "user",
        plugins_dir=folder,
        entry_points=False,
        web_dir=tmp_path / "web",
        interrupt_grace_s=1.0,
        worker_memory_bytes=3 << 30,
    )


@pytest.fixture
async def hostile(aiohttp_client, hostile_config):
    """A test client for a real server with the hostile nodes, once its worker has started."""
    client = await aiohttp_client(create_app(hostile_config))
    await client.app[DISPATCHER].workers.ready()
    return client


async def finished_while_answering(client, prompt_id: str, timeout: float = 120.0) -> dict[str, Any]:
    """Wait for the prompt to end, checking all along that the queue route answers (in under a second)."""
    async with asyncio.timeout(timeout):
        while True:
            started = time.monotonic()
            response = await client.get("/api/queue")
            assert response.status == 200 and time.monotonic() - started < 1.0
            record = await (await client.get(f"/api/prompt/{prompt_id}")).json()
            if record["status"] not in ("pending", "running"):
                return record
            await asyncio.sleep(0.05)


async def a_normal_prompt_runs(client) -> None:
    """The next ordinary prompt succeeds (on a fresh worker when the last one was lost)."""
    prompt = await submit(client, workflow(steps=1))
    record = await wait_finished(client, prompt["prompt_id"], timeout=120)
    assert record["status"] == "success", record


@pytest.mark.parametrize(
    ("node_type", "inputs", "death"),
    [("hostile.exit", {"code": 1}, "exited with status 1"), ("hostile.segfault", {}, "SIGSEGV")],
)
async def test_a_node_that_kills_its_worker_fails_with_worker_lost_after_three_attempts(
    hostile, node_type, inputs, death
):
    prompt = await submit(hostile, one_node(node_type, **inputs))
    record = await finished_while_answering(hostile, prompt["prompt_id"])
    assert record["status"] == "error" and record["attempts"] == 3
    error = record["error"]
    assert error["kind"] == "worker_lost" and error["node_id"] == "x" and error["node_type"] == node_type
    assert death in error["message"] and "'x'" in error["message"]
    await a_normal_prompt_runs(hostile)


async def test_a_node_raising_system_exit_fails_itself_and_its_worker_goes_on(hostile):
    workers_before = [w["pid"] for w in (await (await hostile.get("/api/workers")).json())["workers"]]
    prompt = await submit(hostile, one_node("hostile.sys_exit", code=3))
    record = await finished_while_answering(hostile, prompt["prompt_id"])
    assert record["status"] == "error" and record["error"]["kind"] == "node_error"
    assert record["error"]["node_id"] == "x" and "SystemExit" in record["error"]["message"]
    await a_normal_prompt_runs(hostile)
    workers_after = [w["pid"] for w in (await (await hostile.get("/api/workers")).json())["workers"]]
    assert workers_after == workers_before


async def test_a_node_ignoring_an_interrupt_is_stopped_with_its_worker_after_the_grace_period(hostile, tmp_path):
    started = tmp_path / "started"
    prompt = await submit(hostile, one_node("hostile.stubborn", started=str(started)))
    async with asyncio.timeout(60):
        while not started.exists():
            await asyncio.sleep(0.02)
    asked = time.monotonic()
    answer = await (await hostile.post("/api/interrupt", json={"prompt_id": prompt["prompt_id"]})).json()
    assert time.monotonic() - asked < 1.0 and answer["interrupted"] == prompt["prompt_id"]
    record = await finished_while_answering(hostile, prompt["prompt_id"])
    assert record["status"] == "interrupted" and record["error"]["node_id"] == "x"
    assert "did not stop within 1 s" in record["error"]["message"]
    await a_normal_prompt_runs(hostile)


async def test_a_worker_over_its_memory_cap_fails_the_prompt_without_retrying(hostile):
    prompt = await submit(hostile, one_node("hostile.hog", mib=4096))
    record = await finished_while_answering(hostile, prompt["prompt_id"])
    assert record["status"] == "error" and record["attempts"] == 1
    assert record["error"]["kind"] == "worker_lost" and record["error"]["node_id"] == "x"
    assert "memory cap of 3.00 GiB" in record["error"]["message"]
    await a_normal_prompt_runs(hostile)
