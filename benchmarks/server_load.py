"""Server load: N trivial prompts from C concurrent clients with websockets open, on loopback.

Prints prompts per second, p50/p99 event latency (server event time -> client receipt) and
events lost (run_started/node_started/node_finished/run_finished expected by every client for
every prompt). Starts its own server process in a temporary folder and stops by itself.

    .venv/bin/python benchmarks/server_load.py [--prompts 500] [--clients 20] [--timeout 180]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

PLUGIN = '''
from graphflow.api import INT, Context, Input, hookimpl, node


@node("bench.noop", version="1.0.0", category="bench", output=True, cacheable=False)
class Noop:
    """Does nothing but report its value."""
    value = Input(INT, default=0)

    def run(self, ctx: Context, value):
        ctx.add_ui("values", value)


@hookimpl
def register_nodes(register):
    register(Noop)
'''
PER_PROMPT = ("run_started", "node_started", "node_finished", "run_finished")


def trivial(value: int) -> dict:
    """A one-node workflow."""
    return {
        "format": "graphflow.workflow",
        "version": 1,
        "nodes": {"noop": {"type": "bench.noop", "inputs": {"value": value}}},
    }


async def start_server(folder: Path) -> tuple[asyncio.subprocess.Process, str]:
    """Start a server process on a free loopback port."""
    (folder / "plugins").mkdir()
    (folder / "plugins" / "bench.py").write_text(PLUGIN)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "graphflow.server",
        "--port",
        "0",
        "--user-dir",
        str(folder / "user"),
        "--output",
        str(folder / "output"),
        "--input",
        str(folder / "input"),
        "--plugins",
        str(folder / "plugins"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parents[1],
    )
    line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
    if "serving on" not in line:
        raise RuntimeError(f"server did not start: {line!r}")
    return process, line.split("serving on ", 1)[1].split()[0].rstrip("/")


class Watcher:
    """One client: a websocket collecting per-prompt events and their latencies."""

    def __init__(self) -> None:
        self.seen: dict[str, set[str]] = {}
        self.latencies: list[float] = []
        self.finished: set[str] = set()

    async def listen(self, ws: aiohttp.ClientWebSocketResponse, ready: asyncio.Event) -> None:
        """Record events until the socket closes."""
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            now = time.time()
            event = json.loads(message.data)
            if event["type"] == "state":
                ready.set()
            if event["type"] in PER_PROMPT:
                self.latencies.append(now - event["ts"])
                prompt_id = event["data"]["prompt_id"]
                self.seen.setdefault(prompt_id, set()).add(event["type"])
                if event["type"] == "run_finished":
                    self.finished.add(prompt_id)


async def client(
    base: str, index: int, count: int, watcher: Watcher, ids: list[str], done: asyncio.Event, all_ids: set[str]
) -> None:
    """Open a websocket, submit `count` prompts, stay until every prompt finished for this client."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{base}/api/ws", params={"client_id": f"c{index}"}) as ws,
    ):
        ready = asyncio.Event()
        listener = asyncio.create_task(watcher.listen(ws, ready))
        await ready.wait()
        for n in range(count):
            async with session.post(
                f"{base}/api/prompt", json={"workflow": trivial(index * 100_000 + n), "client_id": f"c{index}"}
            ) as response:
                ids.append((await response.json())["prompt_id"])
        await done.wait()
        while not all_ids <= watcher.finished and listener.done() is False:
            await asyncio.sleep(0.05)
        listener.cancel()


async def main(prompts: int, clients: int, timeout: float) -> None:
    """Run the benchmark and print its figures."""
    with tempfile.TemporaryDirectory(prefix="graphflow-load-") as tmp:
        process, base = await start_server(Path(tmp))
        try:
            watchers = [Watcher() for _ in range(clients)]
            ids: list[str] = []
            all_ids: set[str] = set()
            submitted = asyncio.Event()
            per_client = [prompts // clients + (1 if i < prompts % clients else 0) for i in range(clients)]
            started = time.perf_counter()
            tasks = [
                asyncio.create_task(client(base, i, per_client[i], watchers[i], ids, submitted, all_ids))
                for i in range(clients)
            ]

            async def wait_submitted() -> None:
                while len(ids) < prompts:
                    await asyncio.sleep(0.01)
                all_ids.update(ids)
                submitted.set()

            async with asyncio.timeout(timeout):
                await wait_submitted()
                await asyncio.gather(*tasks)
            elapsed = time.perf_counter() - started
        finally:
            process.terminate()
            await process.wait()
    latencies = sorted(x for w in watchers for x in w.latencies)
    expected = prompts * clients * len(PER_PROMPT)
    received = sum(len(kinds & set(PER_PROMPT)) for w in watchers for p, kinds in w.seen.items() if p in all_ids)
    print(f"prompts: {prompts} from {clients} clients, each with a websocket open")
    print(f"throughput: {prompts / elapsed:.1f} prompts/s ({elapsed:.2f} s wall)")
    print(
        f"event latency: p50 {1000 * statistics.median(latencies):.1f} ms, "
        f"p99 {1000 * latencies[int(0.99 * (len(latencies) - 1))]:.1f} ms over {len(latencies)} events"
    )
    print(f"events lost: {expected - received} of {expected}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=500)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=180.0)
    options = parser.parse_args()
    asyncio.run(main(options.prompts, options.clients, options.timeout))
