"""ComfyUI's own web frontend (PyPI `comfyui-frontend-package`): where its files are, and the few it fetches that
are not API routes (`/user.css`, the core template index)."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from aiohttp import web

from graphflow.server.errors import ApiError
from graphflow.server.keys import CONFIG
from graphflow.server.paths import PathEscape, confine

INSTALL_HINT = "pip install 'graphflow[comfyui]' (or: pip install comfyui-frontend-package)"
routes = web.RouteTableDef()


class FrontendMissing(RuntimeError):
    """ComfyUI's frontend package is not installed (or has no static files)."""


def comfyui_frontend_folder() -> Path:
    """The installed frontend's static folder (the one ComfyUI itself serves), or FrontendMissing."""
    try:
        import comfyui_frontend_package
    except ImportError:
        raise FrontendMissing(
            f"--frontend comfyui needs ComfyUI's frontend package; install it: {INSTALL_HINT}"
        ) from None
    folder = Path(str(importlib.resources.files(comfyui_frontend_package) / "static"))
    if not (folder / "index.html").is_file():
        raise FrontendMissing(
            f"ComfyUI's frontend package has no static/index.html in {folder}; reinstall: {INSTALL_HINT}"
        )
    return folder


def comfyui_frontend_version() -> str | None:
    """The installed frontend package's version, or None."""
    try:
        import comfyui_frontend_package
    except ImportError:
        return None
    return str(getattr(comfyui_frontend_package, "__version__", None) or "") or None


@routes.get("/user.css")
async def user_css(request: web.Request) -> web.StreamResponse:
    """The user's stylesheet from ComfyUI's user folder; empty when there is none."""
    try:
        path = confine(request.app[CONFIG].comfy_user_dir, "user.css")
    except PathEscape:
        path = None
    if path is not None and path.is_file():
        return web.FileResponse(path, headers={"Content-Type": "text/css", "Cache-Control": "no-cache"})
    return web.Response(text="", content_type="text/css", headers={"Cache-Control": "no-cache"})


@routes.get("/templates/{name}")
async def templates(request: web.Request) -> web.Response:
    """ComfyUI's core template indexes (from its separate templates package, not shipped here): empty."""
    name = request.match_info["name"]
    if name == "index_logo.json":
        return web.json_response({})
    if name.startswith("index") and name.endswith(".json"):
        return web.json_response([])
    raise ApiError("not_found", f"no template {name!r}: ComfyUI's workflow templates are not installed")
