"""ComfyUI's user and settings routes: one user ("default") whose settings live in ComfyUI's user folder."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from graphflow.server.errors import ApiError, json_object, read_json
from graphflow.server.keys import CONFIG

routes = web.RouteTableDef()
SETTINGS_FILE = "comfy.settings.json"


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` by `data` in one step (a temporary file beside it, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _settings_path(request: web.Request) -> Path:
    return request.app[CONFIG].comfy_user_dir / SETTINGS_FILE


def load_settings(request: web.Request) -> dict[str, Any]:
    """The stored settings ({} when none, or when the file is not a JSON object)."""
    path = _settings_path(request)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _save(request: web.Request, settings: dict[str, Any]) -> None:
    write_atomically(_settings_path(request), json.dumps(settings, indent=4).encode())


@routes.get("/users")
async def users(request: web.Request) -> web.Response:
    """One server-side user: {"storage": "server", "migrated": whether its folder exists}."""
    return web.json_response({"storage": "server", "migrated": request.app[CONFIG].comfy_user_dir.is_dir()})


@routes.post("/users")
async def add_user(request: web.Request) -> web.Response:
    """Refused: graphflow serves one user (ComfyUI's --multi-user has no counterpart)."""
    raise ApiError("bad_request", "graphflow serves a single user; there are no user profiles to create")


@routes.get("/settings")
async def get_settings(request: web.Request) -> web.Response:
    """Every stored setting."""
    return web.json_response(load_settings(request))


@routes.get("/settings/{id}")
async def get_setting(request: web.Request) -> web.Response:
    """One setting's value, or null."""
    return web.json_response(load_settings(request).get(request.match_info["id"]))


@routes.post("/settings")
async def post_settings(request: web.Request) -> web.Response:
    """Merge a JSON object of settings into the stored ones."""
    update = json_object(await read_json(request))
    _save(request, {**load_settings(request), **update})
    return web.Response(status=200)


@routes.post("/settings/{id}")
async def post_setting(request: web.Request) -> web.Response:
    """Store one setting (the body is its JSON value)."""
    value = await read_json(request)
    settings = load_settings(request)
    settings[request.match_info["id"]] = value
    _save(request, settings)
    return web.Response(status=200)
