"""Websocket events: every kind, previews as binary frames, watching, and state on reconnect."""

from __future__ import annotations

import io
import json

from PIL import Image

from tests.server.helpers import cached_workflow, events_until, failing_workflow, submit, workflow


async def test_first_message_is_the_state_of_an_idle_server(client):
    async with client.ws_connect("/api/ws", params={"client_id": "viewer"}) as ws:
        state = json.loads((await ws.receive()).data)
    assert state["type"] == "state" and isinstance(state["seq"], int) and state["ts"] > 0
    assert state["data"] == {
        "client_id": "viewer",
        "watch": "all",
        "queue": {"pending_count": 0, "running": None, "running_ids": []},
        "running": None,
        "runs": [],
    }


async def test_a_run_sends_every_event_kind_in_order(client):
    async with client.ws_connect("/api/ws") as ws:
        answer = await submit(client, workflow(steps=3, label="ev"))
        events = await events_until(ws, "run_finished", answer["prompt_id"])
    kinds = [e["type"] for e in events if e["type"] not in ("state", "queue")]
    assert kinds == [
        "run_started",
        "node_started",
        "progress",
        "preview",
        "progress",
        "preview",
        "progress",
        "preview",
        "node_finished",
        "run_finished",
    ]
    started = next(e for e in events if e["type"] == "run_started")
    assert started["nodes"] == ["slow"] and started["number"] == answer["number"]
    progress = [(e["value"], e["max"]) for e in events if e["type"] == "progress"]
    assert progress == [(1, 3), (2, 3), (3, 3)]
    node_started = next(e for e in events if e["type"] == "node_started")
    assert node_started["node_type"] == "test.slow"
    image_ref = {"filename": "ev_00001_.png", "subfolder": "", "type": "output"}
    finished = next(e for e in events if e["type"] == "node_finished")
    assert finished["outputs"] == {"images": [image_ref]}
    assert events[-1]["status"] == "success" and events[-1]["outputs"] == {"slow": {"images": [image_ref]}}
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def test_preview_frames_carry_run_node_and_a_jpeg(client):
    async with client.ws_connect("/api/ws") as ws:
        answer = await submit(client, workflow(steps=2))
        events = await events_until(ws, "run_finished", answer["prompt_id"])
    previews = [e for e in events if e["type"] == "preview"]
    assert [(p["prompt_id"], p["node_id"], p["value"], p["max"]) for p in previews] == [
        (answer["prompt_id"], "slow", 1, 2),
        (answer["prompt_id"], "slow", 2, 2),
    ]
    assert previews[0]["mime"] == "image/jpeg"
    with Image.open(io.BytesIO(previews[0]["image"])) as image:
        assert image.format == "JPEG" and image.size == (16, 8)


async def test_queue_events_follow_submissions_and_runs(client, gate):
    gate.clear()
    async with client.ws_connect("/api/ws") as ws:
        held = await submit(client, workflow(hold=True))
        await events_until(ws, "progress", held["prompt_id"])
        await submit(client, workflow())
        queued = await events_until(ws, "queue")
        assert queued[-1]["pending_count"] == 1 and queued[-1]["running"] == held["prompt_id"]
        gate.set()
        events = await events_until(ws, "queue")
        while events[-1]["pending_count"] or events[-1]["running"]:
            events = await events_until(ws, "queue")


async def test_cached_nodes_are_announced(client):
    async with client.ws_connect("/api/ws") as ws:
        first = await submit(client, cached_workflow(3))
        await events_until(ws, "run_finished", first["prompt_id"])
        second = await submit(client, cached_workflow(3))
        events = await events_until(ws, "run_finished", second["prompt_id"])
    cached = [e for e in events if e["type"] == "nodes_cached"]
    assert [(e["prompt_id"], e["nodes"]) for e in cached] == [(second["prompt_id"], ["seed"])]


async def test_a_failing_run_sends_run_failed_naming_the_node(client):
    async with client.ws_connect("/api/ws") as ws:
        answer = await submit(client, failing_workflow())
        events = await events_until(ws, "run_failed", answer["prompt_id"])
    assert events[-1]["error"] == {
        "node_id": "bad",
        "node_type": "test.boom",
        "kind": "node_error",
        "message": "RuntimeError: boom 7",
    }


async def test_events_keep_flowing_and_a_reconnecting_client_gets_the_running_state(client, gate):
    gate.clear()
    async with client.ws_connect("/api/ws") as ws:
        held = await submit(client, workflow(hold=True, steps=4))
        await events_until(ws, "progress", held["prompt_id"])
        waiting = await submit(client, workflow())
        # the node is blocked inside run(); the loop still answers
        assert (await client.get("/api/queue")).status == 200
    async with client.ws_connect("/api/ws") as again:
        state = json.loads((await again.receive()).data)["data"]
        assert state["queue"] == {"pending_count": 1, "running": held["prompt_id"], "running_ids": [held["prompt_id"]]}
        running = state["running"]
        assert running["prompt_id"] == held["prompt_id"] and running["node_id"] == "slow"
        assert running["progress"] == {"node_id": "slow", "value": 1, "max": 4}
        assert running["nodes"] == ["slow"] and running["executed"] == []
        gate.set()
        await events_until(again, "run_finished", waiting["prompt_id"])


async def test_watching_mine_only_shows_my_prompts(client):
    async with (
        client.ws_connect("/api/ws", params={"client_id": "me", "watch": "mine"}) as mine,
        client.ws_connect("/api/ws", params={"client_id": "other"}) as everyone,
    ):
        theirs = await submit(client, workflow(), client_id="other")
        ours = await submit(client, workflow(), client_id="me")
        seen_by_me = await events_until(mine, "run_finished", ours["prompt_id"])
        seen_by_all = await events_until(everyone, "run_finished", ours["prompt_id"])
    assert not any(e.get("prompt_id") == theirs["prompt_id"] for e in seen_by_me)
    assert any(e.get("prompt_id") == theirs["prompt_id"] for e in seen_by_all)


async def test_client_messages_switch_watch_and_get_state_and_bad_ones_get_an_error(client):
    async with client.ws_connect("/api/ws", params={"client_id": "c"}) as ws:
        await ws.receive()
        await ws.send_json({"type": "watch", "data": {"scope": "mine"}})
        assert json.loads((await ws.receive()).data)["data"]["watch"] == "mine"
        await ws.send_json({"type": "get_state"})
        assert json.loads((await ws.receive()).data)["type"] == "state"
        await ws.send_str("nonsense")
        assert json.loads((await ws.receive()).data)["type"] == "error"
        await ws.send_json({"type": "dance"})
        assert "unknown message type" in json.loads((await ws.receive()).data)["data"]["message"]
    assert (await client.get("/api/ws", params={"watch": "some"})).status == 400
