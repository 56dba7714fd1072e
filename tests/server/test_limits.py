"""A prompt over the server's limits is refused with a 400 naming node, input and setting; nothing is queued."""

from __future__ import annotations

from dataclasses import replace

import pytest

from graphflow.server import ServerConfig

HUGE = "16,384 x 16,384 = 268,435,456 pixels is over this server's limit of 67,108,864"


@pytest.fixture
def config(config: ServerConfig) -> ServerConfig:
    """The test server's configuration, its owner having lowered the batch limit to 2 (the rest as default)."""
    return replace(config, settings=config.settings.replace(max_batch=2))


def latent_workflow(width: int, height: int, batch_size: int = 1) -> dict:
    """An empty latent of the given size beside the test plugin's output node."""
    latent = {"type": "graphflow.latent.empty", "inputs": {"width": width, "height": height, "batch_size": batch_size}}
    return {"format": "graphflow.workflow", "version": 1, "nodes": {"latent": latent, "out": {"type": "test.slow"}}}


async def test_a_16384_square_latent_is_refused_before_it_is_queued(client):
    response = await client.post("/api/prompt", json={"workflow": latent_workflow(16384, 16384)})
    body = await response.json()
    assert response.status == 400 and body["error"] == "invalid_workflow"
    (issue,) = body["issues"]
    assert (issue["node_id"], issue["input"], issue["kind"]) == ("latent", "width", "over_limit")
    assert issue["message"].startswith(HUGE) and "--max-pixels" in issue["message"]
    queue = await (await client.get("/api/queue")).json()
    assert queue["running"] is None and queue["pending"] == []


async def test_comfyuis_prompt_route_refuses_it_as_a_node_error(client):
    prompt = {"5": {"class_type": "EmptyLatentImage", "inputs": {"width": 16384, "height": 16384, "batch_size": 1}}}
    response = await client.post("/prompt", json={"prompt": prompt})
    body = await response.json()
    assert response.status == 400
    (error,) = body["node_errors"]["5"]["errors"]
    assert error["extra_info"]["input_name"] == "width" and error["details"].startswith(f"width: {HUGE}")


async def test_the_server_owners_own_limits_are_the_ones_checked(client):
    body = await (await client.post("/api/validate", json={"workflow": latent_workflow(512, 512, 3)})).json()
    assert body["valid"] is False
    assert [(i["node_id"], i["input"], i["message"]) for i in body["issues"]] == [
        (
            "latent",
            "batch_size",
            "a batch of 3 is over this server's limit of 2 (setting max_batch, graphflow serve --max-batch)",
        )
    ]
