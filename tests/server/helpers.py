"""Helpers for the server tests: the test plugin source, workflows, websocket and polling helpers."""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

SERVER_PLUGIN = '''
"""Nodes for the server tests: progress with previews, a gate to hold a run, a failure."""
import time
from pathlib import Path

from PIL import Image

from graphflow.api import BOOLEAN, FLOAT, INT, STRING, Context, Input, Output, hookimpl, node


class FileGate:
    """An event the test (in the server's process) and the node (in a worker process) both see: a file."""

    def __init__(self, path):
        self.path = path

    def set(self):
        self.path.touch()

    def clear(self):
        self.path.unlink(missing_ok=True)

    def is_set(self):
        return self.path.exists()

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        while not self.path.exists():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True


GATE = FileGate(Path(__file__).with_name("gate.open"))


@node("test.slow", version="1.0.0", category="test", output=True, cacheable=False)
class Slow:
    """Reports progress with a preview each step; with hold, waits for GATE after step 1."""
    steps = Input(INT, default=2, min=1, max=1000)
    delay = Input(FLOAT, default=0.0)
    label = Input(STRING, default="slow")
    hold = Input(BOOLEAN, default=False)
    seed = Input(INT, default=0)
    log = Input(STRING, default="")

    def run(self, ctx: Context, steps, delay, label, hold, seed, log):
        if log:
            with open(log, "a") as f:
                f.write(f"start {label}\\n")
        for i in range(1, steps + 1):
            ctx.progress(i, steps, preview=Image.new("RGB", (16, 8), (40 * i % 256, 0, 0)))
            while hold and i == 1 and not GATE.wait(0.01):
                ctx.check_cancelled()
            time.sleep(delay)
        path = ctx.output_file(label, ".png")
        Image.new("RGB", (4, 4), (seed % 256, 0, 0)).save(path)
        if log:
            with open(log, "a") as f:
                f.write(f"done {label}\\n")
        ctx.add_ui("images", ctx.file_ref(path))


@node("test.boom", version="1.0.0", category="test", output=True)
class Boom:
    """Always fails."""
    value = Input(INT, default=0)

    def run(self, ctx: Context, value):
        raise RuntimeError(f"boom {value}")


@hookimpl
def register_nodes(register):
    register(Slow)
    register(Boom)
'''


def workflow(**slow_inputs: Any) -> dict[str, Any]:
    """A one-node workflow running test.slow with these inputs."""
    return {
        "format": "graphflow.workflow",
        "version": 1,
        "nodes": {"slow": {"type": "test.slow", "inputs": slow_inputs}},
    }


def cached_workflow(seed: int) -> dict[str, Any]:
    """A cacheable integer feeding test.slow, so a second run gets `nodes_cached`."""
    return {
        "format": "graphflow.workflow",
        "version": 1,
        "nodes": {
            "seed": {"type": "graphflow.primitive.int", "inputs": {"value": seed}},
            "slow": {
                "type": "test.slow",
                "inputs": {"steps": 1},
                "links": {"seed": {"node": "seed", "output": "result"}},
            },
        },
    }


def failing_workflow() -> dict[str, Any]:
    """A workflow whose only node raises."""
    return {
        "format": "graphflow.workflow",
        "version": 1,
        "nodes": {"bad": {"type": "test.boom", "inputs": {"value": 7}}},
    }


def parse_frame(data: bytes) -> dict[str, Any]:
    """A preview frame as {"type": "preview", header..., "image": bytes}."""
    kind, length = struct.unpack(">II", data[:8])
    assert kind == 1
    return {"type": "preview", **json.loads(data[8 : 8 + length]), "image": data[8 + length :]}


async def events_until(ws, kind: str, prompt_id: str | None = None, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Every websocket message up to and including the first of `kind` (for `prompt_id`, if given)."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.receive()
            if isinstance(message.data, bytes):
                event = parse_frame(message.data)
            else:
                event = json.loads(message.data)
                event = {**event, **event.get("data", {}), "type": event["type"]}
            seen.append(event)
            if event["type"] == kind and (prompt_id is None or event.get("prompt_id") == prompt_id):
                return seen


async def submit(client, wf: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """POST a workflow to the queue and return the JSON answer (asserting 200)."""
    response = await client.post("/api/prompt", json={"workflow": wf, **extra})
    body = await response.json()
    assert response.status == 200, body
    return body


async def wait_finished(client, prompt_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll a prompt until it is finished; return its record."""
    async with asyncio.timeout(timeout):
        while True:
            record = await (await client.get(f"/api/prompt/{prompt_id}")).json()
            if record["status"] not in ("pending", "running"):
                return record
            await asyncio.sleep(0.02)
