"""Path traversal on every file route, tokens off loopback (strong, never shown), foreign origins and hosts."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from graphflow.server import create_app
from graphflow.server.paths import PathEscape, confine
from graphflow.server.security import UnsafeBinding, check_binding, generate_token, redact_argv
from tests.server.helpers import workflow

SECRET = "TOP-SECRET-4711"
# Names as a client could send them; raw ones go into the URL exactly as written.
NAMES = [
    "../secret.txt",
    "../../secret.txt",
    "..",
    "sub/../../secret.txt",
    "/etc/passwd",
    "..\\secret.txt",
    "..%2fsecret.txt",
    "%2e%2e%2fsecret.txt",
    "%252e%252e%252fsecret.txt",
    "....//secret.txt",
    "leak.txt",
    "link/secret.txt",
    "a\x00b",
    "C:\\secret.txt",
    "//secret.txt",
    "./../secret.txt",
]
RAW_PATHS = [
    "..%2fsecret.txt",
    "%2e%2e%2fsecret.txt",
    "%2e%2e/%2e%2e/secret.txt",
    "..%5csecret.txt",
    "%252e%252e%252fsecret.txt",
    "..%2f..%2fsecret.txt",
    "link%2fsecret.txt",
    "leak.json",
    "%2fetc%2fpasswd",
]


@pytest.fixture
def planted(config, tmp_path: Path) -> Path:
    """A secret outside every root and symlinks inside the roots that point at it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    (outside / "secret.json").write_text(json.dumps({**workflow(), "meta": {"s": SECRET}}))
    (tmp_path / "secret.txt").write_text(SECRET)
    for root in (
        config.settings.output_dir,
        config.settings.input_dir,
        config.settings.temp_dir,
        config.user_workflows_dir,
        config.settings.models_dir / "checkpoints",
        config.web_dir,
    ):
        root.mkdir(parents=True, exist_ok=True)
        os.symlink(outside, root / "link")
        os.symlink(outside / "secret.txt", root / "leak.txt")
        os.symlink(outside / "secret.json", root / "leak.json")
        os.symlink(outside / "secret.txt", root / "leak.safetensors")
    return outside


def files_outside(tmp_path: Path, config) -> set[Path]:
    """Every file under tmp_path that is not inside one of the server's roots."""
    roots = [
        config.settings.output_dir,
        config.settings.input_dir,
        config.user_dir,
        config.settings.models_dir,
        config.web_dir,
    ]
    return {
        p
        for p in tmp_path.rglob("*")
        if not p.is_symlink() and p.is_file() and not any(p.is_relative_to(r) for r in roots)
    }


def refused(status: int, body: bytes) -> bool:
    """A refusal that leaks nothing."""
    return status in (400, 403, 404, 415, 422) and SECRET.encode() not in body


async def test_view_never_serves_anything_outside_its_folder(client, planted):
    for kind in ("output", "input", "temp"):
        for name in NAMES:
            for params in ({"filename": name}, {"filename": "secret.txt", "subfolder": name}):
                response = await client.get("/api/view", params={**params, "type": kind})
                assert refused(response.status, await response.read()), (kind, params, response.status)
        for raw in RAW_PATHS:
            response = await client.get(URL(f"/api/view?type={kind}&filename={raw}", encoded=True))
            assert refused(response.status, await response.read()), (kind, raw)


async def test_uploads_never_write_outside_the_input_folder(client, config, planted, tmp_path):
    before = files_outside(tmp_path, config)
    from tests.server.test_files_api import form, png

    for name in NAMES:
        for fields in ({"filename": name}, {"filename": "ok.png", "subfolder": name}):
            if "\x00" in fields["filename"]:
                continue  # the client itself refuses NUL in a header
            response = await client.post("/api/upload/image", data=form(png(), **fields))
            body = await response.read()
            assert response.status in (200, 400, 403), (fields, response.status, body)
            if response.status == 200:
                answer = json.loads(body)
                assert (
                    (config.settings.input_dir / answer["subfolder"] / answer["filename"])
                    .resolve()
                    .is_relative_to(config.settings.input_dir.resolve())
                )
    overwrite = await client.post("/api/upload/image", data=form(png(), filename="leak.txt", overwrite="true"))
    assert overwrite.status == 403
    assert files_outside(tmp_path, config) == before
    assert (planted / "secret.txt").read_text() == SECRET


async def test_workflow_routes_never_read_or_write_outside_their_folders(client, config, planted, tmp_path):
    before = files_outside(tmp_path, config)
    for source in ("user", "repo"):
        for raw in [*RAW_PATHS, "..%2fsecret.json", "link%2fsecret.json", "link/secret.json", "leak.json"]:
            url = URL(f"/api/workflows/{source}/{raw}", encoded=True)
            for method in ("GET", "PUT", "DELETE"):
                response = await client.request(method, url, json=workflow())
                assert refused(response.status, await response.read()), (method, raw, response.status)
    listing = await (await client.get("/api/workflows")).json()
    assert all("leak" not in w["name"] and "link" not in w["name"] for w in listing["workflows"])
    assert files_outside(tmp_path, config) == before
    assert (planted / "secret.json").exists()


async def test_model_and_static_routes_stay_inside(client, planted):
    for raw in [*RAW_PATHS, "..", "%2e%2e", "checkpoints%2f..%2f.."]:
        response = await client.get(URL(f"/api/models/{raw}", encoded=True))
        assert refused(response.status, await response.read()), raw
        response = await client.get(URL(f"/{raw}", encoded=True))
        body = await response.read()  # '/..' is normalised to '/', the editor page
        assert SECRET.encode() not in body and (response.status != 200 or b"<h1>graphflow" in body), raw
    files = (await (await client.get("/api/models/checkpoints")).json())["files"]
    # links inside the models folder are its owner's and are followed (unlike input/output); no route serves them
    assert "leak.safetensors" in files


