"""`/api/workers`: each worker's host, device, state, loaded models and current prompt."""

from __future__ import annotations

from aiohttp import web

from graphflow.server.keys import DISPATCHER

routes = web.RouteTableDef()


@routes.get("/api/workers")
async def list_workers(request: web.Request) -> web.Response:
    """The workers and how prompts were routed to them."""
    dispatcher = request.app[DISPATCHER]
    routing = dispatcher.routing
    return web.json_response(
        {
            "workers": dispatcher.workers.describe(),
            "routing": {"affinity_hits": routing.hits, "affinity_misses": routing.misses},
        }
    )
