"""The routes ComfyUI's own frontend calls: at `/` and `/api/`, in ComfyUI's shapes, beside graphflow's own API."""

from __future__ import annotations

import asyncio
import json
import os
import struct
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from graphflow.server import ServerConfig, create_app
from tests.server.helpers import events_until, failing_workflow, submit, wait_finished, workflow

FRONTEND_GETS = {
    "/extensions": list,
    "/settings": dict,
    "/settings/Comfy.Locale": type(None),
    "/users": dict,
    "/userdata?dir=workflows&recurse=true&split=false&full_info=true": list,
    "/userdata/user.css": str,
    "/userdata/comfy.templates.json": list,
    "/v2/userdata": list,
    "/i18n": dict,
    "/features": dict,
    "/jobs?status=in_progress,pending&limit=200&offset=0": dict,
    "/workflow_templates": dict,
    "/global_subgraphs": dict,
    "/system_stats": dict,
    "/embeddings": list,
    "/experiment/models": list,
    "/experiment/models/checkpoints": list,
    "/object_info": dict,
    "/prompt": dict,
    "/internal/folder_paths": dict,
    "/internal/logs": str,
    "/internal/logs/raw": dict,
    "/internal/files/input": list,
}


@pytest.mark.parametrize("prefix", ["", "/api"])
async def test_every_route_the_frontend_reads_answers_at_the_root_and_under_api(client, prefix):
    for path, shape in FRONTEND_GETS.items():
        response = await client.get(prefix + path)
        assert response.status == 200, (path, await response.text())
        body = await response.text() if shape is str else await response.json()
        assert isinstance(body, shape), (path, body)


async def test_the_feature_flags_and_user_answer_as_comfyui_single_user(client):
    assert await (await client.get("/features")).json() == {
        "supports_preview_metadata": False,
        "max_upload_size": 50 * 1024 * 1024,
    }
    assert await (await client.get("/api/users")).json() == {"storage": "server", "migrated": False}
    refused = await client.post("/api/users", json={"username": "bob"})
    assert refused.status == 400 and "single user" in (await refused.json())["message"]


async def test_settings_are_stored_in_comfyuis_user_folder(client, config):
    assert (await client.post("/api/settings", json={"Comfy.Locale": "en", "Comfy.TutorialCompleted": True})).ok
    assert (await client.post("/settings/Comfy.Locale", json="fr")).ok
    assert await (await client.get("/api/settings")).json() == {"Comfy.Locale": "fr", "Comfy.TutorialCompleted": True}
    assert await (await client.get("/api/settings/Comfy.Locale")).json() == "fr"
    stored = json.loads((config.user_dir / "comfyui" / "comfy.settings.json").read_text())
    assert stored["Comfy.Locale"] == "fr"
    bad = await client.post("/api/settings", data="[1, 2")
    assert bad.status == 400 and (await bad.json())["error"] == "bad_request"


async def test_user_files_are_written_listed_read_moved_and_deleted_inside_the_user_folder(client, config):
    saved = await client.post("/api/userdata/workflows%2Fa.json", data=b'{"nodes": []}')
    assert await saved.json() == "workflows/a.json"
    info = await (await client.post("/api/userdata/workflows%2Fsub%2Fb.json?full_info=true", data=b"{}")).json()
    assert info["path"] == "workflows/sub/b.json" and info["size"] == 2 and info["modified"] > 1e12
    exists = await client.post("/api/userdata/workflows%2Fa.json?overwrite=false", data=b"{}")
    assert exists.status == 409
    listed = await (await client.get("/api/userdata?dir=workflows&recurse=true")).json()
    assert listed == ["a.json", "sub/b.json"]
    assert await (await client.get("/userdata?dir=workflows")).json() == ["a.json"]
    split = await (await client.get("/userdata?dir=workflows&recurse=true&split=true")).json()
    assert split == [["a.json", "a.json"], ["sub/b.json", "sub", "b.json"]]
    read = await client.get("/api/userdata/workflows%2Fa.json")
    assert await read.read() == b'{"nodes": []}' and read.headers["Content-Disposition"] == "attachment"
    moved = await client.post("/api/userdata/workflows%2Fa.json/move/workflows%2Fc.json")
    assert await moved.json() == "workflows/c.json"
    assert (config.user_dir / "comfyui" / "workflows" / "c.json").is_file()
    assert (await client.delete("/api/userdata/workflows%2Fc.json")).status == 204
    assert (await client.get("/api/userdata/workflows%2Fc.json")).status == 404
    tree = await (await client.get("/api/v2/userdata?path=workflows")).json()
    assert [(e["name"], e["type"]) for e in tree] == [("sub", "directory"), ("b.json", "file")]
    assert await (await client.get("/api/userdata?dir=not-made-yet")).json() == []


@pytest.mark.parametrize(
    "path",
    ["/api/userdata/..%2Fgraphflow.db", "/api/userdata/%2Fetc%2Fpasswd", "/userdata?dir=..", "/v2/userdata?path=.."],
)
async def test_user_file_names_cannot_leave_the_user_folder(client, path):
    response = await client.get(path)
    assert response.status == 403 and (await response.json())["error"] == "forbidden"