def test_confine_refuses_each_escape_and_allows_inside_names(tmp_path: Path):
    (tmp_path / "root" / "inner").mkdir(parents=True)
    os.symlink(tmp_path, tmp_path / "root" / "up")
    os.symlink(tmp_path / "root" / "inner", tmp_path / "root" / "alias")
    root = tmp_path / "root"
    for parts in (
        ("..",),
        ("a/../../b",),
        ("/etc",),
        ("x\\y",),
        ("up",),
        ("up/x",),
        ("inner", "../.."),
        ("C:x",),
        ("a\x00",),
    ):
        with pytest.raises(PathEscape):
            confine(root, *parts)
    assert confine(root, "alias", "f.png") == (root / "inner" / "f.png").resolve()
    assert confine(root, "", "f.png") == (root / "f.png").resolve()


async def test_with_a_token_every_request_needs_it(aiohttp_client, config):
    secured = await aiohttp_client(create_app(replace(config, token="s3cret")))
    assert (await secured.get("/api/queue")).status == 401
    assert (await secured.get("/")).status == 401
    assert (await secured.get("/api/queue", headers={"Authorization": "Bearer wrong"})).status == 401
    assert (await secured.get("/api/queue", headers={"Authorization": "Bearer s3cret"})).status == 200
    with_query = await secured.get("/api/queue", params={"token": "s3cret"})
    assert with_query.status == 200 and with_query.cookies["graphflow_token"].value == "s3cret"
    assert (await secured.get("/api/system")).status == 200  # the cookie now carries it
    secured.session.cookie_jar.clear()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refusal:
        await secured.ws_connect("/api/ws")
    assert refusal.value.status == 401
    async with secured.ws_connect("/api/ws", params={"token": "s3cret"}) as ws:
        assert json.loads((await ws.receive()).data)["type"] == "state"


async def test_foreign_origins_and_hosts_are_refused(client):
    evil = {"Origin": "http://evil.example"}
    assert (await client.get("/api/queue", headers=evil)).status == 403
    response = await client.post("/api/prompt", json={"workflow": workflow()}, headers=evil)
    assert response.status == 403 and (await response.json())["error"] == "forbidden"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refusal:
        await client.ws_connect("/api/ws", headers=evil)
    assert refusal.value.status == 403
    own = f"http://{client.host}:{client.port}"
    assert (await client.get("/api/queue", headers={"Origin": own})).status == 200
    assert (await client.get("/api/queue", headers={"Origin": "null"})).status == 403
    rebound = {"Host": f"evil.example:{client.port}", "Origin": f"http://evil.example:{client.port}"}
    assert (await client.get("/api/queue", headers=rebound)).status == 403
    for broken in ({"Origin": "http://["}, {"Host": "["}):  # not URLs at all: refused like any stranger
        response = await client.get("/api/queue", headers=broken)
        assert response.status == 403 and (await response.json())["error"] == "forbidden"
    assert (await (await client.get("/api/history")).json())["total"] == 0


def test_listening_off_loopback_needs_a_token_of_16_characters_and_a_blank_one_is_refused_anywhere():
    for host, token, refusal in (
        ("0.0.0.0", None, "without a token"),
        ("0.0.0.0", "x", "shorter than 16 characters"),
        ("192.168.1.20", "fifteen-chars-x", "shorter than 16 characters"),
        ("0.0.0.0", "", "blank"),
        ("::", " \t ", "blank"),
        ("127.0.0.1", "   ", "blank"),
    ):
        with pytest.raises(UnsafeBinding, match=refusal) as refused:
            check_binding(host, token)
        assert "--generate-token" in str(refused.value)
    check_binding("0.0.0.0", "sixteen-chars-xx")
    check_binding("::1", None)
    check_binding("localhost", "short")  # loopback: any non-blank token, or none


def test_the_token_is_never_shown_in_a_command_line():
    argv = [
        "graphflow",
        "serve",
        "--host",
        "0.0.0.0",
        "--token",
        "T1",
        "--token=T2",
        "--tok",
        "T3",
        "--t=T4",
        "--port",
        "1",
    ]
    assert redact_argv(argv) == [
        "graphflow",
        "serve",
        "--host",
        "0.0.0.0",
        "--token",
        "***",
        "--token=***",
        "--tok",
        "***",
        "--t=***",
        "--port",
        "1",
    ]
    assert redact_argv(["graphflow", "serve", "--token"]) == ["graphflow", "serve", "--token"]


async def test_system_stats_shows_the_command_line_without_the_token(aiohttp_client, config, monkeypatch):
    token = generate_token()
    monkeypatch.setattr(sys, "argv", ["graphflow", "serve", "--host", "0.0.0.0", "--token", token, f"--tok={token}"])
    monkeypatch.setenv("GRAPHFLOW_TOKEN", token)
    secured = await aiohttp_client(create_app(replace(config, host="0.0.0.0", token=token)))
    auth = {"Authorization": f"Bearer {token}"}
    stats = await secured.get("/system_stats", headers=auth)
    assert stats.status == 200
    assert (await stats.json())["system"]["argv"][-3:] == ["--token", "***", "--tok=***"]
    for path in ("/system_stats", "/api/system_stats", "/api/system"):
        body = await (await secured.get(path, headers=auth)).text()
        assert token not in body, path
