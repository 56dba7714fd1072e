"""The websocket: run events out, `watch` / `get_state` in."""

from __future__ import annotations

import uuid

from aiohttp import WSMsgType, web

from graphflow.server.errors import ApiError, parse_json
from graphflow.server.events import EventHub, Subscriber, Watch
from graphflow.server.keys import HUB

routes = web.RouteTableDef()
SCOPES: dict[str, Watch] = {"all": "all", "mine": "mine"}


def _handle(hub: EventHub, client: Subscriber, text: str) -> None:
    try:
        message = parse_json(text, "the message")
    except ApiError as exc:
        hub.send_error(client, exc.message)
        return
    if not isinstance(message, dict) or "type" not in message or not isinstance(message.get("data") or {}, dict):
        hub.send_error(client, "messages must be JSON objects with a 'type' (and a 'data' object, if any)")
        return
    kind, data = message.get("type"), message.get("data") or {}
    if kind == "get_state":
        hub.send_state(client)
    elif kind == "watch":
        scope = SCOPES.get(str(data.get("scope")))
        if scope is None:
            hub.send_error(client, f"watch scope must be one of: {', '.join(SCOPES)}")
            return
        client.watch = scope
        hub.send_state(client)
    else:
        hub.send_error(client, f"unknown message type {kind!r} (known: watch, get_state)")


@routes.get("/api/ws")
async def websocket(request: web.Request) -> web.WebSocketResponse:
    """Open an event stream; the first message is the current state."""
    scope = SCOPES.get(request.query.get("watch", "all"))
    if scope is None:
        raise ApiError("bad_request", f"watch must be one of: {', '.join(SCOPES)}")
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    hub = request.app[HUB]
    client = hub.attach(Subscriber(ws, request.query.get("client_id") or uuid.uuid4().hex, scope))
    try:
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                _handle(hub, client, message.data)
    finally:
        await hub.detach(client)
    return ws
