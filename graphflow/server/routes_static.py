"""The page at `/` and its files: graphflow's editor (`web/`) or ComfyUI's frontend, or a note that it is missing."""

from __future__ import annotations

from aiohttp import web

from graphflow.server.errors import ApiError
from graphflow.server.files import confined
from graphflow.server.keys import CONFIG

routes = web.RouteTableDef()

MISSING_PAGE = """<!doctype html><meta charset="utf-8"><title>graphflow</title>
<h1>graphflow server is running</h1>
<p>The editor files were not found in <code>{folder}</code>, so there is no editor to show.
The API is available under <code>/api</code> (see docs/api.md).</p>"""


@routes.get("/")
async def index(request: web.Request) -> web.StreamResponse:
    """The editor page."""
    folder = request.app[CONFIG].static_dir
    page = folder / "index.html"
    if not page.is_file():
        return web.Response(text=MISSING_PAGE.format(folder=folder), content_type="text/html", status=200)
    return web.FileResponse(page, headers={"Cache-Control": "no-cache"})


@routes.get("/{path:(?!api/).+}")
async def static(request: web.Request) -> web.StreamResponse:
    """Any other editor file."""
    folder = request.app[CONFIG].static_dir
    path = confined(folder, request.match_info["path"])
    if not path.is_file():
        raise ApiError("not_found", f"no file {request.match_info['path']!r} in the editor")
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})
