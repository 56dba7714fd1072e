"""ComfyUI's server API on graphflow's server: prompts, websocket protocol, history, files, node info, errors."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import struct
from typing import Any

import aiohttp
import numpy as np
import pytest
from PIL import Image

from graphflow.server import ServerConfig, create_app
from tests.interop.conftest import DATA, NAMES, comfy_models, example, small_api_prompt, write_inputs  # noqa: F401
from tests.nodes.conftest import models_root  # noqa: F401
from tests.server.helpers import failing_workflow, submit, workflow


@pytest.fixture
def config(config: ServerConfig, comfy_models) -> ServerConfig:  # noqa: F811
    """The server test configuration with ComfyUI-named tiny models and the example input images."""
    config.settings = config.settings.replace(models_dir=comfy_models)
    write_inputs(config.settings.input_dir)
    return config


async def comfy_events(ws, until: str = "executing", timeout: float = 30.0) -> list[Any]:
    """Websocket messages (JSON dicts, or bytes for binary frames) up to `executing` with node null."""
    seen: list[Any] = []
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.receive()
            if message.type == aiohttp.WSMsgType.BINARY:
                seen.append(message.data)
                continue
            event = json.loads(message.data)
            seen.append(event)
            if event["type"] == until and (until != "executing" or event["data"]["node"] is None):
                return seen


async def wait_history(client, prompt_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """Poll /history/{id} until the prompt is there."""
    async with asyncio.timeout(timeout):
        while not (body := await (await client.get(f"/history/{prompt_id}")).json()):
            await asyncio.sleep(0.05)
    return body[prompt_id]


async def test_a_prompt_runs_with_comfyuis_events_history_and_image(client):
    ws = await client.ws_connect("/ws?clientId=me")
    hello = json.loads((await ws.receive()).data)
    assert hello == {"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": "me"}}
    response = await client.post(
        "/prompt",
        data=json.dumps(
            {
                "prompt": small_api_prompt("txt2img"),
                "client_id": "me",
                "prompt_id": "my-id",
                "extra_data": {"preview_method": "auto", "extra_pnginfo": {"workflow": {}}},
            }
        ),
    )
    body = await response.json()
    assert response.status == 200 and body["prompt_id"] == "my-id" and body["node_errors"] == {}
    events = await comfy_events(ws)
    kinds = [e["type"] if isinstance(e, dict) else "preview" for e in events]
    assert kinds.index("execution_start") < kinds.index("execution_cached") < kinds.index("progress")
    assert kinds[-2:] == ["execution_success", "executing"] and "preview" in kinds
    frame = next(e for e in events if isinstance(e, bytes))
    assert struct.unpack(">II", frame[:8]) == (1, 1) and frame[8:10] == b"\xff\xd8"
    executing = [e["data"]["node"] for e in events if isinstance(e, dict) and e["type"] == "executing"]
    assert executing[-1] is None and "3" in executing and "9" in executing
    progress = next(e["data"] for e in events if isinstance(e, dict) and e["type"] == "progress")
    assert progress == {"value": 1, "max": 2, "prompt_id": "my-id", "node": "3"}
    executed = next(e["data"] for e in events if isinstance(e, dict) and e["type"] == "executed")
    image = executed["output"]["images"][0]
    assert executed["node"] == "9" and image["type"] == "output"

    entry = await wait_history(client, "my-id")
    assert entry["status"]["status_str"] == "success" and entry["status"]["completed"] is True
    assert entry["outputs"]["9"]["images"] == [image]
    assert entry["prompt"][1] == "my-id" and entry["prompt"][2]["3"]["class_type"] == "KSampler"
    assert entry["prompt"][4] == ["9"]
    view = await client.get("/view", params=image)
    assert view.status == 200 and (await view.read()).startswith(b"\x89PNG")
    assert (await (await client.get("/history")).json()).keys() == {"my-id"}
    assert await (await client.get("/prompt")).json() == {"exec_info": {"queue_remaining": 0}}
    await ws.close()


async def test_every_api_example_runs_through_the_server(client):
    ids = []
    for name in NAMES:
        response = await client.post("/prompt", json={"prompt": small_api_prompt(name)})
        assert response.status == 200, await response.text()
        ids.append((await response.json())["prompt_id"])
    for prompt_id in ids:
        entry = await wait_history(client, prompt_id)
        assert entry["status"]["status_str"] == "success", entry["status"]
        assert entry["outputs"]["9"]["images"]


async def test_a_custom_node_is_refused_with_one_invalid_prompt_error(client):
    response = await client.post("/prompt", json={"prompt": json.loads((DATA / "custom_node_api.json").read_text())})
    body = await response.json()
    assert response.status == 400 and body["node_errors"] == {}
    assert body["error"]["type"] == "invalid_prompt"
    assert "FaceDetailer (node 20)" in body["error"]["message"] and "UltimateSDUpscale" in body["error"]["message"]


async def test_invalid_inputs_come_back_as_comfyuis_node_errors(client):
    prompt = small_api_prompt("txt2img")
    prompt["3"]["inputs"]["steps"] = 0
    prompt["3"]["inputs"]["sampler_name"] = "no_such_sampler"
    del prompt["8"]["inputs"]["vae"]
    response = await client.post("/prompt", json={"prompt": prompt})
    body = await response.json()
    assert response.status == 400 and body["error"]["type"] == "prompt_outputs_failed_validation"
    sampler = body["node_errors"]["3"]
    assert sampler["class_type"] == "KSampler" and sampler["dependent_outputs"] == ["9"]
    kinds = {e["extra_info"]["input_name"]: e["type"] for e in sampler["errors"]}
    assert kinds == {"steps": "value_smaller_than_min", "sampler_name": "value_not_in_list"}
    decode = body["node_errors"]["8"]["errors"][0]
    assert decode["type"] == "required_input_missing" and decode["extra_info"]["input_name"] == "vae"
    assert (await client.post("/prompt", json={})).status == 400


async def test_runtime_errors_and_interrupts_reach_the_client_as_comfyui_messages(client, gate):
    ws = await client.ws_connect("/ws?clientId=me")
    await submit(client, failing_workflow(), client_id="me")
    error = next(e for e in await comfy_events(ws) if e["type"] == "execution_error")["data"]
    assert (error["node_id"], error["exception_type"], error["exception_message"]) == ("bad", "RuntimeError", "boom 7")
    held = await submit(client, workflow(hold=True, steps=3), client_id="me")
    queued = await submit(client, workflow(label="later"), client_id="me")
    async with asyncio.timeout(10):
        while not (await (await client.get("/queue")).json())["queue_running"]:
            await asyncio.sleep(0.02)
    state = await (await client.get("/queue")).json()
    assert state["queue_running"][0][1] == held["prompt_id"]
    assert [item[1] for item in state["queue_pending"]] == [queued["prompt_id"]]
    assert (await client.post("/queue", json={"delete": [queued["prompt_id"]]})).status == 200
    assert (await (await client.get("/queue")).json())["queue_pending"] == []
    assert (await client.post("/interrupt")).status == 200
    events = await comfy_events(ws)
    interrupted = next(e for e in events if e["type"] == "execution_interrupted")["data"]
    assert interrupted["prompt_id"] == held["prompt_id"] and interrupted["node_id"] == "slow"
    await ws.close()


async def test_object_info_describes_the_mapped_node_types(client):
    info = await (await client.get("/object_info")).json()
    sampler = info["KSampler"]
    assert sampler["input_order"][
        "required"
    ] == [  # ComfyUI's INPUT_TYPES order (tests/interop/test_comfy_object_info.py)
        "model",
        "seed",
        "steps",
        "cfg",
        "sampler_name",
        "scheduler",
        "positive",
        "negative",
        "latent_image",
        "denoise",
    ]
    assert sampler["input"]["required"]["seed"][1]["control_after_generate"] is True
    assert sampler["output"] == ["LATENT"] and sampler["category"] == "sampling"
    assert info["KSamplerAdvanced"]["input"]["required"]["add_noise"][0] == ["enable", "disable"]
    assert "v1-5-pruned-emaonly.safetensors" in info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0]
    assert info["SaveImage"]["output_node"] is True and "LoadImageMask" in info
    assert (await (await client.get("/object_info/VAEDecode")).json()).keys() == {"VAEDecode"}
    assert await (await client.get("/object_info/NoSuchNode")).json() == {}


async def test_system_stats_embeddings_and_model_lists_offer_the_shipped_models_first(client):
    stats = await (await client.get("/system_stats")).json()
    assert stats["system"]["comfyui_version"].startswith("graphflow") and stats["devices"][0]["type"]
    assert await (await client.get("/embeddings")).json() == ["shapes-sun"]
    upscalers = ["builtin:shapes-x2", "RealESRGAN_x2plus.safetensors"]
    assert await (await client.get("/models/upscale_models")).json() == upscalers
    checkpoints = await (await client.get("/models/checkpoints")).json()
    offered = (await (await client.get("/object_info/CheckpointLoaderSimple")).json())["CheckpointLoaderSimple"]
    assert checkpoints[:3] == ["builtin:shapes-demo", "builtin:shapes-flow", "builtin:shapes-class"]
    assert checkpoints == offered["input"]["required"]["ckpt_name"][0]
    assert "checkpoints" in await (await client.get("/models")).json()
    assert (await client.get("/models/nope")).status == 404


async def test_uploads_answer_like_comfyui_and_a_mask_lands_in_the_originals_alpha(client, config):
    form = aiohttp.FormData()
    form.add_field("image", (config.settings.input_dir / "example.png").read_bytes(), filename="cat.png")
    form.add_field("subfolder", "pets")
    saved = await (await client.post("/upload/image", data=form)).json()
    assert saved == {"name": "cat.png", "subfolder": "pets", "type": "input"}
    painted = np.zeros((64, 64, 4), dtype=np.uint8)
    painted[:, :32, 3] = 255
    buffer = io.BytesIO()
    Image.fromarray(painted, "RGBA").save(buffer, format="PNG")
    form = aiohttp.FormData()
    form.add_field("image", buffer.getvalue(), filename="clipspace-mask.png")
    form.add_field("original_ref", json.dumps({"filename": "cat.png", "subfolder": "pets", "type": "input"}))
    saved = await (await client.post("/upload/mask", data=form)).json()
    assert saved == {"name": "clipspace-mask.png", "subfolder": "", "type": "input"}
    with Image.open(config.settings.input_dir / "clipspace-mask.png") as merged:
        alpha = np.asarray(merged.getchannel("A"))
    assert alpha[:, :32].min() == 255 and alpha[:, 32:].max() == 0
    form = aiohttp.FormData()
    form.add_field("image", buffer.getvalue(), filename="m.png")
    form.add_field("original_ref", json.dumps({"filename": "../../etc/passwd", "type": "input"}))
    assert (await client.post("/upload/mask", data=form)).status == 403


async def test_the_import_endpoint_converts_ui_files_and_comfyui_pngs(client):
    converted = await (
        await client.post("/api/import/comfy", data=example("hires_fix", "workflow").read_bytes())
    ).json()
    assert converted["nodes"]["3"]["type"] == "graphflow.sampling.sample_advanced"
    assert (await (await client.post("/api/validate", json={"workflow": converted})).json())["valid"] is True
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", example("img2img", "api").read_text())
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG", pnginfo=info)
    form = aiohttp.FormData()
    form.add_field("file", buffer.getvalue(), filename="ComfyUI_00001_.png")
    converted = await (await client.post("/api/import/comfy", data=form)).json()
    assert converted["nodes"]["12"]["type"] == "graphflow.vae.encode"
    refused = await client.post("/api/import/comfy", data=(DATA / "custom_node_api.json").read_bytes())
    assert refused.status == 422 and "FaceDetailer" in (await refused.json())["message"]


async def test_comfy_routes_keep_the_token_and_origin_checks(aiohttp_client, config):
    config.token = "secret"
    client = await aiohttp_client(create_app(config))
    assert (await client.post("/prompt", json={"prompt": small_api_prompt("txt2img")})).status == 401
    assert (await client.get("/history")).status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await client.ws_connect("/ws?clientId=x")
    allowed = await client.get("/object_info/VAEDecode", headers={"Authorization": "Bearer secret"})
    assert allowed.status == 200
    foreign = await client.get("/system_stats?token=secret", headers={"Origin": "http://evil.example"})
    assert foreign.status == 403


async def test_the_unmodified_comfy_api_simplified_client_runs_a_workflow(client, caplog):
    from comfy_api_simplified import ComfyApiWrapper, ComfyWorkflowWrapper

    caplog.set_level(logging.DEBUG, logger="comfy_api_simplified")
    api = ComfyApiWrapper(str(client.make_url("/")).rstrip("/"))
    wf = ComfyWorkflowWrapper(str(example("txt2img", "api")))
    wf.set_node_param("KSampler", "steps", 6)  # long enough to be watched
    wf.set_node_param("Empty Latent Image", "width", 64)
    wf.set_node_param("Empty Latent Image", "height", 64)
    images = await asyncio.to_thread(api.queue_and_wait_images, wf, "Save Image")
    [(name, data)] = images.items()
    assert name.startswith("ComfyUI_") and data.startswith(b"\x89PNG")
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "'type': 'progress'" in logged and "'node': None" in logged and "/view?" in logged
