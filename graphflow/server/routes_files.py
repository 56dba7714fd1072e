"""File routes: view outputs/inputs/temp files, list them, upload images and masks (all through the FileStore)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from graphflow.server.errors import ApiError, parse_json
from graphflow.server.files import KINDS, FileRef, Upload
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


@contextlib.contextmanager
def multipart_errors() -> Iterator[None]:
    """aiohttp's complaints about a malformed multipart body as a clear 400."""
    try:
        yield
    except (HttpProcessingError, ValueError, LookupError, AssertionError) as exc:
        raise ApiError("bad_request", f"the multipart body is malformed ({type(exc).__name__}: {exc})") from None


async def _read_part(part: BodyPartReader, limit: int) -> bytes:
    chunks, size = [], 0
    while chunk := await part.read_chunk(1 << 16):
        size += len(chunk)
        if size > limit:
            raise ApiError("too_large", f"the upload is larger than {limit // (1024 * 1024)} MiB")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_upload(request: web.Request, default_name: str = "") -> tuple[Upload, dict[str, str]]:
    """The multipart upload: the file in field 'image' and the other fields as text (all size-limited)."""
    if not request.content_type.startswith("multipart/"):
        raise ApiError("bad_request", "send the image as multipart/form-data with a field named 'image'")
    limit = request.app[CONFIG].max_upload_bytes
    name, data, fields = "", b"", {}
    with multipart_errors():
        async for part in await request.multipart():
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "image":
                name, data = part.filename or default_name, await _read_part(part, limit)
            elif part.name:
                content = await _read_part(part, limit)
                fields[part.name] = content.decode(part.get_charset("utf-8")).strip()
    if not data:
        raise ApiError("bad_request", "no file in the multipart field 'image'")
    overwrite = fields.get("overwrite", "").lower() in ("1", "true", "yes")
    upload = Upload(name, data, fields.get("subfolder", ""), overwrite)
    request.app[FILES].check_target(upload)
    return upload, fields


async def read_form_file(request: web.Request, field: str) -> tuple[str, bytes]:
    """The name and bytes of the file in multipart field `field`, or a clear 400."""
    with multipart_errors():
        form = await request.post()
    upload = form.get(field)
    if not isinstance(upload, web.FileField):
        raise ApiError("bad_request", f"no file in the multipart field {field!r}")
    return upload.filename or "upload", await asyncio.to_thread(upload.file.read)


def saved_answer(saved: FileRef) -> web.Response:
    """Where an upload was saved: graphflow's keys plus ComfyUI's `name` (the same file name)."""
    return web.json_response({**saved.to_dict(), "name": saved.filename})


def original_ref(fields: dict[str, str]) -> FileRef | None:
    """ComfyUI's `original_ref` field (the image a painted mask belongs to), or None when not sent."""
    if "original_ref" not in fields:
        return None
    shape = "original_ref must be JSON {filename, subfolder, type} with text values"
    ref = parse_json(fields["original_ref"], "original_ref")
    if not isinstance(ref, dict):
        raise ApiError("bad_request", shape)
    kind, subfolder, filename = ref.get("type", "input"), ref.get("subfolder", ""), ref.get("filename")
    if kind not in KINDS:
        raise ApiError("bad_request", f"original_ref's type must be one of: {', '.join(KINDS)}")
    if not isinstance(subfolder, str) or not isinstance(filename, str) or not filename:
        raise ApiError("bad_request", shape)
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
