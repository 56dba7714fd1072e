"""File routes: view outputs/inputs/temp files, list them, upload images and masks."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web

from graphflow.server.config import ServerConfig
from graphflow.server.errors import ApiError
from graphflow.server.keys import CONFIG
from graphflow.server.paths import PathEscape, confine, create_free_file, relative_name, safe_filename

routes = web.RouteTableDef()
MAX_LISTED = 5000
# Files produced by nodes are shown, never run as pages on our origin.
VIEW_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox",
                "Cache-Control": "no-cache"}


def folder_of(config: ServerConfig, kind: str) -> Path:
    """The root folder for a file type (`output`, `input`, `temp`)."""
    folders = {"output": config.output_dir, "input": config.input_dir, "temp": config.temp_folder}
    if kind not in folders:
        raise ApiError("bad_request", f"file type {kind!r} is not one of: {', '.join(folders)}")
    return folders[kind]


def confined(root: Path, *parts: str) -> Path:
    """`confine`, with refusals turned into 403 responses."""
    try:
        return confine(root, *parts)
    except PathEscape as exc:
        raise ApiError("forbidden", str(exc)) from None


@routes.get("/api/view")
async def view(request: web.Request) -> web.FileResponse:
    """Serve one file from the output, input or temp folder."""
    query = request.query
    if not query.get("filename"):
        raise ApiError("bad_request", "query parameter 'filename' is required")
    root = folder_of(request.app[CONFIG], query.get("type", "output"))
    path = confined(root, query.get("subfolder", ""), query["filename"])
    if not path.is_file():
        raise ApiError("not_found", f"no file {query['filename']!r} in the {query.get('type', 'output')} folder")
    return web.FileResponse(path, headers=VIEW_HEADERS)


def _list_files(root: Path) -> list[dict[str, Any]]:
    files: list[dict[str, Any]] = []
    if not root.is_dir():
        return files
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            path = Path(dirpath) / name
            if name.startswith(".") or path.is_symlink():
                continue
            stat = path.stat()
            subfolder = Path(relative_name(root, path)).parent.as_posix()
            files.append({"filename": name, "subfolder": "" if subfolder == "." else subfolder,
                          "size": stat.st_size, "modified": stat.st_mtime})
    files.sort(key=lambda f: f["modified"], reverse=True)
    return files[:MAX_LISTED]


@routes.get("/api/files/{type}")
async def list_files(request: web.Request) -> web.Response:
    """The files of one folder, newest first."""
    kind = request.match_info["type"]
    root = folder_of(request.app[CONFIG], kind)
    return web.json_response({"type": kind, "files": await asyncio.to_thread(_list_files, root)})


async def _read_upload(request: web.Request, limit: int) -> tuple[str, bytes, str, bool]:
    if not request.content_type.startswith("multipart/"):
        raise ApiError("bad_request", "send the image as multipart/form-data with a field named 'image'")
    reader = await request.multipart()
    name, data, subfolder, overwrite = "", b"", "", False
    async for part in reader:
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "image":
            name = part.filename or ""
            chunks, size = [], 0
            while chunk := await part.read_chunk(1 << 16):
                size += len(chunk)
                if size > limit:
                    raise ApiError("too_large", f"the upload is larger than {limit // (1024 * 1024)} MiB")
                chunks.append(chunk)
            data = b"".join(chunks)
        elif part.name == "subfolder":
            subfolder = (await part.text()).strip()
        elif part.name == "overwrite":
            overwrite = (await part.text()).strip().lower() in ("1", "true", "yes")
    if not data:
        raise ApiError("bad_request", "no file in the multipart field 'image'")
    return name, data, subfolder, overwrite


def _open_image(data: bytes, max_pixels: int):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.width * probe.height > max_pixels:
                raise ApiError("too_large", f"the image is {probe.width}x{probe.height}, above the "
                               f"{max_pixels} pixel limit")
            probe.verify()
        image = Image.open(io.BytesIO(data))
        image.load()
        return image
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise ApiError("unsupported_media_type", f"the upload is not an image Pillow can read ({exc})") from None


def _save_upload(config: ServerConfig, name: str, data: bytes, subfolder: str, overwrite: bool,
                 mask: bool) -> dict[str, str]:
    image = _open_image(data, config.max_image_pixels)
    if mask:
        channel = image.getchannel("A") if "A" in image.getbands() else image.convert("L")
        buffer = io.BytesIO()
        channel.save(buffer, format="PNG")
        data = buffer.getvalue()
        name = f"{name.rsplit('.', 1)[0] if '.' in name else name}.png"
    folder = confined(config.input_dir.resolve(), subfolder)
    try:
        path = create_free_file(folder, name, data, overwrite)
    except PathEscape as exc:
        raise ApiError("forbidden", str(exc)) from None
    except (FileExistsError, NotADirectoryError, IsADirectoryError):
        raise ApiError("bad_request", f"cannot save {name!r} in subfolder {subfolder!r}: a file is in the way") from None
    return {"filename": path.name, "subfolder": "" if not subfolder else relative_name(config.input_dir, folder),
            "type": "input"}


async def _upload(request: web.Request, mask: bool) -> web.Response:
    config = request.app[CONFIG]
    name, data, subfolder, overwrite = await _read_upload(request, config.max_upload_bytes)
    try:
        safe_filename(name)
        confine(config.input_dir.resolve(), subfolder)
    except PathEscape as exc:
        raise ApiError("forbidden", str(exc)) from None
    result = await asyncio.to_thread(_save_upload, config, name, data, subfolder, overwrite, mask)
    return web.json_response(result)


@routes.post("/api/upload/image")
async def upload_image(request: web.Request) -> web.Response:
    """Save an uploaded image into the input folder."""
    return await _upload(request, mask=False)


@routes.post("/api/upload/mask")
async def upload_mask(request: web.Request) -> web.Response:
    """Save an uploaded image's alpha (or grey) channel as a mask PNG in the input folder."""
    return await _upload(request, mask=True)
