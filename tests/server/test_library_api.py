"""Node catalogue, workflow files, model lists, system info and the editor's static files."""

from __future__ import annotations

import json
from dataclasses import replace

from graphflow.models.builtin import builtin_models
from graphflow.server import create_app
from tests.server.helpers import workflow


async def test_node_catalogue_lists_schemas_with_their_plugin(client):
    body = await (await client.get("/api/nodes")).json()
    slow = next(n for n in body["nodes"] if n["type"] == "test.slow")
    assert slow["plugin"] == "local:servertest" and slow["output_node"] is True
    assert {i["name"] for i in slow["inputs"]} == {"steps", "delay", "label", "hold", "seed", "log"}
    assert any(n["type"] == "graphflow.primitive.int" for n in body["nodes"])
    assert body["problems"] == []


async def test_plugin_problems_are_reported_with_the_catalogue(aiohttp_client, config, plugin_dir):
    plugin_dir("broken", "raise ImportError('missing dependency xyz')")
    body = await (await (await aiohttp_client(create_app(config))).get("/api/nodes")).json()
    assert any(p["plugin"] == "local:broken" and "xyz" in p["message"] for p in body["problems"])


async def test_workflows_are_listed_loaded_saved_and_deleted(client, config):
    config.examples_dir.mkdir()
    (config.examples_dir / "example.json").write_text(json.dumps(workflow(steps=4)))
    saved = await client.put("/api/workflows/user/mine/first.json", json=workflow(steps=9))
    assert (await saved.json()) == {"source": "user", "name": "mine/first.json"}
    listing = (await (await client.get("/api/workflows")).json())["workflows"]
    assert [(w["source"], w["name"], w["readonly"]) for w in listing] == [
        ("repo", "example.json", True),
        ("user", "mine/first.json", False),
    ]
    loaded = await (await client.get("/api/workflows/user/mine/first.json")).json()
    assert loaded["nodes"]["slow"]["inputs"] == {"steps": 9}
    repo = await (await client.get("/api/workflows/repo/example.json")).json()
    assert repo["nodes"]["slow"]["inputs"] == {"steps": 4}
    conflict = await client.put("/api/workflows/user/mine/first.json", json=workflow(), params={"overwrite": "false"})
    assert conflict.status == 409
    assert (await (await client.delete("/api/workflows/user/mine/first.json")).json()) == {"deleted": "mine/first.json"}
    assert (await client.get("/api/workflows/user/mine/first.json")).status == 404


async def test_the_repo_folder_is_read_only_and_bad_workflows_are_refused(client, config):
    config.examples_dir.mkdir()
    (config.examples_dir / "broken.json").write_text("{nope")
    put = await client.put("/api/workflows/repo/new.json", json=workflow())
    assert put.status == 403 and (await put.json())["error"] == "read_only"
    assert (await client.delete("/api/workflows/repo/broken.json")).status == 403
    assert (await client.get("/api/workflows/repo/broken.json")).status == 422
    assert (await client.put("/api/workflows/user/x.json", json={"nodes": 3})).status == 422
    assert (await client.put("/api/workflows/user/x.txt", json=workflow())).status == 400
    assert (await client.get("/api/workflows/cloud/x.json")).status == 404


async def test_model_lists_come_per_folder(client, config):
    (config.settings.models_dir / "checkpoints" / "sub").mkdir(parents=True)
    (config.settings.models_dir / "checkpoints" / "a.safetensors").write_bytes(b"x")
    (config.settings.models_dir / "checkpoints" / "sub" / "b.safetensors").write_bytes(b"x")
    (config.settings.models_dir / "checkpoints" / "notes.txt").write_text("x")
    kinds = (await (await client.get("/api/models")).json())["kinds"]
    assert "checkpoints" in kinds and "vae" in kinds
    files = await (await client.get("/api/models/checkpoints")).json()
    shipped = list(builtin_models("checkpoints"))
    assert files["files"] == [*shipped, "a.safetensors", "sub/b.safetensors"]
    assert files["native_sizes"] == dict.fromkeys(shipped, 64)  # not for files that are not checkpoints
    assert (await (await client.get("/api/models/vae")).json())["files"] == []
    assert (await client.get("/api/models/weights")).status == 404


async def test_system_info_names_versions_device_and_memory(client):
    info = await (await client.get("/api/system")).json()
    assert info["python"].count(".") == 2 and info["torch"]
    assert info["device"]["type"] in ("cpu", "cuda", "mps")
    assert info["memory"]["total"] >= info["memory"]["available"] > 0 and info["uptime"] >= 0


async def test_the_editor_is_served_from_the_web_folder(aiohttp_client, config, tmp_path):
    web = tmp_path / "site"
    (web / "js").mkdir(parents=True)
    (web / "index.html").write_text("<title>editor</title>")
    (web / "js" / "app.js").write_text("console.log(1)")
    site = await aiohttp_client(create_app(replace(config, web_dir=web)))
    assert "editor" in await (await site.get("/")).text()
    assert await (await site.get("/js/app.js")).text() == "console.log(1)"
    assert (await site.get("/js/none.js")).status == 404


async def test_a_missing_editor_gives_a_page_that_says_so(client):
    response = await client.get("/")
    assert response.status == 200 and "editor files were not found" in await response.text()
