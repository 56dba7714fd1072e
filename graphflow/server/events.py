"""Websocket clients and the events they receive; lives on the event loop."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

log = logging.getLogger("graphflow.server.events")

PREVIEW_FRAME = 1
MAX_BACKLOG = 10_000
PREVIEW_BACKLOG = 50
FINAL_EVENTS = ("run_finished", "run_failed", "run_interrupted")


@dataclass(eq=False)
class Client:
    """One open websocket: who it is, what it watches, and its outgoing messages."""

    ws: web.WebSocketResponse
    client_id: str
    watch: str = "all"
    outbox: asyncio.Queue = field(default_factory=asyncio.Queue)
    sender: asyncio.Task | None = None

    def wants(self, owner: str | None) -> bool:
        """Whether events of a run submitted by `owner` go to this client."""
        return self.watch == "all" or owner == self.client_id


@dataclass
class RunState:
    """What a client that connects mid-run needs to draw the running prompt."""

    prompt_id: str
    number: int
    client_id: str | None
    nodes: list[str]
    cached: list[str] = field(default_factory=list)
    executed: list[str] = field(default_factory=list)
    node_id: str | None = None
    progress: dict[str, Any] | None = None
    outputs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The documented RunState JSON."""
        return dict(vars(self))


def preview_frame(header: dict[str, Any], image: bytes) -> bytes:
    """A binary preview frame: kind, header length, JSON header, image bytes."""
    head = json.dumps(header).encode()
    return struct.pack(">II", PREVIEW_FRAME, len(head)) + head + image


class EventHub:
    """Fans events out to websocket clients and keeps the state a (re)connecting client is sent."""

    def __init__(self) -> None:
        self.clients: set[Client] = set()
        self.running: RunState | None = None
        self.queue_status: dict[str, Any] = {"pending_count": 0, "running": None}
        self._seq = itertools.count(1)

    def attach(self, ws: web.WebSocketResponse, client_id: str, watch: str) -> Client:
        """Register a new websocket and start its sender; it is sent the current state first."""
        client = Client(ws, client_id, watch)
        self.clients.add(client)
        client.sender = asyncio.get_running_loop().create_task(self._send_loop(client))
        self.send_state(client)
        return client

    async def detach(self, client: Client) -> None:
        """Forget a websocket and stop its sender."""
        self.clients.discard(client)
        if client.sender is not None:
            client.sender.cancel()

    def send_state(self, client: Client) -> None:
        """Queue a `state` message for one client."""
        data = {"client_id": client.client_id, "watch": client.watch, "queue": dict(self.queue_status),
                "running": self.running.to_dict() if self.running else None}
        self._enqueue(client, self._message("state", data, time.time()))

    def send_error(self, client: Client, message: str) -> None:
        """Queue an `error` reply for one client."""
        self._enqueue(client, self._message("error", {"message": message}, time.time()))

    def set_queue(self, pending_count: int, running: str | None) -> None:
        """Publish a `queue` message to everyone when the queue changed."""
        status = {"pending_count": pending_count, "running": running}
        if status == self.queue_status:
            return
        self.queue_status = status
        text = self._message("queue", status, time.time())
        for client in list(self.clients):
            self._enqueue(client, text)

    def run_event(self, kind: str, data: dict[str, Any], ts: float) -> None:
        """Update the run state from a run event, then send it to every client that watches the run."""
        self._track(kind, data)
        owner = self.running.client_id if self.running else data.get("client_id")
        if kind in FINAL_EVENTS:
            self.running = None
        text = self._message(kind, data, ts)
        for client in list(self.clients):
            if client.wants(owner):
                self._enqueue(client, text)

    def preview(self, header: dict[str, Any], image: bytes) -> None:
        """Send a preview frame to the watchers of the running prompt that are keeping up."""
        if self.running is None or self.running.prompt_id != header["prompt_id"]:
            return
        owner = self.running.client_id
        frame = preview_frame({**header, "seq": next(self._seq)}, image)
        for client in list(self.clients):
            if client.wants(owner) and client.outbox.qsize() <= PREVIEW_BACKLOG:
                client.outbox.put_nowait(frame)

    def _track(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "run_started":
            self.running = RunState(data["prompt_id"], data["number"], data["client_id"], list(data["nodes"]))
            return
        run = self.running
        if run is None or run.prompt_id != data.get("prompt_id"):
            return
        if kind == "nodes_cached":
            run.cached = list(data["nodes"])
        elif kind == "node_started":
            run.node_id, run.progress = data["node_id"], None
        elif kind == "progress":
            run.progress = {"node_id": data["node_id"], "value": data["value"], "max": data["max"]}
        elif kind == "node_finished":
            run.executed.append(data["node_id"])
            if data["outputs"]:
                run.outputs[data["node_id"]] = data["outputs"]
            run.node_id, run.progress = None, None

    def _message(self, kind: str, data: dict[str, Any], ts: float) -> str:
        return json.dumps({"type": kind, "data": data, "seq": next(self._seq), "ts": ts}, default=str)

    def _enqueue(self, client: Client, message: str | bytes) -> None:
        if client.outbox.qsize() >= MAX_BACKLOG:
            log.warning("websocket client %s fell %d messages behind; disconnecting it", client.client_id, MAX_BACKLOG)
            self.clients.discard(client)
            asyncio.get_running_loop().create_task(client.ws.close(message=b"too far behind; reconnect"))
            return
        client.outbox.put_nowait(message)

    async def _send_loop(self, client: Client) -> None:
        while True:
            message = await client.outbox.get()
            try:
                if isinstance(message, bytes):
                    await client.ws.send_bytes(message)
                else:
                    await client.ws.send_str(message)
            except (ConnectionError, RuntimeError):
                self.clients.discard(client)
                return

    async def close(self) -> None:
        """Close every websocket (server shutdown)."""
        for client in list(self.clients):
            await self.detach(client)
            await client.ws.close(message=b"server shutting down")
