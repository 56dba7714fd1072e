"""File routes: view outputs/inputs/temp files, list them, upload images and masks (all through the FileStore)."""

from __future__ import annotations

import asyncio
import json

from aiohttp import BodyPartReader, web

from graphflow.server.errors import ApiError, json_object
from graphflow.server.files import FileRef, Upload
from graphflow.server.keys import CONFIG, FILES

routes = web.RouteTableDef()
# Files produced by nodes are shown, never run as pages on our origin.
VIEW_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "no-cache",
}


async def view(request: web.Request) -> web.FileResponse:
    """Serve one file from the output, input or temp folder (graphflow's /api/view and ComfyUI's /view)."""
    query = request.query
    if not query.get("filename"):
        raise ApiError("bad_request", "query parameter 'filename' is required")
    path = request.app[FILES].path_of(query.get("type", "output"), query.get("subfolder", ""), query["filename"])
    return web.FileResponse(path, headers=VIEW_HEADERS)


routes.get("/api/view")(view)


@routes.get("/api/files/{type}")
async def list_files(request: web.Request) -> web.Response:
    """The files of one folder, newest first."""
    kind = request.match_info["type"]
    return web.json_response({"type": kind, "files": await asyncio.to_thread(request.app[FILES].listing, kind)})


async def read_upload(request: web.Request, default_name: str = "") -> tuple[Upload, dict[str, str]]:
    """The multipart upload: the file in field 'image' (size-limited) and the other fields as text."""
    if not request.content_type.startswith("multipart/"):
        raise ApiError("bad_request", "send the image as multipart/form-data with a field named 'image'")
    limit = request.app[CONFIG].max_upload_bytes
    name, data, fields = "", b"", {}
    async for part in await request.multipart():
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "image":
            name = part.filename or default_name
            chunks, size = [], 0
            while chunk := await part.read_chunk(1 << 16):
                size += len(chunk)
                if size > limit:
                    raise ApiError("too_large", f"the upload is larger than {limit // (1024 * 1024)} MiB")
                chunks.append(chunk)
            data = b"".join(chunks)
        elif part.name:
            fields[part.name] = (await part.text()).strip()
    if not data:
        raise ApiError("bad_request", "no file in the multipart field 'image'")
    overwrite = fields.get("overwrite", "").lower() in ("1", "true", "yes")
    upload = Upload(name, data, fields.get("subfolder", ""), overwrite)
    request.app[FILES].check_target(upload)
    return upload, fields


def saved_answer(saved: FileRef) -> web.Response:
    """Where an upload was saved: graphflow's keys plus ComfyUI's `name` (the same file name)."""
    return web.json_response({**saved.to_dict(), "name": saved.filename})


def original_ref(fields: dict[str, str]) -> FileRef | None:
    """ComfyUI's `original_ref` field (the image a painted mask belongs to), or None when not sent."""
    if "original_ref" not in fields:
        return None
    try:
        ref = json_object(json.loads(fields["original_ref"]), "original_ref")
    except ValueError:
        raise ApiError("bad_request", "original_ref must be JSON {filename, subfolder, type}") from None
    kind, subfolder, filename = ref.get("type", "input"), ref.get("subfolder", ""), ref.get("filename", "")
    if kind not in ("input", "output", "temp") or not isinstance(subfolder, str) or not isinstance(filename, str):
        raise ApiError("bad_request", "original_ref must be JSON {filename, subfolder, type} with text values")
    return FileRef(filename, subfolder, kind)


@routes.post("/api/upload/image")
async def upload_image(request: web.Request) -> web.Response:
    """Save an uploaded image into the input folder."""
    upload, _ = await read_upload(request)
    return saved_answer(await asyncio.to_thread(request.app[FILES].save_image, upload))


@routes.post("/api/upload/mask")
async def upload_mask(request: web.Request) -> web.Response:
    """Save an uploaded image's alpha (or grey) channel as a mask PNG in the input folder; with ComfyUI's
    `original_ref`, the painted alpha becomes that image's alpha instead."""
    upload, fields = await read_upload(request)
    original = original_ref(fields)
    files = request.app[FILES]
    if original is None:
        return saved_answer(await asyncio.to_thread(files.save_mask, upload))
    return saved_answer(await asyncio.to_thread(files.save_mask_onto, upload, original))
