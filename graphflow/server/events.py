"""Run events and the subscribers they reach; lives on the event loop.

The hub keeps the state a (re)connecting client needs and hands every `Event` and `Preview` to each
`Subscriber` that watches the run. A subscriber turns them into what its client speaks (graphflow's
own websocket messages, or ComfyUI's) and sends them in order from its own outbox.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import struct
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from aiohttp import web

log = logging.getLogger("graphflow.server.events")

PREVIEW_FRAME = 1
MAX_BACKLOG = 10_000
PREVIEW_BACKLOG = 50
FINAL_EVENTS = ("run_finished", "run_failed", "run_interrupted")
Watch = Literal["all", "mine"]
Message = str | bytes


@dataclass(frozen=True)
class Event:
    """One event: its kind, its data, its place in the stream and when it happened."""

    kind: str
    data: dict[str, Any]
    seq: int
    ts: float

    @cached_property
    def json(self) -> str:
        """The documented websocket message, encoded once however many clients receive it."""
        return json.dumps({"type": self.kind, "data": self.data, "seq": self.seq, "ts": self.ts}, default=str)


@dataclass(frozen=True)
class Preview:
    """A step preview of the running prompt: header (prompt, node, step, mime) and image bytes."""

    header: dict[str, Any]
    image: bytes

    @cached_property
    def frame(self) -> bytes:
        """graphflow's binary preview frame: kind, header length, JSON header, image bytes."""
        head = json.dumps(self.header).encode()
        return struct.pack(">II", PREVIEW_FRAME, len(head)) + head + self.image


class Subscriber:
    """A websocket client of the hub: who it is, what it watches, and its outbox.

    Subclasses say what their client is sent for an event (`encode`) and a preview (`encode_preview`).
    """

    def __init__(self, ws: web.WebSocketResponse, client_id: str, watch: Watch) -> None:
        self.ws = ws
        self.client_id = client_id
        self.watch: Watch = watch
        self.outbox: asyncio.Queue[Message] = asyncio.Queue()
        self.sender: asyncio.Task[None] | None = None

    def wants(self, owner: str | None) -> bool:
        """Whether events of a run submitted by `owner` go to this client."""
        return self.watch == "all" or owner == self.client_id

    def encode(self, event: Event) -> list[Message]:
        """The messages this client is sent for `event`."""
        return [event.json]

    def encode_preview(self, preview: Preview) -> Message | None:
        """The frame this client is sent for `preview`, or None."""
        return preview.frame

    async def send_forever(self) -> None:
        """Send the outbox in order until the connection goes."""
        while True:
            message = await self.outbox.get()
            try:
                if isinstance(message, bytes):
                    await self.ws.send_bytes(message)
                else:
                    await self.ws.send_str(message)
            except (ConnectionError, RuntimeError):
                return


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


class EventHub:
    """Fans events out to subscribers and keeps the state a (re)connecting client is sent."""

    def __init__(self) -> None:
        self.subscribers: set[Subscriber] = set()
        self.runs: dict[str, RunState] = {}  # by prompt id, oldest first (one per busy worker)
        self.queue_status: dict[str, Any] = {"pending_count": 0, "running": None, "running_ids": []}
        self._seq = itertools.count(1)

    def attach(self, subscriber: Subscriber) -> Subscriber:
        """Start sending to a new subscriber; it is sent the current state first."""
        self.subscribers.add(subscriber)
        subscriber.sender = asyncio.get_running_loop().create_task(self._send(subscriber))
        self.send_state(subscriber)
        return subscriber

    async def detach(self, subscriber: Subscriber) -> None:
        """Stop sending to a subscriber."""
        self.subscribers.discard(subscriber)
        if subscriber.sender is not None:
            subscriber.sender.cancel()

    def send_state(self, subscriber: Subscriber) -> None:
        """Send a `state` event to one subscriber."""
        data = {
            "client_id": subscriber.client_id,
            "watch": subscriber.watch,
            "queue": dict(self.queue_status),
            "running": self.running.to_dict() if self.running else None,
            "runs": [run.to_dict() for run in self.runs.values()],
        }
        self._deliver(subscriber, self._event("state", data))

    def send_error(self, subscriber: Subscriber, message: str) -> None:
        """Send an `error` reply to one subscriber."""
        self._deliver(subscriber, self._event("error", {"message": message}))

    @property
    def running(self) -> RunState | None:
        """The oldest running prompt's state."""
        return next(iter(self.runs.values()), None)

    def set_queue(self, pending_count: int, running: list[str]) -> None:
        """Publish a `queue` event to everyone when the queue changed (`running`: prompt ids, oldest first)."""
        status = {"pending_count": pending_count, "running": running[0] if running else None, "running_ids": running}
        if status == self.queue_status:
            return
        self.queue_status = status
        event = self._event("queue", status)
        for subscriber in list(self.subscribers):
            self._deliver(subscriber, event)

    def publish(self, kind: str, data: dict[str, Any], ts: float | None = None) -> None:
        """Update the run state from a run event, then send it to every subscriber that watches the run."""
        self._track(kind, data)
        run = self.runs.get(data.get("prompt_id", ""))
        owner = run.client_id if run else data.get("client_id")
        if kind in FINAL_EVENTS or kind == "run_retrying":
            self.runs.pop(data.get("prompt_id", ""), None)
        event = self._event(kind, data, ts)
        for subscriber in list(self.subscribers):
            if subscriber.wants(owner):
                self._deliver(subscriber, event)

    def preview(self, header: dict[str, Any], image: bytes) -> None:
        """Send a preview to the watchers of the running prompt that are keeping up."""
        run = self.runs.get(header["prompt_id"])
        if run is None:
            return
        owner = run.client_id
        preview = Preview({**header, "seq": next(self._seq)}, image)
        for subscriber in list(self.subscribers):
            if subscriber.wants(owner) and subscriber.outbox.qsize() <= PREVIEW_BACKLOG:
                frame = subscriber.encode_preview(preview)
                if frame is not None:
                    subscriber.outbox.put_nowait(frame)

    def _track(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "run_started":
            self.runs[data["prompt_id"]] = RunState(
                data["prompt_id"], data["number"], data["client_id"], list(data["nodes"])
            )
            return
        run = self.runs.get(data.get("prompt_id", ""))
        if run is None:
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

    def _event(self, kind: str, data: dict[str, Any], ts: float | None = None) -> Event:
        return Event(kind, data, next(self._seq), time.time() if ts is None else ts)

    def _deliver(self, subscriber: Subscriber, event: Event) -> None:
        try:
            messages = subscriber.encode(event)
        except Exception:  # a translation bug must not silence the others
            log.exception("could not encode event %s for client %s", event.kind, subscriber.client_id)
            return
        if subscriber.outbox.qsize() + len(messages) > MAX_BACKLOG:
            log.warning(
                "websocket client %s fell %d messages behind; disconnecting it", subscriber.client_id, MAX_BACKLOG
            )
            self.subscribers.discard(subscriber)
            asyncio.get_running_loop().create_task(subscriber.ws.close(message=b"too far behind; reconnect"))
            return
        for message in messages:
            subscriber.outbox.put_nowait(message)

    async def _send(self, subscriber: Subscriber) -> None:
        await subscriber.send_forever()
        self.subscribers.discard(subscriber)

    async def close(self) -> None:
        """Close every websocket (server shutdown)."""
        for subscriber in list(self.subscribers):
            await self.detach(subscriber)
            await subscriber.ws.close(message=b"server shutting down")
