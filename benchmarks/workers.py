"""Workers: queue throughput with 1 vs 2 workers, dispatch overhead per prompt, affinity vs random routing.

1. Throughput: a queue of demo-model text-to-image prompts on a real server (in this process, on loopback)
   with 1 worker, then 2; prompts per minute and the ratio, and the p50/p99 of `GET /api/queue` polled all
   along (the API must stay responsive whatever the workers do).
2. Dispatch overhead: a one-node prompt run in-process by an Executor, by a process worker and (when ray is
   installed) by a Ray worker; the medians and what the worker adds per prompt.
3. Affinity: a simulated queue mixing three checkpoints on two workers that hold one checkpoint each, routed
   by graphflow's `choose_worker` and at random; the share of prompts that found their model loaded.

    .venv/bin/python benchmarks/workers.py [--prompts 40] [--steps 8] [--trivial 60] [--no-ray]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.server_load import PLUGIN as NOOP_PLUGIN
from benchmarks.server_load import trivial as noop
from graphflow.context import CancelToken
from graphflow.executor import Executor
from graphflow.plugins import build_plugins
from graphflow.resources import examples_folder
from graphflow.server import ServerConfig, create_app
from graphflow.server.keys import DISPATCHER
from graphflow.server.workers.affinity import choose_worker
from graphflow.server.workers.process import ProcessWorker
from graphflow.server.workers.protocol import Finished, Job, WorkerSpec
from graphflow.settings import Settings
from graphflow.workflow import parse_workflow


def txt2img(seed: int, steps: int) -> dict[str, Any]:
    """The shipped demo text-to-image example with this seed and step count."""
    workflow = json.loads((examples_folder() / "txt2img.json").read_text())
    workflow["nodes"]["sampler"]["inputs"].update(seed=seed, steps=steps)
    return workflow


def settings_in(root: Path) -> Settings:
    """Settings whose folders are all under `root`."""
    return Settings(
        models_dir=root / "models", input_dir=root / "input", output_dir=root / "output", temp_dir=root / "temp"
    )


async def throughput(workers: int, prompts: int, steps: int) -> dict[str, float]:
    """Seconds for `prompts` demo prompts on a server with `workers` workers, and queue-route latencies."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        config = ServerConfig(settings=settings_in(root), user_dir=root / "user", entry_points=False, workers=workers)
        runner = web.AppRunner(create_app(config))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        await runner.app[DISPATCHER].workers.ready()
        async with aiohttp.ClientSession() as http:
            warm = await (await http.post(f"{base}/api/prompt", json={"workflow": txt2img(0, 1)})).json()
            await wait_all(http, base, [warm["prompt_id"]], [])  # every worker loads the model once first
            for _ in range(workers - 1):
                again = await (await http.post(f"{base}/api/prompt", json={"workflow": txt2img(1, 1)})).json()
                await wait_all(http, base, [again["prompt_id"]], [])
            latencies: list[float] = []
            started = time.perf_counter()
            ids = []
            for seed in range(prompts):
                answer = await (await http.post(f"{base}/api/prompt", json={"workflow": txt2img(seed, steps)})).json()
                ids.append(answer["prompt_id"])
            await wait_all(http, base, ids, latencies)
            seconds = time.perf_counter() - started
        await runner.cleanup()
    latencies.sort()
    return {
        "seconds": seconds,
        "per_minute": 60 * prompts / seconds,
        "queue_p50_ms": 1000 * statistics.median(latencies),
        "queue_p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
    }


async def wait_all(http: aiohttp.ClientSession, base: str, ids: list[str], latencies: list[float]) -> None:
    """Poll `GET /api/queue` (timing it) until every prompt has ended successfully."""
    waiting = set(ids)
    while waiting:
        asked = time.perf_counter()
        async with http.get(f"{base}/api/queue") as reply:
            await reply.read()
        latencies.append(time.perf_counter() - asked)
        for prompt_id in list(waiting):
            record = await (await http.get(f"{base}/api/prompt/{prompt_id}")).json()
            if record["status"] not in ("pending", "running"):
                if record["status"] != "success":
                    raise RuntimeError(f"prompt {prompt_id} ended {record['status']}: {record['error']}")
                waiting.discard(prompt_id)
        await asyncio.sleep(0.05)


