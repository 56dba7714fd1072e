"""ComfyUI's HTTP routes for prompts and files: /prompt, /queue, /interrupt, /history, /view, uploads, /object_info."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from typing import Any

from aiohttp import web

from graphflow.graph import validate
from graphflow.interop import png_workflow, to_workflow
from graphflow.interop.comfy_api import META_KEY, ComfyImportError, import_api
from graphflow.interop.comfy_schema import invalid_prompt, object_info, prompt_errors
from graphflow.server.comfy.records import HISTORY_STATUS, history_entry, queue_item
from graphflow.server.errors import ApiError, optional_json_object
from graphflow.server.keys import CONFIG, DISPATCHER, FILES, PLUGINS, STORE
from graphflow.server.routes_files import original_ref, read_upload, view
from graphflow.workflow import WorkflowFileError

routes = web.RouteTableDef()
SECRET_EXTRA_DATA = ("api_key_comfy_org", "auth_token_comfy_org")

routes.get("/view")(view)


def _bad(body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=400)


@routes.post("/prompt")
async def submit(request: web.Request) -> web.Response:
    """Queue an API-format prompt, answering like ComfyUI."""
    body = await optional_json_object(request)
    prompt = body.get("prompt")
    if not isinstance(prompt, dict) or not prompt:
        return _bad(
            {
                "error": {
                    "type": "no_prompt",
                    "message": "No prompt provided",
                    "details": "No prompt provided",
                    "extra_info": {},
                },
                "node_errors": {},
            }
        )
    registry = request.app[PLUGINS].registry
    try:
        workflow = import_api(prompt, registry=registry, source="prompt")
    except ComfyImportError as exc:
        return _bad(
            invalid_prompt(
                str(exc),
                "; ".join(f"Node ID '#{i}'" for ids in exc.unsupported.values() for i in ids),
                unsupported=exc.unsupported,
            )
        )
    targets = body.get("partial_execution_targets")
    if targets is not None and (not isinstance(targets, list) or not all(isinstance(t, str) for t in targets)):
        return _bad(invalid_prompt("partial_execution_targets must be a list of node ids"))
    issues = await asyncio.to_thread(validate, workflow, registry, request.app[CONFIG].settings, targets)
    if issues:
        return _bad(prompt_errors(issues, workflow, registry))
    prompt_id = body.get("prompt_id") or str(uuid.uuid4())
    store = request.app[STORE]
    if not isinstance(prompt_id, str) or store.get(prompt_id) is not None:
        return _bad(invalid_prompt(f"prompt_id {prompt_id!r} is not new; send another or none"))
    client_id = body.get("client_id")
    extra_data = {k: v for k, v in (body.get("extra_data") or {}).items() if k not in SECRET_EXTRA_DATA}
    outputs = [n for n, e in workflow.nodes.items() if (s := registry.get(e.type)) is not None and s.is_output]
    workflow.meta[META_KEY].update(
        prompt=prompt,
        extra_data=extra_data,
        outputs_to_execute=targets or outputs,
        preview_method=extra_data.get("preview_method", "none"),
    )
    record = store.add(
        workflow.model_dump(mode="json", exclude_none=True),
        client_id=client_id if isinstance(client_id, str) else None,
        front=bool(body.get("front")),
        targets=targets,
        prompt_id=prompt_id,
    )
    request.app[DISPATCHER].notify()
    return web.json_response({"prompt_id": record.prompt_id, "number": record.number, "node_errors": {}})


def queue_remaining(request: web.Request) -> int:
    """Pending prompts plus the running one, as ComfyUI counts them."""
    return request.app[STORE].pending_count() + (request.app[DISPATCHER].current is not None)


@routes.get("/prompt")
async def prompt_status(request: web.Request) -> web.Response:
    """How many prompts are left."""
    return web.json_response({"exec_info": {"queue_remaining": queue_remaining(request)}})


@routes.get("/queue")
async def queue(request: web.Request) -> web.Response:
    """The running and pending prompts as ComfyUI's tuples."""
    current = request.app[DISPATCHER].current
    return web.json_response(
        {
            "queue_running": [queue_item(current.record)] if current else [],
            "queue_pending": [queue_item(r) for r in request.app[STORE].pending()],
        }
    )


@routes.post("/queue")
async def edit_queue(request: web.Request) -> web.Response:
    """{"clear": true} empties the queue; {"delete": [ids]} removes pending prompts."""
    body, store = await optional_json_object(request), request.app[STORE]
    if body.get("clear"):
        store.cancel_pending()
    for prompt_id in body.get("delete") or []:
        store.cancel_pending(str(prompt_id))
    request.app[DISPATCHER].notify()
    return web.Response(status=200)


