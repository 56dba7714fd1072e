"""ComfyUI's server routes: /system_stats, /features (its feature flags) and /free (drop cached models)."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

from aiohttp import web

from graphflow.server.comfy.frontend import comfyui_frontend_version
from graphflow.server.errors import ApiError, optional_json_object
from graphflow.server.keys import CONFIG, DISPATCHER, STARTED
from graphflow.server.routes_library import system_info
from graphflow.server.security import redact_argv

routes = web.RouteTableDef()
log = logging.getLogger("graphflow.server.comfy")


@routes.get("/system_stats")
async def system_stats(request: web.Request) -> web.Response:
    """Versions, memory and device in ComfyUI's shape."""
    info = await asyncio.to_thread(system_info, request.app[STARTED])
    device = info["device"]
    system: dict[str, Any] = {
        "os": sys.platform,
        "ram_total": info["memory"]["total"],
        "ram_free": info["memory"]["available"],
        "comfyui_version": f"graphflow {info['graphflow']}",
        "python_version": sys.version,
        "pytorch_version": info["torch"] or "",
        "embedded_python": False,
        "argv": redact_argv(sys.argv),
    }
    if frontend := comfyui_frontend_version():
        system["comfyui_frontend_version"] = frontend
    return web.json_response(
        {
            "system": system,
            "devices": [
                {
                    "name": device["name"],
                    "type": device["type"],
                    "index": 0,
                    "vram_total": device["memory_total"],
                    "vram_free": device["memory_free"],
                    "torch_vram_total": device["memory_total"],
                    "torch_vram_free": device["memory_free"],
                }
            ],
        }
    )


def feature_flags(request: web.Request) -> dict[str, Any]:
    """The server's feature flags: plain JPEG previews (no metadata frames) and the upload limit."""
    return {"supports_preview_metadata": False, "max_upload_size": request.app[CONFIG].max_upload_bytes}


@routes.get("/features")
async def features(request: web.Request) -> web.Response:
    """ComfyUI's server feature flags."""
    return web.json_response(feature_flags(request))


@routes.post("/free")
async def free(request: web.Request) -> web.Response:
    """{"unload_models": bool, "free_memory": bool}: drop cached models / outputs once the running prompt is done."""
    body = await optional_json_object(request)
    flags = {name: body.get(name, False) for name in ("unload_models", "free_memory")}
    if not all(isinstance(value, bool) for value in flags.values()):
        raise ApiError("bad_request", "'unload_models' and 'free_memory' must be true or false")
    for worker in request.app[DISPATCHER].workers.workers:
        worker.free(flags["unload_models"], flags["free_memory"])
    return web.Response(status=200)