async def test_a_user_file_symlinked_out_of_the_folder_is_refused(client, config, tmp_path):
    folder = config.user_dir / "comfyui"
    folder.mkdir(parents=True, exist_ok=True)
    (tmp_path / "secret.txt").write_text("no")
    (folder / "leak.txt").symlink_to(tmp_path / "secret.txt")
    assert (await client.get("/api/userdata/leak.txt")).status == 403
    assert (await client.post("/api/userdata/leak.txt", data=b"x")).status == 403


async def test_jobs_list_graphflow_prompts_in_comfyuis_job_shape(client):
    done = await submit(client, workflow(steps=1, label="done"))
    failed = await submit(client, failing_workflow())
    await wait_finished(client, done["prompt_id"])
    await wait_finished(client, failed["prompt_id"])
    page = await (await client.get("/api/jobs?status=completed,failed&limit=1&offset=0")).json()
    assert page["pagination"] == {"offset": 0, "limit": 1, "total": 2, "has_more": True}
    [newest] = page["jobs"]
    assert newest["id"] == failed["prompt_id"] and newest["status"] == "failed"
    assert newest["execution_error"]["node_id"] == "bad" and "boom 7" in newest["execution_error"]["exception_message"]
    detail = await (await client.get(f"/jobs/{done['prompt_id']}")).json()
    assert detail["status"] == "completed" and detail["outputs_count"] == 1
    assert detail["preview_output"]["nodeId"] == "slow" and detail["preview_output"]["mediaType"] == "images"
    assert detail["outputs"]["slow"]["images"][0]["type"] == "output"
    assert detail["execution_status"]["status_str"] == "success"
    assert detail["create_time"] <= detail["execution_start_time"] <= detail["execution_end_time"]
    bad = await client.get("/api/jobs?status=finished")
    assert bad.status == 400 and "unknown job status" in (await bad.json())["message"]
    assert (await client.get("/api/jobs/nope")).status == 404


async def test_a_pending_job_is_cancelled_and_a_running_one_interrupted(client, gate):
    held = await submit(client, workflow(hold=True, steps=3))
    waiting = await submit(client, workflow(steps=1))
    cancelled = await (await client.post("/api/jobs/cancel", json={"job_ids": [waiting["prompt_id"]]})).json()
    assert cancelled == {"jobs": [{"id": waiting["prompt_id"], "status": "cancelled"}]}
    while (await (await client.get(f"/api/prompt/{held['prompt_id']}")).json())["status"] != "running":
        await asyncio.sleep(0.02)
    assert (await client.post(f"/jobs/{held['prompt_id']}/cancel")).ok
    assert (await wait_finished(client, held["prompt_id"]))["status"] == "interrupted"
    listed = await (await client.get("/jobs?status=cancelled")).json()
    assert [j["id"] for j in listed["jobs"]] == [waiting["prompt_id"]]


async def test_free_accepts_comfyuis_flags_and_refuses_others(client):
    assert (await client.post("/api/free", json={"unload_models": True, "free_memory": True})).status == 200
    assert (await client.post("/free")).status == 200
    bad = await client.post("/free", json={"unload_models": "yes"})
    assert bad.status == 400 and (await bad.json())["error"] == "bad_request"


