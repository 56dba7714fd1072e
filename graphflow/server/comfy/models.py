"""ComfyUI's model lists: /models, /models/{folder}, /embeddings, the model library's /experiment/models and
/view_metadata, each offering the shipped `builtin:` models first, as /object_info does."""

from __future__ import annotations

import asyncio
import json
import struct
from pathlib import Path
from typing import Any

from aiohttp import web

from graphflow.server.errors import ApiError
from graphflow.server.keys import CONFIG
from graphflow.server.routes_library import model_kind_folders

routes = web.RouteTableDef()
MAX_HEADER_BYTES = 64 * 1024 * 1024


def _folder(request: web.Request) -> str:
    folder = request.match_info["kind"]
    if folder not in model_kind_folders():
        raise ApiError("not_found", f"unknown model folder {folder!r}; see GET /models")
    return folder


def _choices(request: web.Request, kind: str) -> list[str]:
    from graphflow.models.builtin import model_choices

    return model_choices(request.app[CONFIG].settings.models_dir, kind)


@routes.get("/embeddings")
async def embeddings(request: web.Request) -> web.Response:
    """Embedding names as a prompt writes them after `embedding:` (shipped ones by their stem)."""
    from graphflow.models.builtin import BUILTIN_PREFIX

    names = await asyncio.to_thread(_choices, request, "embeddings")
    stems = (name.removeprefix(BUILTIN_PREFIX).rsplit(".", 1)[0] for name in names)
    return web.json_response(list(dict.fromkeys(stems)))


@routes.get("/models")
async def model_folders(request: web.Request) -> web.Response:
    """The model folder names."""
    return web.json_response(sorted(model_kind_folders()))


@routes.get("/models/{kind}")
async def model_files(request: web.Request) -> web.Response:
    """The models of one folder: the shipped `builtin:` ones, then the folder's files."""
    return web.json_response(await asyncio.to_thread(_choices, request, _folder(request)))


@routes.get("/experiment/models")
async def library_folders(request: web.Request) -> web.Response:
    """The model library's folders: [{name, folders}]."""
    from graphflow.models.paths import model_folders

    root = request.app[CONFIG].settings.models_dir
    return web.json_response(
        [
            {"name": kind, "folders": [str(f) for f in model_folders(root, kind)]}
            for kind in sorted(model_kind_folders())
        ]
    )


@routes.get("/experiment/models/{kind}")
async def library_files(request: web.Request) -> web.Response:
    """The model library's files of one folder: [{name, pathIndex}]."""
    names = await asyncio.to_thread(_choices, request, _folder(request))
    return web.json_response([{"name": name, "pathIndex": 0} for name in names])


def safetensors_metadata(path: Path) -> dict[str, Any] | None:
    """The `__metadata__` of a safetensors file's header, or None (not safetensors, or none recorded)."""
    if not path.is_file() or path.suffix.lower() not in (".safetensors", ".sft"):
        return None
    with open(path, "rb") as handle:
        head = handle.read(8)
        size = struct.unpack("<Q", head)[0] if len(head) == 8 else 0
        if not 0 < size <= MAX_HEADER_BYTES:
            return None
        try:
            header = json.loads(handle.read(size))
        except (ValueError, RecursionError):
            return None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    return metadata if isinstance(metadata, dict) else None


@routes.get("/view_metadata/{kind}")
async def view_metadata(request: web.Request) -> web.Response:
    """A model file's safetensors metadata (`?filename=`); 404 when it has none."""
    from graphflow.models.builtin import resolve_choice

    kind, name = _folder(request), request.query.get("filename", "")
    if not name:
        raise ApiError("bad_request", "query parameter 'filename' is required")
    try:
        path = await asyncio.to_thread(resolve_choice, request.app[CONFIG].settings.models_dir, kind, name)
    except FileNotFoundError as exc:
        raise ApiError("not_found", str(exc)) from None
    except ValueError as exc:
        raise ApiError("forbidden", str(exc)) from None
    metadata = await asyncio.to_thread(safetensors_metadata, path)
    if metadata is None:
        raise ApiError("not_found", f"{kind} model {name!r} carries no safetensors metadata")
    return web.json_response(metadata)