@routes.post("/interrupt")
async def interrupt(request: web.Request) -> web.Response:
    """Stop the running prompt (only if it is the given prompt_id, when one is given)."""
    body = await optional_json_object(request)
    request.app[DISPATCHER].interrupt(body.get("prompt_id"))
    return web.Response(status=200)


@routes.get("/history")
async def history(request: web.Request) -> web.Response:
    """Finished prompts keyed by id, oldest first (ComfyUI's max_items and offset)."""
    try:
        limit = int(request.query.get("max_items", 200))
        offset = int(request.query.get("offset", 0))
    except ValueError:
        raise ApiError("bad_request", "max_items and offset must be integers") from None
    items, _ = request.app[STORE].history(max(offset, 0), min(max(limit, 1), 10_000))
    return web.json_response({r.prompt_id: history_entry(r) for r in reversed(items) if r.status in HISTORY_STATUS})


@routes.get("/history/{prompt_id}")
async def history_one(request: web.Request) -> web.Response:
    """One finished prompt, or {} while it is unknown or still queued."""
    record = request.app[STORE].get(request.match_info["prompt_id"])
    if record is None or record.status not in HISTORY_STATUS:
        return web.json_response({})
    return web.json_response({record.prompt_id: history_entry(record)})


@routes.post("/history")
async def edit_history(request: web.Request) -> web.Response:
    """{"clear": true} forgets every finished prompt; {"delete": [ids]} some of them."""
    body, store = await optional_json_object(request), request.app[STORE]
    if body.get("clear"):
        store.delete_finished()
    for prompt_id in body.get("delete") or []:
        store.delete_finished(str(prompt_id))
    return web.Response(status=200)


@routes.post("/upload/image")
async def upload(request: web.Request) -> web.Response:
    """Save an uploaded image in the input folder; answers {name, subfolder, type}."""
    image, _ = await read_upload(request)
    saved = await asyncio.to_thread(request.app[FILES].save_image, image)
    return web.json_response({"name": saved.filename, "subfolder": saved.subfolder, "type": saved.type})


@routes.post("/upload/mask")
async def upload_mask(request: web.Request) -> web.Response:
    """ComfyUI's mask upload: the painted image's alpha becomes the alpha of `original_ref`, saved as `image`'s name."""
    painted, fields = await read_upload(request, default_name="mask.png")
    original = original_ref(fields)
    if original is None:
        raise ApiError("bad_request", "send the image the mask belongs to as original_ref {filename, subfolder, type}")
    saved = await asyncio.to_thread(request.app[FILES].save_mask_onto, painted, original)
    return web.json_response({"name": saved.filename, "subfolder": saved.subfolder, "type": saved.type})


@routes.get("/object_info")
async def objects(request: web.Request) -> web.Response:
    """Definitions of the ComfyUI node types graphflow runs."""
    return web.json_response(
        await asyncio.to_thread(object_info, request.app[PLUGINS].registry, request.app[CONFIG].settings)
    )


@routes.get("/object_info/{class_type}")
async def one_object(request: web.Request) -> web.Response:
    """One node type's definition ({} when unknown, as ComfyUI answers)."""
    info = await asyncio.to_thread(object_info, request.app[PLUGINS].registry, request.app[CONFIG].settings)
    name = request.match_info["class_type"]
    return web.json_response({name: info[name]} if name in info else {})


def _convert(data: bytes, name: str, registry: Any) -> dict[str, Any]:
    layout_from = None
    if data.startswith(b"\x89PNG"):
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data)) as image:
                text = dict(getattr(image, "text", {}) or {})
        except (UnidentifiedImageError, OSError) as exc:
            raise ApiError("unsupported_media_type", f"{name}: not a readable PNG ({exc})") from None
        raw, layout_from = png_workflow(text, name)
    else:
        try:
            raw = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise ApiError("bad_workflow_file", f"{name}: neither JSON nor a PNG") from None
    workflow = to_workflow(raw, registry=registry, source=name, layout_from=layout_from)
    return workflow.model_dump(mode="json", exclude_none=True)


@routes.post("/api/import/comfy")
async def import_comfy(request: web.Request) -> web.Response:
    """Convert a ComfyUI workflow (API or UI format; JSON body, or multipart 'file' JSON/PNG) to graphflow's format."""
    name = "upload"
    if request.content_type.startswith("multipart/"):
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            raise ApiError("bad_request", "no file in the multipart field 'file'")
        name, data = upload.filename or name, await asyncio.to_thread(upload.file.read)
    else:
        data = await request.read()
    try:
        converted = await asyncio.to_thread(_convert, data, name, request.app[PLUGINS].registry)
    except WorkflowFileError as exc:
        raise ApiError("bad_workflow_file", str(exc)) from None
    return web.json_response(converted)
