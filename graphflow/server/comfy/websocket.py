"""ComfyUI's websocket (/ws?clientId=): a subscriber of graphflow's event hub that speaks ComfyUI.

Each graphflow event becomes the messages ComfyUI sends (status, execution_start, execution_cached,
executing, progress, executed, execution_success/error/interrupted) and each preview ComfyUI's
8-byte-header frame. Execution events go only to the client that queued the prompt (watch "mine"),
as in ComfyUI.
"""

from __future__ import annotations

import json
import struct
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from graphflow.interop.comfy_api import owner_of
from graphflow.server.comfy.records import comfy_origin
from graphflow.server.comfy.system import feature_flags
from graphflow.server.errors import ApiError, parse_json
from graphflow.server.events import Event, Message, Preview, Subscriber
from graphflow.server.keys import HUB, STORE
from graphflow.server.queue_store import QueueStore

routes = web.RouteTableDef()
PREVIEW_IMAGE, JPEG = 1, 1
PREVIEW_METHODS_OFF = ("none", "", None)


@dataclass
class _Run:
    class_types: dict[str, str]
    previews: bool
    executed: list[str] = field(default_factory=list)
    cached_sent: bool = False
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def progress_state(self, prompt_id: str, node: str, state: str, value: float, most: float) -> tuple[str, Any]:
        """ComfyUI's `progress_state` after one node's state changed: every node seen so far in this prompt."""
        self.nodes[node] = {
            "value": value,
            "max": most,
            "state": state,
            "node_id": node,
            "prompt_id": prompt_id,
            "display_node_id": node,
            "parent_node_id": None,
            "real_node_id": node,
        }
        return "progress_state", {"prompt_id": prompt_id, "nodes": {k: dict(v) for k, v in self.nodes.items()}}


def _ms(ts: float) -> int:
    return int(ts * 1000)


