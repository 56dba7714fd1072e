"""What custom node packs add to ComfyUI's frontend (web extensions, translations, example workflows, subgraph
blueprints): graphflow's plugins add none of these, so each list is empty."""

from __future__ import annotations

from aiohttp import web

from graphflow.server.errors import ApiError

routes = web.RouteTableDef()


@routes.get("/extensions")
async def extensions(request: web.Request) -> web.Response:
    """URLs of web extensions to load: none (the frontend's own core extensions are built into it)."""
    return web.json_response([])


@routes.get("/i18n")
async def i18n(request: web.Request) -> web.Response:
    """Custom nodes' translations: none."""
    return web.json_response({})


@routes.get("/workflow_templates")
async def workflow_templates(request: web.Request) -> web.Response:
    """Custom nodes' example workflows by node pack: none."""
    return web.json_response({})


@routes.get("/global_subgraphs")
async def global_subgraphs(request: web.Request) -> web.Response:
    """Subgraph blueprints shipped by node packs: none."""
    return web.json_response({})


@routes.get("/global_subgraphs/{id}")
async def global_subgraph(request: web.Request) -> web.Response:
    """One subgraph blueprint: there are none."""
    raise ApiError("not_found", f"no subgraph blueprint {request.match_info['id']!r}; graphflow ships none")
