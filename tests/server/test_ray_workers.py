"""Workers as Ray actors on a local Ray, running the demo model: model affinity over two checkpoints, a worker
killed mid-prompt (the prompt succeeds on retry, writing its picture once), an interrupt, and a memory cap.

One Ray and one server with two actors serve the whole module (starting them costs most of its time).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from graphflow.models.builtin import builtin_checkpoints
from graphflow.resources import example_workflow
from graphflow.server import ServerConfig, create_app
from graphflow.server.keys import CONFIG, DISPATCHER
from tests.running import settings_under
from tests.server.helpers import events_until, submit, wait_finished

ray = pytest.importorskip("ray", reason='the Ray tests need Ray: pip install "graphflow[ray]"')
pytestmark = pytest.mark.asyncio(loop_scope="module")

DEMO = "builtin:shapes-demo"
COPY = "shapes-copy"  # the demo checkpoint copied into the models folder: a second checkpoint to route by
MEMORY_CAP = 2 << 30
RUN_TIMEOUT_S = 120.0

HOG_PLUGIN = '''
"""A node that takes more memory than a worker may use."""
import time

from graphflow.api import INT, Context, Input, hookimpl, node


@node("hog.memory", version="1.0.0", category="test", output=True, cacheable=False)
class Hog:
    """Holds `mib` MiB for a while."""
    mib = Input(INT, default=1, min=1, max=1 << 20)

    def run(self, ctx: Context, mib: int) -> None:
        held = b"x" * (mib << 20)  # written, so the pages count in the resident size
        time.sleep(10)
        del held


@hookimpl
def register_nodes(register):
    register(Hog)
'''


@pytest.fixture(scope="session")
def local_ray() -> Iterator[None]:
    """A local Ray for the session; its CPUs are logical, so four fit two workers on a two-core machine."""
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ray_client(local_ray, tmp_path_factory) -> AsyncIterator[TestClient]:
    """A real server on loopback whose two workers are Ray actors, once both have started."""
    root = tmp_path_factory.mktemp("ray-server")
    shutil.copytree(builtin_checkpoints()[DEMO], root / "models" / "checkpoints" / COPY)
    plugins = root / "plugins"
    plugins.mkdir()
    (plugins / "hog.py").write_text(HOG_PLUGIN)
    config = ServerConfig(
        settings=settings_under(root, device="cpu"),
        user_dir=root / "user",
        plugins_dir=plugins,
        entry_points=False,
        web_dir=root / "web",
        examples_dir=root / "workflows",
        ray="local",  # Ray is initialised already: the server joins it
        workers=2,
        worker_cpus=1,
        worker_memory_bytes=MEMORY_CAP,
        interrupt_grace_s=30.0,
    )
    async with TestClient(TestServer(create_app(config))) as client:
        await asyncio.wait_for(client.app[DISPATCHER].workers.ready(), RUN_TIMEOUT_S)
        yield client


def txt2img(checkpoint: str = DEMO, *, steps: int = 2, seed: int = 0, prefix: str = "txt2img") -> dict[str, Any]:
    """The shipped text-to-image example at the demo's 64 px, with this checkpoint, step count, seed and prefix."""
    workflow = json.loads(example_workflow("txt2img").read_text())
    nodes = workflow["nodes"]
    nodes["checkpoint"]["inputs"]["checkpoint"] = checkpoint
    nodes["sampler"]["inputs"].update(steps=steps, seed=seed)
    nodes["save"]["inputs"]["filename_prefix"] = prefix
    return workflow


async def workers(client: TestClient) -> dict[str, Any]:
    """The answer of /api/workers."""
    return await (await client.get("/api/workers")).json()


async def worker_running(client: TestClient, prompt_id: str) -> dict[str, Any]:
    """The worker /api/workers shows running `prompt_id`."""
    return next(w for w in (await workers(client))["workers"] if w["prompt_id"] == prompt_id)


async def finished(client: TestClient, prompt_id: str) -> dict[str, Any]:
    """The prompt's record once it has ended."""
    return await wait_finished(client, prompt_id, timeout=RUN_TIMEOUT_S)