class ComfySubscriber(Subscriber):
    """One ComfyUI client: graphflow's events and previews, translated into ComfyUI's messages and frames."""

    def __init__(self, ws: web.WebSocketResponse, client_id: str, store: QueueStore) -> None:
        super().__init__(ws, client_id, "mine")
        self.store = store
        self.runs: dict[str, _Run] = {}

    def encode(self, event: Event) -> list[Message]:
        """The ComfyUI messages for one graphflow event."""
        return [
            json.dumps({"type": kind, "data": data}, default=str)
            for kind, data in self.translate(event.kind, event.data, event.ts)
        ]

    def encode_preview(self, preview: Preview) -> Message | None:
        """ComfyUI's PREVIEW_IMAGE (JPEG) frame, when the prompt asked for previews."""
        run = self.runs.get(preview.header.get("prompt_id", ""))
        if run is None or not run.previews:
            return None
        return struct.pack(">II", PREVIEW_IMAGE, JPEG) + preview.image

    def _status(self, pending: int, running: Any, with_sid: bool) -> tuple[str, dict[str, Any]]:
        data: dict[str, Any] = {"status": {"exec_info": {"queue_remaining": pending + (running is not None)}}}
        if with_sid:
            data["sid"] = self.client_id
        return "status", data

    def _start(self, prompt_id: str) -> _Run:
        record = self.store.get(prompt_id)
        origin = comfy_origin(record) if record else {}
        run = _Run(origin.get("class_types", {}), origin.get("preview_method") not in PREVIEW_METHODS_OFF)
        self.runs = {prompt_id: run}
        return run

    def translate(self, kind: str, data: dict[str, Any], ts: float) -> list[tuple[str, dict[str, Any]]]:
        """The ComfyUI messages for one graphflow event."""
        if kind == "state":
            queue = data["queue"]
            out = [self._status(queue["pending_count"], queue["running"], with_sid=True)]
            running = data.get("running")
            if running and running.get("client_id") == self.client_id and running.get("node_id"):
                node = owner_of(running["node_id"])
                out.append(("executing", {"node": node, "display_node": node, "prompt_id": running["prompt_id"]}))
            return out
        if kind == "queue":
            return [self._status(data["pending_count"], data["running"], with_sid=False)]
        prompt_id = str(data.get("prompt_id"))
        if kind == "run_started":
            self._start(prompt_id)
            return [("execution_start", {"prompt_id": prompt_id, "timestamp": _ms(ts)})]
        run = self.runs.get(prompt_id) or self._start(prompt_id)
        out = []
        if not run.cached_sent:
            run.cached_sent = True
            nodes = sorted({owner_of(n) for n in data["nodes"]}) if kind == "nodes_cached" else []
            out.append(("execution_cached", {"nodes": nodes, "prompt_id": prompt_id, "timestamp": _ms(ts)}))
            if kind == "nodes_cached":
                return out
        return out + self._execution(run, kind, data, ts)

    def _execution(self, run: _Run, kind: str, data: dict[str, Any], ts: float) -> list[tuple[str, dict[str, Any]]]:
        prompt_id = data["prompt_id"]
        node = owner_of(data["node_id"]) if data.get("node_id") else None
        done = ("executing", {"node": None, "display_node": None, "prompt_id": prompt_id})
        if kind == "node_started" and node is not None:
            return [
                ("executing", {"node": node, "display_node": node, "prompt_id": prompt_id}),
                run.progress_state(prompt_id, node, "running", 0, 1),
            ]
        if kind == "progress" and node is not None:
            value, most = data["value"], data["max"]
            return [
                ("progress", {"value": value, "max": most, "prompt_id": prompt_id, "node": node}),
                run.progress_state(prompt_id, node, "running", value, most),
            ]
        if kind == "node_finished" and node is not None:
            run.executed.append(node)
            most = run.nodes.get(node, {}).get("max", 1)
            out = []
            if data.get("outputs"):
                output = {"node": node, "display_node": node, "output": data["outputs"], "prompt_id": prompt_id}
                out.append(("executed", output))
            return [*out, run.progress_state(prompt_id, node, "finished", most, most)]
        if kind == "run_finished":
            return [("execution_success", {"prompt_id": prompt_id, "timestamp": _ms(ts)}), done]
        if kind == "run_interrupted":
            return [
                (
                    "execution_interrupted",
                    {
                        "prompt_id": prompt_id,
                        "node_id": node,
                        "node_type": run.class_types.get(node or ""),
                        "executed": run.executed,
                        "timestamp": _ms(ts),
                    },
                ),
                done,
            ]
        if kind == "run_failed":
            error = data.get("error") or {}
            node = owner_of(error["node_id"]) if error.get("node_id") else None
            exception_type, _, message = str(error.get("message", "")).partition(": ")
            return [
                (
                    "execution_error",
                    {
                        "prompt_id": prompt_id,
                        "node_id": node,
                        "node_type": run.class_types.get(node or "", error.get("node_type")),
                        "executed": run.executed,
                        "exception_message": message or exception_type,
                        "exception_type": exception_type if message else "",
                        "traceback": [],
                        "current_inputs": {},
                        "current_outputs": [],
                        "timestamp": _ms(ts),
                    },
                ),
                done,
            ]
        return []


def _is_feature_flags(text: str) -> bool:
    try:
        message = parse_json(text, "the message")
    except ApiError:
        return False
    return isinstance(message, dict) and message.get("type") == "feature_flags"


@routes.get("/ws")
async def websocket(request: web.Request) -> web.WebSocketResponse:
    """ComfyUI's event stream for one client id."""
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=1 << 20)
    await ws.prepare(request)
    client_id = request.query.get("clientId") or uuid.uuid4().hex
    hub = request.app[HUB]
    client = hub.attach(ComfySubscriber(ws, client_id, request.app[STORE]))
    try:
        async for message in ws:
            if message.type == WSMsgType.ERROR:
                break
            if message.type == WSMsgType.TEXT and _is_feature_flags(message.data):
                flags = {"type": "feature_flags", "data": feature_flags(request)}
                client.outbox.put_nowait(json.dumps(flags))  # other client messages need no answer
    finally:
        await hub.detach(client)
    return ws
