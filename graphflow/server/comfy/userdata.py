"""ComfyUI's user data files (/userdata, /v2/userdata): list, read, write, delete and move files in ComfyUI's
user folder, every name confined to it."""

from __future__ import annotations

import asyncio
import mimetypes
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from graphflow.server.comfy.users import write_atomically
from graphflow.server.errors import ApiError
from graphflow.server.keys import CONFIG
from graphflow.server.paths import PathEscape, confine

routes = web.RouteTableDef()
# User files are shown or downloaded, never run as pages on our origin.
SAFE_TYPES = ("application/json", "text/plain", "text/css", "image/png", "image/jpeg", "image/webp")
# Files the frontend reads at every start, answered with their empty value while the user has none.
EMPTY_DEFAULTS = {"user.css": ("", "text/css"), "comfy.templates.json": ("[]", "application/json")}


def _root(request: web.Request) -> Path:
    root = request.app[CONFIG].comfy_user_dir
    root.mkdir(parents=True, exist_ok=True)
    return Path(os.path.realpath(root))


def _path(request: web.Request, name: str) -> Path:
    name = unquote(name) if "%" in name else name
    if not name.strip("/"):
        raise ApiError("bad_request", "a file name inside the user folder is required")
    try:
        return confine(_root(request), name)
    except PathEscape as exc:
        raise ApiError("forbidden", f"{name!r}: {exc}") from None


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() == "true"


def _overwrite(request: web.Request) -> bool:
    return request.query.get("overwrite", "").lower() != "false"


def file_info(path: Path, root: Path) -> dict[str, Any]:
    """ComfyUI's FileInfo: path relative to `root`, size, modified and created in milliseconds."""
    stat = path.stat()
    return {
        "path": path.relative_to(root).as_posix(),
        "size": stat.st_size,
        "modified": int(stat.st_mtime * 1000),
        "created": int(stat.st_ctime * 1000),
    }


def _listing(folder: Path, recurse: bool, full_info: bool, split: bool) -> list[Any]:
    found = sorted(p for p in (folder.rglob("*") if recurse else folder.glob("*")) if p.is_file())
    inside = [p for p in found if Path(os.path.realpath(p)).is_relative_to(folder)]
    if full_info:
        return [file_info(p, folder) for p in inside]
    names = [p.relative_to(folder).as_posix() for p in inside]
    return [[name, *name.split("/")] for name in names] if split else names


@routes.get("/userdata")
async def list_userdata(request: web.Request) -> web.Response:
    """Files in `?dir=` (`recurse`, `full_info`, `split` as ComfyUI); a folder not made yet lists as empty."""
    directory = request.query.get("dir", "")
    if not directory:
        raise ApiError("bad_request", "query parameter 'dir' is required")
    folder = _path(request, directory)
    if not folder.is_dir():
        return web.json_response([])
    flags = (_flag(request, "recurse"), _flag(request, "full_info"), _flag(request, "split"))
    return web.json_response(await asyncio.to_thread(_listing, folder, *flags))


def _entries(root: Path, folder: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(folder.rglob("*")):
        if not Path(os.path.realpath(path)).is_relative_to(root):
            continue
        entry: dict[str, Any] = {"name": path.name, "path": path.relative_to(root).as_posix()}
        if path.is_dir():
            entry["type"] = "directory"
        else:
            stat = path.stat()
            entry.update(type="file", size=stat.st_size, modified=stat.st_mtime)
        out.append(entry)
    out.sort(key=lambda e: (e["type"] != "directory", e["name"].lower()))
    return out


@routes.get("/v2/userdata")
async def list_userdata_v2(request: web.Request) -> web.Response:
    """Files and folders under `?path=` (the whole user folder by default), folders first."""
    root = _root(request)
    relative = request.query.get("path", "")
    folder = _path(request, relative) if relative.strip("/") else root
    if not folder.exists():
        raise ApiError("not_found", f"no folder {relative!r} in the user folder")
    if not folder.is_dir():
        raise ApiError("bad_request", f"{relative!r} is a file, not a folder")
    return web.json_response(await asyncio.to_thread(_entries, root, folder))


@routes.get("/userdata/{file}")
async def get_userdata(request: web.Request) -> web.StreamResponse:
    """One user file; user.css inline, everything else as a download (never rendered as a page here)."""
    name = request.match_info["file"]
    path = _path(request, name)
    default = EMPTY_DEFAULTS.get(path.relative_to(_root(request)).as_posix())
    if default is not None and not path.exists():
        return web.Response(text=default[0], content_type=default[1], headers={"Cache-Control": "no-cache"})
    if not path.is_file():
        raise ApiError("not_found", f"no file {name!r} in the user folder")
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    css = path == _path(request, "user.css")
    headers = {
        "Content-Type": "text/css" if css else (kind if kind in SAFE_TYPES else "application/octet-stream"),
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": "inline" if css else "attachment",
        "Cache-Control": "no-cache",
    }
    return web.FileResponse(path, headers=headers)


@routes.post("/userdata/{file}")
async def post_userdata(request: web.Request) -> web.Response:
    """Write the body as a user file (`overwrite=false` refuses an existing one with 409); answers its path or info."""
    path = _path(request, request.match_info["file"])
    if path.is_dir():
        raise ApiError("conflict", f"{request.match_info['file']!r} is a folder")
    if not _overwrite(request) and path.exists():
        raise ApiError("conflict", f"{request.match_info['file']!r} exists; send overwrite=true to replace it")
    data = await request.read()
    await asyncio.to_thread(write_atomically, path, data)
    return _written(request, path)


def _written(request: web.Request, path: Path) -> web.Response:
    root = _root(request)
    if _flag(request, "full_info"):
        return web.json_response(file_info(path, root))
    return web.json_response(path.relative_to(root).as_posix())


@routes.delete("/userdata/{file}")
async def delete_userdata(request: web.Request) -> web.Response:
    """Delete one user file."""
    path = _path(request, request.match_info["file"])
    if not path.is_file():
        raise ApiError("not_found", f"no file {request.match_info['file']!r} in the user folder")
    path.unlink()
    return web.Response(status=204)


@routes.post("/userdata/{file}/move/{dest}")
async def move_userdata(request: web.Request) -> web.Response:
    """Move or rename a user file (`overwrite=false` refuses an existing destination with 409)."""
    source = _path(request, request.match_info["file"])
    dest = _path(request, request.match_info["dest"])
    if not source.is_file():
        raise ApiError("not_found", f"no file {request.match_info['file']!r} in the user folder")
    if dest.is_dir():
        raise ApiError("conflict", f"{request.match_info['dest']!r} is a folder")
    if not _overwrite(request) and dest.exists():
        raise ApiError("conflict", f"{request.match_info['dest']!r} exists; send overwrite=true to replace it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(shutil.move, source, dest)
    return _written(request, dest)