async def test_prompts_over_two_checkpoints_go_to_the_worker_holding_theirs(ray_client):
    assert (await ray_client.post("/free", json={"unload_models": True})).status == 200
    before = (await workers(ray_client))["routing"]
    # While the first runs, the second can only go to the other worker: each worker loads one checkpoint.
    first = [await submit(ray_client, txt2img(checkpoint, steps=10, seed=1)) for checkpoint in (DEMO, COPY)]
    records = [await finished(ray_client, p["prompt_id"]) for p in first]
    held = sorted(w["models"] for w in (await workers(ray_client))["workers"])
    assert held == [[DEMO], [COPY]]
    # Then pairs, each pair running at once: every prompt finds an idle worker holding its checkpoint.
    for seed in range(2, 6):
        pair = [await submit(ray_client, txt2img(checkpoint, seed=seed)) for checkpoint in (DEMO, COPY)]
        records += [await finished(ray_client, p["prompt_id"]) for p in pair]
    assert [r["status"] for r in records] == ["success"] * 10
    after = (await workers(ray_client))["routing"]
    assert after["affinity_misses"] - before["affinity_misses"] == 2
    assert after["affinity_hits"] - before["affinity_hits"] == 8
    answer = await workers(ray_client)
    assert {(w["kind"], w["state"], w["device"]) for w in answer["workers"]} == {("ray", "idle", "cpu")}


async def test_an_interrupted_prompt_stops_at_its_next_step_and_its_worker_goes_on(ray_client):
    async with ray_client.ws_connect("/api/ws") as ws:
        prompt = await submit(ray_client, txt2img(steps=1000, prefix="interrupted"))
        await events_until(ws, "progress", prompt["prompt_id"], timeout=RUN_TIMEOUT_S)
        worker = await worker_running(ray_client, prompt["prompt_id"])
        answer = await (await ray_client.post("/api/interrupt", json={"prompt_id": prompt["prompt_id"]})).json()
        assert answer == {"interrupted": prompt["prompt_id"]}
        record = await finished(ray_client, prompt["prompt_id"])
    assert record["status"] == "interrupted" and record["attempts"] == 1
    assert record["error"]["node_id"] == "sampler"
    assert worker["pid"] in [w["pid"] for w in (await workers(ray_client))["workers"]]


async def test_a_worker_killed_mid_prompt_has_the_prompt_run_again_and_its_picture_written_once(ray_client):
    output = ray_client.app[CONFIG].settings.output_dir
    async with ray_client.ws_connect("/api/ws") as ws:
        prompt = await submit(ray_client, txt2img(steps=50, prefix="killed"))
        await events_until(ws, "progress", prompt["prompt_id"], timeout=RUN_TIMEOUT_S)
        victim = await worker_running(ray_client, prompt["prompt_id"])
        os.kill(victim["pid"], signal.SIGKILL)
        retrying = (await events_until(ws, "run_retrying", prompt["prompt_id"], timeout=RUN_TIMEOUT_S))[-1]
        record = await finished(ray_client, prompt["prompt_id"])
    assert retrying["node_id"] == "sampler" and "actor died" in retrying["reason"] and retrying["attempt"] == 2
    assert record["status"] == "success" and record["attempts"] == 2
    assert sorted(p.name for p in output.glob("killed*")) == ["killed_00001_.png"]
    assert victim["pid"] not in [w["pid"] for w in (await workers(ray_client))["workers"]]


async def test_a_worker_over_its_memory_cap_fails_the_prompt_naming_the_node_without_retrying(ray_client):
    hog = {"type": "hog.memory", "inputs": {"mib": (MEMORY_CAP >> 20) + 512}}
    workflow = {"format": "graphflow.workflow", "version": 1, "nodes": {"x": hog}}
    record = await finished(ray_client, (await submit(ray_client, workflow))["prompt_id"])
    assert record["status"] == "error" and record["attempts"] == 1
    error = record["error"]
    assert error["kind"] == "worker_lost" and (error["node_id"], error["node_type"]) == ("x", "hog.memory")
    assert "more than its memory cap of 2.00 GiB (--worker-memory)" in error["message"]