async def test_view_metadata_reads_a_safetensors_header_and_refuses_other_files(client, config):
    folder = config.settings.models_dir / "loras"
    folder.mkdir(parents=True)
    header = json.dumps({"__metadata__": {"ss_network_dim": "4"}}).encode()
    (folder / "mine.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)
    metadata = await client.get("/api/view_metadata/loras?filename=mine.safetensors")
    assert await metadata.json() == {"ss_network_dim": "4"}
    assert (await client.get("/view_metadata/checkpoints?filename=builtin:shapes-demo")).status == 404
    assert (await client.get("/view_metadata/loras?filename=../x.safetensors")).status == 403
    assert (await client.get("/view_metadata/nope?filename=x")).status == 404


async def test_a_comfyui_prompt_reaches_comfyuis_handler_under_api_and_a_graphflow_one_graphflows(client):
    comfy = await client.post("/api/prompt", json={"prompt": {"1": {"class_type": "NoSuch", "inputs": {}}}})
    assert comfy.status == 400 and (await comfy.json())["error"]["type"] == "invalid_prompt"
    own = await client.post("/api/prompt", json={"workflow": workflow(steps=1)})
    assert own.status == 200 and "position" in await own.json()
    broken = await client.post("/api/prompt", data="{not json")
    assert broken.status == 400 and (await broken.json())["error"] == "bad_request"


async def test_the_websocket_under_api_speaks_comfyui_to_a_clientid_and_graphflow_otherwise(client):
    comfy = await client.ws_connect("/api/ws?clientId=c1")
    assert json.loads((await comfy.receive()).data)["data"]["sid"] == "c1"
    await comfy.send_json({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
    flags = json.loads((await comfy.receive()).data)
    assert flags == {"type": "feature_flags", "data": {"supports_preview_metadata": False, "max_upload_size": 52428800}}
    own = await client.ws_connect("/api/ws?client_id=g1")
    assert json.loads((await own.receive()).data)["type"] == "state"
    await comfy.close()
    await own.close()


async def test_comfyui_clients_see_each_nodes_progress_state(client):
    ws = await client.ws_connect("/ws?clientId=me")
    body = await submit(client, workflow(steps=2), client_id="me")
    events = await events_until(ws, "execution_success", body["prompt_id"])
    states = [e["nodes"]["slow"] for e in events if e["type"] == "progress_state"]
    assert [(s["state"], s["value"], s["max"]) for s in states] == [
        ("running", 0, 1),
        ("running", 1, 2),
        ("running", 2, 2),
        ("finished", 2, 2),
    ]
    await ws.close()


async def test_clashing_reads_under_api_follow_the_active_frontend(aiohttp_client, config):
    own = await aiohttp_client(create_app(config))
    assert (await (await own.get("/api/queue")).json()).keys() == {"running", "running_all", "pending"}
    assert (await (await own.get("/api/models")).json()).keys() == {"kinds"}
    assert (await (await own.get("/queue")).json()).keys() == {"queue_running", "queue_pending"}
    comfy = await aiohttp_client(create_app(replace(config, frontend="comfyui", comfyui_dir=config.web_dir)))
    assert (await (await comfy.get("/api/queue")).json()).keys() == {"queue_running", "queue_pending"}
    assert "checkpoints" in await (await comfy.get("/api/models")).json()
    assert (await comfy.get("/api/models/checkpoints")).ok and (await comfy.get("/api/history")).ok
    assert (await (await comfy.get("/api/nodes")).json()).keys() == {"nodes", "problems"}  # graphflow's own stays


async def test_uploads_under_api_answer_both_apis_and_a_mask_with_original_ref_is_painted(client, config):
    from tests.server.test_files_api import form, png

    saved = await (await client.post("/api/upload/image", data=form(png()))).json()
    assert saved["name"] == saved["filename"] == "cat.png"
    painted = form(png(), filename="mask.png")
    painted.add_field("original_ref", json.dumps({"filename": "cat.png", "type": "input"}))
    answer = await (await client.post("/api/upload/mask", data=painted)).json()
    assert answer["name"] == "mask.png" and (config.settings.input_dir / "mask.png").is_file()
    refused = await client.post("/upload/mask", data=form(png(), filename="m.png"))
    assert refused.status == 400 and "original_ref" in (await refused.json())["message"]


async def test_the_new_routes_keep_the_token_and_origin_checks(aiohttp_client, config):
    client = await aiohttp_client(create_app(replace(config, token="secret")))
    for path in ("/api/settings", "/userdata?dir=workflows", "/api/jobs", "/internal/folder_paths", "/api/features"):
        assert (await client.get(path)).status == 401, path
    allowed = await client.get("/api/settings", headers={"Authorization": "Bearer secret"})
    assert allowed.status == 200
    foreign = await client.post(
        "/api/userdata/x.json", data=b"{}", headers={"Authorization": "Bearer secret", "Origin": "http://evil.example"}
    )
    assert foreign.status == 403


async def test_the_comfyui_frontend_is_served_at_the_root_with_its_own_files(aiohttp_client, config):
    pytest.importorskip("comfyui_frontend_package", reason="needs `pip install comfyui-frontend-package`")
    client = await aiohttp_client(create_app(replace(config, frontend="comfyui")))
    page = await (await client.get("/")).text()
    assert "<title>ComfyUI</title>" in page
    assert (await client.get("/materialdesignicons.min.css")).ok
    assert (await client.get("/user.css")).headers["Content-Type"].startswith("text/css")
    assert await (await client.get("/templates/index.json")).json() == []
    assert await (await client.get("/templates/index_logo.json")).json() == {}
    assert (await client.get("/templates/other.json")).status == 404


def test_asking_for_the_comfyui_frontend_without_its_package_fails_with_one_line(tmp_path: Path):
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "comfyui_frontend_package.py").write_text("raise ImportError('not installed')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shadow), os.getcwd()])}
    done = subprocess.run(
        [sys.executable, "-m", "graphflow.server", "--frontend", "comfyui", "--port", "0", "--user-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "graphflow: error: --frontend comfyui needs ComfyUI's frontend package; install it: "
        "pip install 'graphflow[comfyui]' (or: pip install comfyui-frontend-package)"
    ]
    with pytest.raises(ValueError, match="unknown frontend"):
        ServerConfig(frontend="other")


async def test_bad_bodies_on_the_new_routes_are_clear_json_errors(client):
    for path in ("/api/jobs/cancel", "/settings", "/settings/x", "/api/free"):
        response = await client.post(path, data="nope", headers={"Content-Type": "application/json"})
        assert response.status == 400 and (await response.json())["error"] == "bad_request", path
    assert (await client.get("/api/jobs?limit=many")).status == 400
    assert (await client.get("/api/jobs?sort_by=name")).status == 400
    assert (await client.get("/api/userdata")).status == 400
    assert (await client.get("/internal/files/elsewhere")).status == 400
