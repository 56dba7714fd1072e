"""Issue 14's HTTP cases, each as it was reported, each ending in a clear 4xx JSON answer; unexpected faults in a
JSON 500 naming a log id; heavy validation off the event loop."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

import pytest

from benchmarks.fuzz_routes import MULTIPART_TYPE, app_routes, is_error_body, multipart, nested_json, png_header
from graphflow.graph import validate
from graphflow.server import routes_prompts
from graphflow.server.comfy import routes as comfy_routes
from graphflow.workflow import MAX_DEPTH
from tests.server.helpers import workflow

CHEAP_PROMPT = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
    "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
}
# Every route that reads a JSON body, with the code its refusal carries.
JSON_ROUTES = {
    ("POST", "/api/prompt"): "bad_request",
    ("POST", "/api/validate"): "bad_request",
    ("POST", "/api/interrupt"): "bad_request",
    ("POST", "/interrupt"): "bad_request",
    ("POST", "/queue"): "bad_request",
    ("POST", "/api/queue"): "bad_request",
    ("POST", "/history"): "bad_request",
    ("POST", "/api/history"): "bad_request",
    ("POST", "/settings"): "bad_request",
    ("POST", "/settings/x"): "bad_request",
    ("POST", "/api/jobs/cancel"): "bad_request",
    ("POST", "/free"): "bad_request",
    ("PATCH", "/internal/logs/subscribe"): "bad_request",
    ("PUT", "/api/workflows/user/a.json"): "bad_request",
    ("POST", "/api/import/comfy"): "bad_workflow_file",
}


async def answer(response) -> tuple[int, dict[str, Any]]:
    """Status and JSON body, asserting the body is a JSON error when the status is 4xx."""
    body = await response.read()
    if response.status >= 400:
        assert is_error_body(body), (response.status, body[:300])
    return response.status, json.loads(body) if response.content_type == "application/json" else {}


def message(body: dict[str, Any]) -> str:
    """The message of graphflow's error body or of ComfyUI's."""
    error = body["error"]
    return error["message"] if isinstance(error, dict) else body["message"]


async def post_form(client, path: str, parts: list[tuple[str, bytes | None, bytes]]):
    """POST a multipart body written byte by byte (client libraries refuse names with NUL)."""
    return await client.post(path, data=multipart(parts), headers={"Content-Type": MULTIPART_TYPE})


async def test_deeply_nested_json_on_every_json_route_is_refused_as_nested_too_deeply(client):
    for depth in (MAX_DEPTH + 1, 100_000):
        for (method, path), code in JSON_ROUTES.items():
            response = await client.request(method, path, data=nested_json(depth, "array"))
            status, body = await answer(response)
            assert status in (400, 422) and "nested too deeply" in message(body), (method, path, depth, body)
            assert body["error"] == code
    comfy = await answer(await client.post("/prompt", data=nested_json(100_000, "object")))
    assert comfy[0] == 400 and comfy[1]["error"]["type"] == "invalid_prompt" and comfy[1]["node_errors"] == {}
    assert "nested too deeply" in comfy[1]["error"]["message"]


async def test_json_at_the_depth_limit_is_read(client):
    at_limit = json.loads(nested_json(MAX_DEPTH, "array"))
    assert (await client.post("/settings/deep", json=at_limit)).status == 200
    assert await (await client.get("/settings/deep")).json() == at_limit


async def test_every_route_answers_hostile_bodies_with_a_json_error_and_never_a_500(client):
    hostile = [nested_json(100_000, "object"), b"[1, 2]", b'{"delete": 5, "priority": 1180591620717411303424}', b"\xff"]
    for route in app_routes(client.app):
        path = route.path.replace("{name}", "a.json").replace("{path}", "x.css")
        path = path.replace("{", "").replace("}", "")  # other placeholders: their own name as the value
        for data in hostile:
            response = await client.request(route.method, path, data=data, headers={"Content-Type": "application/json"})
            assert response.status < 500, (route, data[:40], await response.text())
            await answer(response)


async def test_a_priority_past_64_bits_is_refused_naming_the_field(client):
    status, body = await answer(await client.post("/api/prompt", json={"workflow": workflow(), "priority": 2**70}))
    assert status == 400 and body["error"] == "bad_request" and "'priority'" in body["message"]
    assert "9223372036854775807" in body["message"]
    assert (await (await client.get("/api/queue")).json())["pending"] == []
    edge = await client.post("/api/prompt", json={"workflow": workflow(), "priority": 2**63 - 1})
    assert edge.status == 200


async def test_extra_data_that_is_not_an_object_gets_comfyuis_invalid_prompt(client):
    status, body = await answer(await client.post("/prompt", json={"prompt": CHEAP_PROMPT, "extra_data": [1, 2]}))
    assert status == 400 and body["error"]["type"] == "invalid_prompt" and body["node_errors"] == {}
    assert "extra_data" in body["error"]["message"]
    assert (await (await client.get("/queue")).json())["queue_pending"] == []


@pytest.mark.parametrize("path", ["/queue", "/history", "/api/queue", "/api/history"])
async def test_delete_that_is_not_a_list_of_ids_is_refused_naming_the_field(client, path):
    status, body = await answer(await client.post(path, json={"delete": 5}))
    assert status == 400 and body["error"] == "bad_request" and "'delete'" in body["message"]


@pytest.mark.parametrize("name", ["offset", "max_items"])
async def test_history_paging_past_64_bits_is_refused_naming_the_parameter(client, name):
    status, body = await answer(await client.get(f"/history?{name}=99999999999999999999"))
    assert status == 400 and f"'{name}'" in body["message"]
    status, body = await answer(await client.get(f"/api/history?{'limit' if name == 'max_items' else name}=1e400"))
    assert status == 400 and "must be an integer" in body["message"]


@pytest.mark.parametrize("path", ["/upload/image", "/upload/mask", "/api/upload/image", "/api/upload/mask"])
async def test_a_nul_byte_in_an_uploaded_file_name_is_a_clear_400(client, config, path):
    png = png_header(1, 1)
    ref = json.dumps({"filename": "x.png"}).encode()
    status, body = await answer(
        await post_form(client, path, [("original_ref", None, ref), ("image", b"a\x00b.png", png)])
    )
    assert status == 400 and body["error"] == "bad_request" and "multipart" in body["message"]
    assert list(config.settings.input_dir.iterdir()) == []


async def test_a_mask_whose_original_ref_type_is_a_list_is_refused_naming_the_field(client):
    ref = json.dumps({"filename": "x.png", "subfolder": "", "type": ["input"]}).encode()
    status, body = await answer(
        await post_form(client, "/upload/mask", [("original_ref", None, ref), ("image", b"m.png", png_header(1, 1))])
    )
    assert status == 400 and "original_ref" in body["message"]


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("side", [50_000, 12_000])
@pytest.mark.parametrize("path", ["/upload/image", "/upload/mask", "/api/upload/image", "/api/upload/mask"])
async def test_images_above_the_pixel_limit_are_refused_alike_by_every_upload_route(client, config, side, path):
    ref = json.dumps({"filename": "x.png"}).encode()
    parts = [("original_ref", None, ref)] if path == "/upload/mask" else []
    status, body = await answer(await post_form(client, path, [*parts, ("image", b"big.png", png_header(side, side))]))
    assert status == 413 and body["error"] == "too_large", body
    assert list(config.settings.input_dir.iterdir()) == []


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
async def test_a_painted_mask_onto_an_original_above_the_pixel_limit_is_refused(client, config):
    (config.settings.input_dir / "huge.png").write_bytes(png_header(12_000, 12_000))
    ref = json.dumps({"filename": "huge.png"}).encode()
    response = await post_form(
        client, "/upload/mask", [("original_ref", None, ref), ("image", b"m.png", png_header(1, 1))]
    )
    status, body = await answer(response)
    assert status == 413 and "pixel limit" in body["message"]


async def test_file_names_no_file_system_takes_are_refused_not_failed_on(client):
    for params in ({"filename": "x" * 300}, {"filename": "a.png", "subfolder": "/".join(["d"] * 600)}):
        status, body = await answer(await client.get("/api/view", params=params))
        assert status == 403 and "bytes" in body["message"]
    status, _ = await answer(await client.post("/userdata/" + "x" * 300, data=b"{}"))
    assert status == 403


async def test_aiohttps_own_refusals_are_json_errors_too(client):
    for method, path, expected in (("GET", "/api/nowhere", 404), ("POST", "/favicon.ico", 405), ("GET", "/ws", 400)):
        status, body = await answer(await client.request(method, path))
        assert status == expected and body["message"], (method, path)


async def test_bad_websocket_messages_get_an_error_and_the_connection_stays(client):
    async with client.ws_connect("/api/ws") as ws:
        await ws.receive()
        for text in (nested_json(100_000, "array").decode(), '{"type": "watch", "data": 5}', "[1]", '{"data": {}}'):
            await ws.send_str(text)
            reply = json.loads((await ws.receive()).data)
            assert reply["type"] == "error" and reply["data"]["message"], text
        await ws.send_json({"type": "get_state"})
        assert json.loads((await ws.receive()).data)["type"] == "state"
    async with client.ws_connect("/ws?clientId=me") as ws:
        await ws.receive()
        await ws.send_str(nested_json(100_000, "array").decode())
        await ws.send_json({"type": "feature_flags", "data": {}})
        assert json.loads((await ws.receive()).data)["type"] == "feature_flags"


@pytest.mark.parametrize(
    "method, path, body",
    [("POST", "/settings", {"Comfy.Theme": "dark"}), ("PUT", "/api/workflows/user/a.json", workflow())],
)
async def test_an_unexpected_fault_is_a_json_500_naming_the_log_id_of_its_traceback(
    client, config, caplog, method, path, body
):
    config.comfy_user_dir.write_text("a file where ComfyUI's user folder belongs")
    config.user_workflows_dir.rmdir()
    config.user_workflows_dir.write_text("a file where the workflows folder belongs")
    with caplog.at_level(logging.ERROR, logger="graphflow.server"):
        response = await client.request(method, path, json=body)
        status, answer_body = await answer(response)
    assert status == 500 and answer_body["error"] == "internal"
    log_id = answer_body["message"].rsplit("log id ", 1)[1].rstrip(")")
    logged = [r for r in caplog.records if log_id in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None and path in logged[0].getMessage()


def image_chain(length: int) -> dict[str, Any]:
    """A graphflow workflow of `length` nodes, an empty image inverted over and over (invalid: width 0)."""
    nodes: dict[str, Any] = {"n0": {"type": "graphflow.image.empty", "inputs": {"width": 0}}}
    for i in range(1, length):
        nodes[f"n{i}"] = {
            "type": "graphflow.image.invert",
            "links": {"image": {"node": f"n{i - 1}", "output": "result"}},
        }
    return {"format": "graphflow.workflow", "version": 1, "nodes": nodes}


def comfy_image_chain(length: int) -> dict[str, Any]:
    """The same as a ComfyUI prompt (invalid: width 0, and no output node)."""
    prompt: dict[str, Any] = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 0, "height": 8, "batch_size": 1, "color": 0}}
    }
    for i in range(2, length + 1):
        prompt[str(i)] = {"class_type": "ImageInvert", "inputs": {"image": [str(i - 1), 0]}}
    return prompt


@pytest.fixture
def validating(monkeypatch) -> threading.Event:
    """Set when a route starts validating (the real validator, watched)."""
    started = threading.Event()

    def watched(*args: Any, **kwargs: Any) -> Any:
        started.set()
        return validate(*args, **kwargs)

    for module in (routes_prompts, comfy_routes):
        monkeypatch.setattr(module, "validate", watched)
    return started


@pytest.mark.parametrize(
    "path, body",
    [("/api/prompt", {"workflow": image_chain(10_000)}), ("/prompt", {"prompt": comfy_image_chain(10_000)})],
)
async def test_the_server_answers_while_it_validates_a_10k_node_workflow(client, validating, path, body):
    submitted = asyncio.ensure_future(client.post(path, json=body))
    assert await asyncio.to_thread(validating.wait, 60)
    queue = await client.get("/api/queue")
    assert queue.status == 200 and not submitted.done()
    status, _ = await answer(await submitted)
    assert status == 400
