"""ComfyUI's routes at `/` and at `/api/` beside graphflow's own, and the rule that picks one where both share a path.

ComfyUI serves every route at both `/X` and `/api/X`; graphflow's own API lives under `/api/`. Where a method
and path belong to both (after `/api/`), one handler answers and chooses per request:

- the request says which API it speaks: `POST /api/prompt` with a `prompt` object is ComfyUI's (graphflow's
  sends `workflow`); `GET /api/ws` with `clientId` is ComfyUI's websocket (graphflow's takes `client_id`);
- graphflow's handler already answers both: `/api/view`, `/api/interrupt`, `/api/upload/image` and
  `/api/upload/mask` (its answers carry ComfyUI's `name`; a mask with `original_ref` is painted as ComfyUI does);
- otherwise the two answers differ in shape and nothing in the request tells them apart (`GET /api/queue`,
  `/api/history`, `/api/models`, `/api/models/{folder}`): the active frontend decides, graphflow's editor
  (`--frontend graphflow`, the default) or ComfyUI's (`--frontend comfyui`). At `/X` ComfyUI always answers.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from aiohttp.typedefs import Handler

from graphflow.server.errors import ApiError, read_json
from graphflow.server.keys import CONFIG

Rule = Callable[[web.Request], Awaitable[bool]]
API = "/api"


async def comfy_prompt_body(request: web.Request) -> bool:
    """Whether a prompt submission is ComfyUI's: a JSON object with `prompt` and no `workflow`."""
    try:
        body = await read_json(request)
    except ApiError:
        return False  # graphflow's handler answers with its clear JSON error
    return isinstance(body, dict) and "prompt" in body and "workflow" not in body


async def comfy_websocket_query(request: web.Request) -> bool:
    """Whether a websocket request is ComfyUI's: it names its client `clientId`."""
    return "clientId" in request.query


async def graphflow_answers_both(request: web.Request) -> bool:
    """graphflow's handler answers ComfyUI's clients too."""
    return False


async def comfyui_frontend_active(request: web.Request) -> bool:
    """Whether the server runs ComfyUI's frontend (`--frontend comfyui`)."""
    return request.app[CONFIG].frontend == "comfyui"


RULES: dict[tuple[str, str], Rule] = {
    ("POST", "/api/prompt"): comfy_prompt_body,
    ("GET", "/api/ws"): comfy_websocket_query,
    ("GET", "/api/view"): graphflow_answers_both,
    ("POST", "/api/interrupt"): graphflow_answers_both,
    ("POST", "/api/upload/image"): graphflow_answers_both,
    ("POST", "/api/upload/mask"): graphflow_answers_both,
}


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def _either(own: Handler, comfy: Handler, rule: Rule) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await (comfy if await rule(request) else own)(request)

    return handler


def _add(app: web.Application, route: web.RouteDef, path: str, handler: Handler | None = None) -> None:
    web.RouteDef(route.method, path, handler or route.handler, route.kwargs).register(app.router)


def mount(app: web.Application, own: Iterable[web.RouteDef], comfy: Iterable[web.RouteDef]) -> None:
    """Add graphflow's routes and ComfyUI's (each at `/X` and `/api/X`), one handler per shared method and path."""
    own_routes = {(r.method, _shape(r.path)): r for r in own}
    for route in comfy:
        _add(app, route, route.path)
        if route.path.startswith(API + "/"):  # a graphflow route about ComfyUI (e.g. /api/import/comfy)
            continue
        key = (route.method, _shape(API + route.path))
        shared = own_routes.pop(key, None)
        if shared is None:
            _add(app, route, API + route.path)
        else:
            if shared.path != API + route.path:  # both handlers read the same match_info names
                raise RuntimeError(f"{shared.path} and {route.path} must name their placeholders alike")
            rule = RULES.get(key, comfyui_frontend_active)
            _add(app, shared, shared.path, _either(shared.handler, route.handler, rule))
    for route in own_routes.values():
        _add(app, route, route.path)
