"""ComfyUI's HTTP API and websocket protocol on graphflow's server, in one place: `setup_comfy(app, own_routes)`.

Requests and answers have ComfyUI's shapes (see docs/comfyui-compatibility.md) and go through the same
queue, store, dispatcher, file store and security middleware as graphflow's own API. Each route is served
at `/X` and `/api/X`, as ComfyUI does; `mount.py` says who answers where graphflow's own API has the same
method and path. With `--frontend comfyui` the server also answers the few files ComfyUI's frontend asks for
beside its own (`frontend.py`).
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from graphflow.server.keys import CONFIG


def comfy_routes() -> list[web.RouteDef]:
    """Every ComfyUI route, at its path without the `/api` prefix."""
    from graphflow.server.comfy import extensions, internal, jobs, models, routes, system, userdata, users, websocket

    modules = (routes, websocket, models, system, extensions, jobs, users, userdata, internal)
    tables = [module.routes for module in modules]
    return [route for table in tables for route in table if isinstance(route, web.RouteDef)]


def setup_comfy(app: web.Application, own_routes: Iterable[web.RouteDef]) -> None:
    """Add graphflow's own routes and ComfyUI's (at `/` and `/api/`); then, for ComfyUI's frontend, its files."""
    from graphflow.server.comfy import frontend, internal
    from graphflow.server.comfy.mount import mount

    mount(app, own_routes, comfy_routes())
    app.cleanup_ctx.append(internal.keep_logs)
    if app[CONFIG].frontend == "comfyui":
        app.add_routes(frontend.routes)
