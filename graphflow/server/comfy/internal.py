"""ComfyUI's frontend-only routes (/internal/...): model folder paths, the server log, the files of a folder."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from graphflow.server.errors import optional_json_object
from graphflow.server.keys import CONFIG, FILES
from graphflow.server.routes_library import model_kind_folders

routes = web.RouteTableDef()
MAX_LOG_ENTRIES = 1000


class LogBuffer(logging.Handler):
    """The last log records of graphflow's loggers, as ComfyUI's log entries ({"t": time, "m": message})."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.entries: deque[dict[str, str]] = deque(maxlen=MAX_LOG_ENTRIES)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        """Keep one record."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created))
        self.entries.append({"t": f"{stamp}.{int(record.msecs):03d}", "m": self.format(record) + "\n"})


LOGS = web.AppKey("graphflow_comfy_logs", LogBuffer)


async def keep_logs(app: web.Application) -> AsyncIterator[None]:
    """While the app runs, keep graphflow's recent log records for /internal/logs."""
    buffer = app[LOGS] = LogBuffer()
    logger = logging.getLogger("graphflow")
    logger.addHandler(buffer)
    yield
    logger.removeHandler(buffer)


@routes.get("/internal/folder_paths")
async def folder_paths(request: web.Request) -> web.Response:
    """Each model folder kind and its folder(s)."""
    from graphflow.models.paths import model_folders

    root = request.app[CONFIG].settings.models_dir
    return web.json_response(
        {kind: [str(f) for f in model_folders(root, kind)] for kind in sorted(model_kind_folders())}
    )


def _entries(request: web.Request) -> list[dict[str, str]]:
    return list(request.app[LOGS].entries) if LOGS in request.app else []


@routes.get("/internal/logs")
async def logs(request: web.Request) -> web.Response:
    """The recent log as one text."""
    return web.json_response("".join(f"{e['t']} - {e['m']}" for e in _entries(request)))


@routes.get("/internal/logs/raw")
async def raw_logs(request: web.Request) -> web.Response:
    """The recent log entries and the terminal size."""
    size = shutil.get_terminal_size()
    return web.json_response({"entries": _entries(request), "size": {"cols": size.columns, "rows": size.lines}})


@routes.patch("/internal/logs/subscribe")
async def subscribe_logs(request: web.Request) -> web.Response:
    """Accepted; graphflow does not stream log lines over the websocket (read /internal/logs/raw instead)."""
    await optional_json_object(request)
    return web.Response(status=200)


@routes.get("/internal/files/{directory_type}")
async def files(request: web.Request) -> web.Response:
    """The names of the files in the input, output or temp folder, newest first."""
    listing: list[dict[str, Any]] = await asyncio.to_thread(
        request.app[FILES].listing, request.match_info["directory_type"]
    )
    return web.json_response(
        [f"{f['subfolder']}/{f['filename']}" if f["subfolder"] else f["filename"] for f in listing]
    )
