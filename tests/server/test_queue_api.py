"""REST routes for validation, the queue, interrupting and history, on a real loopback server."""

from __future__ import annotations

import asyncio

from tests.server.helpers import events_until, failing_workflow, submit, wait_finished, workflow


async def test_validate_reports_every_issue_with_node_and_input(client):
    wf = workflow(steps=5000, colour="red")
    body = await (await client.post("/api/validate", json={"workflow": wf})).json()
    assert body["valid"] is False
    kinds = {(i["node_id"], i["input"], i["kind"]) for i in body["issues"]}
    assert kinds == {("slow", "steps", "out_of_bounds"), ("slow", "colour", "unknown_input")}


async def test_validate_accepts_a_good_workflow_and_flags_a_non_workflow(client):
    good = await (await client.post("/api/validate", json={"workflow": workflow()})).json()
    assert good == {"valid": True, "issues": []}
    bad = await (await client.post("/api/validate", json={"workflow": {"nodes": {}}})).json()
    assert bad["valid"] is False and bad["issues"][0]["kind"] == "bad_workflow_file"


async def test_invalid_prompt_is_refused_with_issues_and_nothing_is_queued(client):
    response = await client.post("/api/prompt", json={"workflow": workflow(steps=0)})
    body = await response.json()
    assert response.status == 400 and body["error"] == "invalid_workflow"
    assert body["issues"][0]["node_id"] == "slow" and body["issues"][0]["input"] == "steps"
    assert (await (await client.get("/api/history")).json())["total"] == 0
    assert (await (await client.get("/api/queue")).json()) == {"running": None, "running_all": [], "pending": []}


