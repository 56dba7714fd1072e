"""ComfyUI's HTTP API and websocket protocol on graphflow's server, in one place: `setup_comfy(app)`.

Requests and answers have ComfyUI's shapes (see docs/comfyui-compatibility.md) and go through the same
queue, store, dispatcher, file store and security middleware as graphflow's own API.
"""

from __future__ import annotations

from aiohttp import web


def setup_comfy(app: web.Application) -> None:
    """Add ComfyUI's routes (`/prompt`, `/queue`, `/history`, `/view`, uploads, `/object_info`, `/ws`, ...)."""
    from graphflow.server.comfy import routes, websocket

    app.add_routes(routes.routes)
    app.add_routes(websocket.routes)