async def overhead(trivial: int, with_ray: bool) -> dict[str, float]:
    """Median milliseconds for a one-node prompt: in-process, on a process worker, on a Ray worker."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "plugins").mkdir()
        (root / "plugins" / "bench.py").write_text(NOOP_PLUGIN)
        settings = settings_in(root)
        plugins = build_plugins(root / "plugins", entry_points=False)
        executor = Executor(plugins.registry, plugins.hooks, settings)
        times = {"in_process": [], "process": [], "ray": []}
        for value in range(trivial):
            started = time.perf_counter()
            executor.run(parse_workflow(noop(value)), cancel=CancelToken())
            times["in_process"].append(time.perf_counter() - started)
        spec = WorkerSpec(settings, root / "plugins", entry_points=False)
        kinds: list[tuple[str, Any]] = [("process", ProcessWorker(spec, "bench"))]
        if with_ray:
            import ray

            from graphflow.server.workers.ray_worker import RayWorker

            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            kinds.append(("ray", RayWorker(spec, "bench-ray", {"num_cpus": 1})))
        for kind, worker in kinds:
            await worker.start()
            for value in range(trivial):
                started = time.perf_counter()
                async for message in worker.run(Job(f"{kind}{value}", value, None, noop(value))):
                    if isinstance(message, Finished) and message.outcome.status != "success":
                        raise RuntimeError(f"{kind}: {message.outcome.error}")
                times[kind].append(time.perf_counter() - started)
            await worker.stop()
        if with_ray:
            ray.shutdown()
    return {kind: 1000 * statistics.median(values[5:]) for kind, values in times.items() if values}


class SimulatedWorker:
    """A worker in the affinity simulation: holds up to `capacity` checkpoints (least recently used out)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.loaded: list[str] = []
        self.free_at = 0.0

    @property
    def held(self) -> frozenset[str]:
        """The checkpoints it holds."""
        return frozenset(self.loaded)

    def use(self, needs: frozenset[str]) -> None:
        """Load (or refresh) the prompt's checkpoints."""
        for ref in needs:
            if ref in self.loaded:
                self.loaded.remove(ref)
            self.loaded.append(ref)
        del self.loaded[: -self.capacity]


def affinity(prompts: int, capacity: int, seed: int = 0) -> dict[str, float]:
    """Share of prompts finding their checkpoint loaded: graphflow's routing vs random, 2 workers, 3 checkpoints."""
    rng = random.Random(seed)
    queue = [frozenset({f"model-{rng.randrange(3)}.safetensors"}) for _ in range(prompts)]
    rates = {}
    for name in ("affinity", "random"):
        pick = random.Random(seed + 1)
        workers = [SimulatedWorker(capacity), SimulatedWorker(capacity)]
        now, hits = 0.0, 0
        for index, needs in enumerate(queue):
            now = max(now, min(w.free_at for w in workers))
            idle = [w for w in workers if w.free_at <= now]
            waiting = queue[index + 1 : index + 65]
            worker = choose_worker(idle, needs, waiting) if name == "affinity" else pick.choice(idle)
            hit = needs <= worker.held
            hits += hit
            worker.use(needs)
            worker.free_at = now + (1.0 if hit else 3.0)  # a load costs two runs' time
        rates[name] = hits / prompts
    return rates


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=40)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--trivial", type=int, default=60)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(f"machine: {os.cpu_count()} CPU cores")
    one = await throughput(1, args.prompts, args.steps)
    two = await throughput(2, args.prompts, args.steps)
    for label, result in (("1 worker", one), ("2 workers", two)):
        print(
            f"{label}: {args.prompts} prompts ({args.steps} steps, 64 px) in {result['seconds']:.1f} s = "
            f"{result['per_minute']:.1f}/min; GET /api/queue p50 {result['queue_p50_ms']:.1f} ms, "
            f"p99 {result['queue_p99_ms']:.1f} ms"
        )
    print(f"throughput ratio 2 workers / 1 worker: {two['per_minute'] / one['per_minute']:.2f}")
    with_ray = not args.no_ray
    if with_ray:
        try:
            import ray  # noqa: F401
        except ImportError:
            with_ray = False
    medians = await overhead(args.trivial, with_ray)
    base = medians["in_process"]
    print(f"one-node prompt, median: in-process {base:.2f} ms", end="")
    for kind in ("process", "ray"):
        if kind in medians:
            print(f"; {kind} worker {medians[kind]:.2f} ms (+{medians[kind] - base:.2f} ms)", end="")
    print()
    for capacity in (1, 2):
        rates = affinity(300, capacity)
        print(
            f"affinity, 300 prompts over 3 checkpoints on 2 workers holding {capacity} each (simulated): "
            f"graphflow's routing {100 * rates['affinity']:.0f}% found their model loaded, "
            f"random routing {100 * rates['random']:.0f}%"
        )


if __name__ == "__main__":
    asyncio.run(main())