async def test_malformed_bodies_get_a_json_400(client):
    response = await client.post("/api/prompt", data=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status == 400 and (await response.json())["error"] == "bad_request"
    response = await client.post("/api/prompt", json={"workflow": workflow(), "priority": "high"})
    assert response.status == 400
    assert (await client.get("/api/nowhere")).status == 404


async def test_submitted_prompt_runs_and_lands_in_history_with_outputs(client):
    answer = await submit(client, workflow(label="pic"), client_id="me")
    assert answer["number"] == 1 and answer["position"] == 0
    record = await wait_finished(client, answer["prompt_id"])
    assert record["status"] == "success" and record["client_id"] == "me"
    assert record["outputs"] == {
        "slow": {"images": [{"filename": "pic_00001_.png", "subfolder": "", "type": "output"}]}
    }
    assert record["executed"] == ["slow"] and record["workflow"]["nodes"]["slow"]["type"] == "test.slow"
    image = await client.get("/api/view", params={"filename": "pic_00001_.png", "type": "output"})
    assert image.status == 200 and (await image.read()).startswith(b"\x89PNG")


async def test_queue_orders_by_priority_then_front_then_submission(client, gate):
    gate.clear()
    async with client.ws_connect("/api/ws") as ws:
        blocker = await submit(client, workflow(hold=True))
        await events_until(ws, "progress", blocker["prompt_id"])
    a = await submit(client, workflow(label="a"))
    b = await submit(client, workflow(label="b"))
    c = await submit(client, workflow(label="c"), front=True)
    d = await submit(client, workflow(label="d"), priority=5)
    assert c["position"] == 0 and d["position"] == 0
    queue = await (await client.get("/api/queue")).json()
    assert queue["running"]["prompt_id"] == blocker["prompt_id"] and queue["running"]["status"] == "running"
    assert [p["prompt_id"] for p in queue["pending"]] == [
        d["prompt_id"],
        c["prompt_id"],
        a["prompt_id"],
        b["prompt_id"],
    ]
    gate.set()
    last = await wait_finished(client, b["prompt_id"])
    first = await wait_finished(client, d["prompt_id"])
    assert first["started_at"] < last["started_at"]


async def test_cancelling_pending_prompts_one_and_all(client, gate):
    gate.clear()
    running = await submit(client, workflow(hold=True))
    one, two, three = [await submit(client, workflow(label=x)) for x in "xyz"]
    response = await client.delete(f"/api/queue/{one['prompt_id']}")
    assert (await response.json()) == {"cancelled": [one["prompt_id"]]}
    assert (await client.delete(f"/api/queue/{one['prompt_id']}")).status == 404
    await wait_until_running(client, running["prompt_id"])
    conflict = await client.delete(f"/api/queue/{running['prompt_id']}")
    assert conflict.status == 409 and "interrupt" in (await conflict.json())["message"]
    cleared = await (await client.delete("/api/queue")).json()
    assert sorted(cleared["cancelled"]) == sorted([two["prompt_id"], three["prompt_id"]])
    gate.set()
    assert (await wait_finished(client, running["prompt_id"]))["status"] == "success"
    assert (await wait_finished(client, two["prompt_id"]))["status"] == "cancelled"


async def wait_until_running(client, prompt_id: str) -> None:
    """Poll the queue until `prompt_id` runs."""
    async with asyncio.timeout(10):
        while ((await (await client.get("/api/queue")).json())["running"] or {}).get("prompt_id") != prompt_id:
            await asyncio.sleep(0.02)


async def test_interrupt_stops_the_running_prompt_mid_node(client, gate):
    gate.clear()
    async with client.ws_connect("/api/ws") as ws:
        held = await submit(client, workflow(hold=True, steps=3))
        after = await submit(client, workflow(label="after"))
        await events_until(ws, "progress", held["prompt_id"])
        wrong = await (await client.post("/api/interrupt", json={"prompt_id": after["prompt_id"]})).json()
        assert wrong == {"interrupted": None}
        answer = await (await client.post("/api/interrupt")).json()
        assert answer == {"interrupted": held["prompt_id"]}
        events = await events_until(ws, "run_interrupted", held["prompt_id"])
    assert events[-1]["node_id"] == "slow" and events[-1]["reason"] == "user"
    record = await wait_finished(client, held["prompt_id"])
    assert record["status"] == "interrupted" and record["error"]["node_id"] == "slow"
    assert (await wait_finished(client, after["prompt_id"]))["status"] == "success"
    assert (await (await client.post("/api/interrupt")).json()) == {"interrupted": None}


async def test_failed_prompt_names_the_node_and_the_message(client):
    answer = await submit(client, failing_workflow())
    record = await wait_finished(client, answer["prompt_id"])
    assert record["status"] == "error"
    assert record["error"] == {
        "node_id": "bad",
        "node_type": "test.boom",
        "kind": "node_error",
        "message": "RuntimeError: boom 7",
    }


async def test_history_pages_newest_first_and_deletes(client):
    ids = [(await submit(client, workflow(label=f"h{i}")))["prompt_id"] for i in range(5)]
    await wait_finished(client, ids[-1])
    page = await (await client.get("/api/history", params={"offset": 1, "limit": 2})).json()
    assert page["total"] == 5 and page["offset"] == 1 and page["limit"] == 2
    assert [item["prompt_id"] for item in page["items"]] == [ids[3], ids[2]]
    assert "workflow" not in page["items"][0]
    assert (await client.get("/api/history", params={"limit": 0})).status == 400
    assert (await (await client.delete(f"/api/history/{ids[0]}")).json()) == {"deleted": ids[0]}
    assert (await client.delete(f"/api/history/{ids[0]}")).status == 404
    assert (await (await client.delete("/api/history")).json()) == {"deleted": 4}
    assert (await (await client.get("/api/history")).json())["items"] == []
    later = await submit(client, workflow())
    assert later["number"] == 6  # numbers are never reused


async def test_requeue_runs_a_finished_prompt_again_as_a_new_prompt(client):
    first = await submit(client, workflow(label="again"))
    await wait_finished(client, first["prompt_id"])
    again = await (await client.post(f"/api/prompt/{first['prompt_id']}/requeue")).json()
    record = await wait_finished(client, again["prompt_id"])
    assert record["requeued_from"] == first["prompt_id"] and record["status"] == "success"
    assert record["outputs"]["slow"]["images"][0]["filename"] == "again_00002_.png"  # never overwritten
    assert (await client.post("/api/prompt/nope/requeue")).status == 404
    assert (await client.get("/api/prompt/nope")).status == 404
