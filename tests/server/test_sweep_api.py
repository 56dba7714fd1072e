"""Fan-out on a real loopback server: a sweep runs as child prompts on the workers and its parent ends with the
labelled grid of their pictures; bad sweeps are refused naming the axis; cancelling the parent stops the children."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from graphflow.imaging.grid import FAILED
from graphflow.resources import example_workflow
from graphflow.server import ServerConfig, create_app
from graphflow.server.keys import DISPATCHER
from graphflow.server.queue_store import FINISHED
from tests.server.helpers import events_until, submit, workflow

CELL = 4  # test.slow saves a 4x4 picture coloured (seed % 256, 0, 0)


@pytest.fixture
async def pair(aiohttp_client, config: ServerConfig):
    """A test client for a server with two worker processes, once both have started."""
    config.workers = 2
    test_client = await aiohttp_client(create_app(config))
    await test_client.app[DISPATCHER].workers.ready()
    return test_client


async def sweep(client, wf: dict[str, Any], body: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """POST a sweep and return the JSON answer (asserting 200)."""
    response = await client.post("/api/prompt/sweep", json={"workflow": wf, "sweep": body, **extra})
    answer = await response.json()
    assert response.status == 200, answer
    return answer


async def refused(client, wf: dict[str, Any], body: Any) -> list[dict[str, Any]]:
    """POST a sweep that must be refused; return its issues."""
    response = await client.post("/api/prompt/sweep", json={"workflow": wf, "sweep": body})
    answer = await response.json()
    assert response.status == 400 and answer["error"] == "invalid_workflow", answer
    return answer["issues"]


async def ended(client, prompt_id: str, timeout: float = 20.0) -> dict[str, Any]:
    """Poll a prompt (a sweep's parent too) until it has ended; return its record."""
    async with asyncio.timeout(timeout):
        while True:
            record = await (await client.get(f"/api/prompt/{prompt_id}")).json()
            if record["status"] in FINISHED:
                return record
            await asyncio.sleep(0.05)


def grid_picture(config: ServerConfig, record: dict[str, Any]) -> Image.Image:
    """The one grid picture a finished sweep's parent names."""
    (ref,) = record["outputs"]["grid"]["images"]
    return Image.open(config.settings.output_dir / ref["subfolder"] / ref["filename"]).convert("RGB")


def cell_colours(picture: Image.Image, columns: int, rows: int, x: int, y: int) -> set[tuple[int, int, int]]:
    """The colours in cell (x, y) of a grid of CELL-sized cells (they fill the picture's bottom-right corner)."""
    left = picture.width - columns * CELL + x * CELL
    top = picture.height - rows * CELL + y * CELL
    return {colour for _, colour in picture.crop((left, top, left + CELL, top + CELL)).getcolors()}


async def test_a_three_by_three_sweep_runs_nine_children_on_two_workers_and_draws_one_labelled_grid(pair, config):
    axes = {
        "axes": [
            {"node": "slow", "input": "seed", "values": [10, 20, 30]},
            {"node": "slow", "input": "steps", "values": [1, 2, 3], "label": "steps"},
        ]
    }
    async with pair.ws_connect("/api/ws?watch=all") as ws:
        answer = await sweep(pair, workflow(delay=0.1), axes, client_id="me")
        finished = (await events_until(ws, "run_finished", answer["prompt_id"], timeout=30))[-1]
    assert len(answer["children"]) == 9 and answer["position"] == 0
    parent = await ended(pair, answer["prompt_id"])
    assert parent["status"] == "success" and finished["outputs"] == parent["outputs"]
    assert [a["labels"] for a in parent["workflow"]["meta"]["sweep"]["axes"]] == [
        ["seed: 10", "seed: 20", "seed: 30"],
        ["steps: 1", "steps: 2", "steps: 3"],
    ]
    children = [await ended(pair, child_id) for child_id in answer["children"]]
    assert all(c["status"] == "success" and c["parent"] == answer["prompt_id"] for c in children)
    assert [(c["workflow"]["nodes"]["slow"]["inputs"]["seed"], c["workflow"]["nodes"]["slow"]["inputs"]["steps"])
            for c in children] == [(seed, steps) for steps in (1, 2, 3) for seed in (10, 20, 30)]  # fmt: skip
    pictures = {c["outputs"]["slow"]["images"][0]["filename"] for c in children}
    assert len(pictures) == 9 and all((config.settings.output_dir / name).is_file() for name in pictures)
    assert set(parent["outputs"]["children"]) == set(answer["children"])
    runs = sorted((c["started_at"], c["finished_at"]) for c in children)
    assert any(later[0] < earlier[1] for earlier, later in itertools.pairwise(runs)), "two children ran at once"

    grid = grid_picture(config, parent)
    assert grid.width > 3 * CELL and grid.height > 3 * CELL  # labels on top and on the left
    for y in range(3):
        for x, seed in enumerate((10, 20, 30)):
            assert cell_colours(grid, 3, 3, x, y) == {(seed, 0, 0)}


async def test_a_failing_child_is_a_grey_failed_cell_and_the_sweep_still_succeeds(client, config):
    axes = {"axes": [{"node": "slow", "input": "label", "values": ["fine", "../outside"]}]}
    answer = await sweep(client, workflow(seed=50), axes)
    parent = await ended(client, answer["prompt_id"])
    assert parent["status"] == "success"
    good, bad = (parent["outputs"]["children"][child_id] for child_id in answer["children"])
    assert (good["status"], good["labels"]) == ("success", ["label: fine"])
    assert good["image"] == {"filename": "fine_00001_.png", "subfolder": "", "type": "output"}
    assert bad["status"] == "error" and bad["image"] is None and bad["error"]["node_id"] == "slow"
    grid = grid_picture(config, parent)
    assert (50, 0, 0) in cell_colours(grid, 2, 1, 0, 0)
    failed = cell_colours(grid, 2, 1, 1, 0)
    assert FAILED in failed and (50, 0, 0) not in failed


async def test_a_sweep_whose_every_child_fails_ends_in_error_naming_the_node(client):
    axes = {"axes": [{"node": "slow", "input": "label", "values": ["../a", "../b"]}]}
    parent = await ended(client, (await sweep(client, workflow(), axes))["prompt_id"])
    assert parent["status"] == "error" and "grid" not in parent["outputs"]
    error = parent["error"]
    assert (error["node_id"], error["kind"]) == ("slow", "node_error")
    assert error["message"].startswith("every child of the sweep failed; the first (label: ../a): ValueError")


async def test_bad_sweeps_are_refused_naming_the_axis_node_and_input_and_nothing_is_queued(client):
    wf = workflow()
    (issue,) = await refused(client, wf, {"axes": [{"node": "slow", "input": "colour", "values": [1, 2]}]})
    assert (issue["node_id"], issue["input"], issue["kind"]) == ("slow", "colour", "unknown_input")
    assert issue["message"].startswith("X axis (node 'slow', input 'colour')")
    y_axis = {"axes": [{"node": "slow", "input": "seed", "values": [1]}, {"node": "gone", "input": "x", "values": [1]}]}
    (issue,) = await refused(client, wf, y_axis)
    assert (issue["node_id"], issue["kind"]) == ("gone", "missing_node") and "Y axis" in issue["message"]
    (issue,) = await refused(client, wf, {"axes": [{"node": "slow", "input": "steps", "values": [2, 5000]}]})
    assert (issue["node_id"], issue["input"], issue["kind"]) == ("slow", "steps", "out_of_bounds")
    assert issue["message"].startswith("steps: 5000: ")
    (issue,) = await refused(client, wf, {"seeds": {"node": "slow"}})
    assert issue["message"] == "seeds.count: is missing"
    (issue,) = await refused(client, wf, None)
    assert issue["message"].startswith("sweep: must be a JSON object")
    (issue,) = await refused(client, {"nodes": {}}, {"seeds": {"node": "slow", "count": 2}})
    assert issue["kind"] == "bad_workflow_file"
    assert (await (await client.get("/api/queue")).json())["pending"] == []
    assert (await (await client.get("/api/history")).json())["total"] == 0


async def test_a_seed_sweep_makes_one_row_of_children(client, config):
    answer = await sweep(client, workflow(), {"seeds": {"node": "slow", "count": 3, "start": 7}})
    parent = await ended(client, answer["prompt_id"])
    assert parent["status"] == "success"
    summaries = [parent["outputs"]["children"][child_id] for child_id in answer["children"]]
    assert [s["labels"] for s in summaries] == [["seed: 7"], ["seed: 8"], ["seed: 9"]]
    grid = grid_picture(config, parent)
    assert [cell_colours(grid, 3, 1, x, 0) for x in range(3)] == [{(7, 0, 0)}, {(8, 0, 0)}, {(9, 0, 0)}]


async def test_cancelling_the_parent_cancels_pending_children_and_interrupts_the_running_one(client, gate):
    gate.clear()
    async with client.ws_connect("/api/ws") as ws:
        answer = await sweep(client, workflow(hold=True), {"seeds": {"node": "slow", "count": 3}})
        first, *rest = answer["children"]
        await events_until(ws, "progress", first)
    response = await client.post(f"/api/prompt/{answer['prompt_id']}/cancel")
    assert await response.json() == {"cancelled": rest, "interrupted": [first]}
    parent = await ended(client, answer["prompt_id"])
    assert parent["status"] == "interrupted" and "grid" not in parent["outputs"]
    assert parent["error"]["message"] == "the sweep was stopped: 3 of its 3 children were cancelled or interrupted"
    statuses = [parent["outputs"]["children"][child_id]["status"] for child_id in answer["children"]]
    assert statuses == ["interrupted", "cancelled", "cancelled"]
    again = await client.post(f"/api/prompt/{answer['prompt_id']}/cancel")
    assert again.status == 409 and "already ended (interrupted)" in (await again.json())["message"]


async def test_a_sweep_whose_children_are_cleared_from_the_queue_ends_too(client, gate):
    gate.clear()
    async with client.ws_connect("/api/ws") as ws:
        blocker = await submit(client, workflow(hold=True))
        await events_until(ws, "progress", blocker["prompt_id"])
    answer = await sweep(client, workflow(), {"seeds": {"node": "slow", "count": 2}})
    cleared = await (await client.delete("/api/queue")).json()
    assert cleared == {"cancelled": answer["children"]}
    parent = await ended(client, answer["prompt_id"], timeout=5)  # no child ran: the collector looks now and then
    assert parent["status"] == "interrupted"
    gate.set()


@pytest.mark.parametrize("route", ["graphflow", "comfyui"])
async def test_deleting_the_parent_from_the_queue_cancels_its_children(client, gate, route):
    gate.clear()
    async with client.ws_connect("/api/ws") as ws:
        blocker = await submit(client, workflow(hold=True))
        await events_until(ws, "progress", blocker["prompt_id"])
    answer = await sweep(client, workflow(), {"seeds": {"node": "slow", "count": 2}})
    parent_id = answer["prompt_id"]
    if route == "graphflow":
        deleted = await (await client.delete(f"/api/queue/{parent_id}")).json()
        assert deleted == {"cancelled": answer["children"]}
    else:
        assert (await client.post("/queue", json={"delete": [parent_id]})).status == 200
    parent = await ended(client, parent_id)
    assert parent["status"] == "interrupted"
    statuses = [parent["outputs"]["children"][child_id]["status"] for child_id in answer["children"]]
    assert statuses == ["cancelled", "cancelled"]
    gate.set()


async def test_cancel_stops_a_plain_prompt_too(client, gate):
    gate.clear()
    async with client.ws_connect("/api/ws") as ws:
        running = await submit(client, workflow(hold=True))
        await events_until(ws, "progress", running["prompt_id"])
    waiting = await submit(client, workflow())
    answer = await (await client.post(f"/api/prompt/{waiting['prompt_id']}/cancel")).json()
    assert answer == {"cancelled": [waiting["prompt_id"]], "interrupted": []}
    answer = await (await client.post(f"/api/prompt/{running['prompt_id']}/cancel")).json()
    assert answer == {"cancelled": [], "interrupted": [running["prompt_id"]]}
    assert (await ended(client, running["prompt_id"]))["status"] == "interrupted"
    assert (await client.post("/api/prompt/nope/cancel")).status == 404


async def test_a_sampler_by_steps_grid_on_the_demo_model_makes_nine_pictures_and_one_labelled_grid(pair, config):
    txt2img = json.loads(Path(example_workflow("txt2img")).read_text())
    axes = {
        "axes": [
            {"node": "sampler", "input": "sampler_name", "values": ["euler", "heun", "dpmpp_2m"], "label": "sampler"},
            {"node": "sampler", "input": "steps", "values": [1, 2, 3]},
        ]
    }
    answer = await sweep(pair, txt2img, axes)
    parent = await ended(pair, answer["prompt_id"], timeout=180)
    assert parent["status"] == "success", parent["error"]
    children = [parent["outputs"]["children"][child_id] for child_id in answer["children"]]
    assert [c["labels"] for c in children[:4]] == [
        ["sampler: euler", "steps: 1"],
        ["sampler: heun", "steps: 1"],
        ["sampler: dpmpp_2m", "steps: 1"],
        ["sampler: euler", "steps: 2"],
    ]
    output = config.settings.output_dir
    pictures = [Image.open(output / c["image"]["subfolder"] / c["image"]["filename"]).convert("RGB") for c in children]
    assert len({c["image"]["filename"] for c in children}) == 9 and {p.size for p in pictures} == {(64, 64)}
    grid = grid_picture(config, parent)
    assert grid.width > 3 * 64 and grid.height > 3 * 64
    for index, picture in enumerate(pictures):
        x, y = index % 3, index // 3
        left, top = grid.width - (3 - x) * 64, grid.height - (3 - y) * 64
        assert grid.crop((left, top, left + 64, top + 64)).tobytes() == picture.tobytes(), children[index]["labels"]
