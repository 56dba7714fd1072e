"""Hook observer: turns executor events (worker thread) into hub calls on the event loop."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from typing import Any

from graphflow.hookspecs import hookimpl
from graphflow.runs import RunInfo
from graphflow.server.events import EventHub

log = logging.getLogger("graphflow.server.bridge")


def encode_preview(image: Any, max_side: int) -> bytes | None:
    """A PIL image as JPEG bytes, shrunk to `max_side`; None for anything that is not an image."""
    if not hasattr(image, "convert") or not hasattr(image, "size"):
        return None
    picture = image.convert("RGB")
    if max(picture.size) > max_side:
        picture.thumbnail((max_side, max_side))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


class HookBridge:
    """Registered with the plugin manager; forwards run events with `call_soon_threadsafe`.

    It also remembers, in the worker thread, which node is running (the one an interrupt stopped).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, hub: EventHub, preview_max_side: int = 512) -> None:
        self.loop = loop
        self.hub = hub
        self.preview_max_side = preview_max_side
        self.owners: dict[str, tuple[int, str | None]] = {}
        self.running_node: str | None = None

    def expect(self, prompt_id: str, number: int, client_id: str | None) -> None:
        """Say which prompt is about to run, so its events can name its number and owner."""
        self.owners = {prompt_id: (number, client_id)}

    def _send(self, kind: str, data: dict[str, Any]) -> None:
        self.loop.call_soon_threadsafe(self.hub.publish, kind, data, time.time())

    @hookimpl
    def on_run_start(self, run: RunInfo) -> None:
        """A run of ours began."""
        number, client_id = self.owners.get(run.run_id, (0, None))
        self.running_node = None
        self._send(
            "run_started",
            {
                "prompt_id": run.run_id,
                "number": number,
                "client_id": client_id,
                "nodes": [n.node_id for n in run.plan.order],
            },
        )

    @hookimpl
    def on_nodes_cached(self, run: RunInfo, node_ids: list[str]) -> None:
        """Some planned nodes come from the cache."""
        self._send("nodes_cached", {"prompt_id": run.run_id, "nodes": list(node_ids)})

    @hookimpl
    def on_node_start(self, run: RunInfo, node_id: str) -> None:
        """A node starts."""
        self.running_node = node_id
        self._send(
            "node_started",
            {"prompt_id": run.run_id, "node_id": node_id, "node_type": run.plan.nodes[node_id].spec.type_id},
        )

    @hookimpl
    def on_progress(self, run: RunInfo, node_id: str, step: int, total: int, preview: Any) -> None:
        """A node reported progress, maybe with a preview image (encoded here, off the loop)."""
        self._send("progress", {"prompt_id": run.run_id, "node_id": node_id, "value": step, "max": total})
        if preview is None:
            return
        try:
            image = encode_preview(preview, self.preview_max_side)
        except (OSError, ValueError) as exc:
            log.warning("could not encode the preview of node %r: %s", node_id, exc)
            return
        if image is not None:
            header = {
                "prompt_id": run.run_id,
                "node_id": node_id,
                "value": step,
                "max": total,
                "mime": "image/jpeg",
                "ts": time.time(),
            }
            self.loop.call_soon_threadsafe(self.hub.preview, header, image)

    @hookimpl
    def on_node_end(self, run: RunInfo, node_id: str, ui: dict[str, list[Any]], seconds: float) -> None:
        """A node finished; its display outputs go along."""
        self.running_node = None
        self._send(
            "node_finished", {"prompt_id": run.run_id, "node_id": node_id, "outputs": ui, "seconds": round(seconds, 4)}
        )
