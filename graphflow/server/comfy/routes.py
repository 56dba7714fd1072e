"""ComfyUI's HTTP routes for prompts and files: /prompt, /queue, /interrupt, /history, /view, uploads, /object_info."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiohttp import web

from graphflow.graph import validate
from graphflow.interop import png_workflow, to_workflow
from graphflow.interop.comfy_api import META_KEY, ComfyImportError, import_api
from graphflow.interop.comfy_schema import invalid_prompt, object_info, prompt_errors
from graphflow.registry import Registry
from graphflow.server.comfy.records import HISTORY_STATUS, history_entry, queue_item
from graphflow.server.errors import ApiError, int_query, optional_json_object, parse_json
from graphflow.server.files import FileStore
from graphflow.server.keys import CONFIG, DISPATCHER, FILES, PLUGINS, STORE
from graphflow.server.queue_store import SWEEPING
from graphflow.server.routes_files import original_ref, read_form_file, read_upload, view
from graphflow.server.routes_prompts import interrupt
from graphflow.server.sweeps import SWEEPS
from graphflow.settings import Settings
from graphflow.workflow import Workflow, WorkflowFileError

routes = web.RouteTableDef()
SECRET_EXTRA_DATA = ("api_key_comfy_org", "auth_token_comfy_org")
MAX_HISTORY_ITEMS = 10_000

routes.get("/view")(view)
routes.post("/interrupt")(interrupt)  # graphflow's answer carries more than ComfyUI's empty one


def _bad(body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=400)


NO_PROMPT = {
    "error": {"type": "no_prompt", "message": "No prompt provided", "details": "No prompt provided", "extra_info": {}},
    "node_errors": {},
}


def _queueable(
    prompt: dict[str, Any], targets: list[str] | None, registry: Registry, settings: Settings
) -> Workflow | dict[str, Any]:
    """The imported, valid workflow of a prompt, or ComfyUI's error body saying why it cannot run. Slow on big
    prompts: call it off the event loop."""
    try:
        workflow = import_api(prompt, registry=registry, source="prompt")
    except ComfyImportError as exc:
        unsupported = "; ".join(f"Node ID '#{i}'" for ids in exc.unsupported.values() for i in ids)
        return invalid_prompt(str(exc), unsupported, unsupported=exc.unsupported)
    except WorkflowFileError as exc:
        return invalid_prompt(str(exc))
    issues = validate(workflow, registry, settings, targets)
    return prompt_errors(issues, workflow, registry) if issues else workflow


@routes.post("/prompt")
async def submit(request: web.Request) -> web.Response:
    """Queue an API-format prompt, answering like ComfyUI (its error shape for every refusal)."""
    try:
        body = await optional_json_object(request)
    except ApiError as exc:
        return _bad(invalid_prompt(exc.message))
    prompt = body.get("prompt")
    if not isinstance(prompt, dict) or not prompt:
        return _bad(NO_PROMPT)
    targets = body.get("partial_execution_targets")
    if targets is not None and (not isinstance(targets, list) or not all(isinstance(t, str) for t in targets)):
        return _bad(invalid_prompt("partial_execution_targets must be a list of node ids"))
    extra = body.get("extra_data") or {}
    if not isinstance(extra, dict):
        return _bad(invalid_prompt("extra_data must be a JSON object"))
    registry = request.app[PLUGINS].registry
    workflow = await asyncio.to_thread(_queueable, prompt, targets, registry, request.app[CONFIG].settings)
    if not isinstance(workflow, Workflow):
        return _bad(workflow)
    prompt_id = body.get("prompt_id") or str(uuid.uuid4())
    store = request.app[STORE]
    if not isinstance(prompt_id, str) or store.get(prompt_id) is not None:
        return _bad(invalid_prompt(f"prompt_id {prompt_id!r} is not new; send another or none"))
    client_id = body.get("client_id")
    extra_data = {k: v for k, v in extra.items() if k not in SECRET_EXTRA_DATA}
    outputs = [n for n, e in workflow.nodes.items() if (s := registry.get(e.type)) is not None and s.is_output]
    workflow.meta[META_KEY].update(
        prompt=prompt,
        extra_data=extra_data,
        outputs_to_execute=targets or outputs,
        preview_method=extra_data.get("preview_method", "none"),
    )
    record = store.add(
        await asyncio.to_thread(workflow.model_dump, mode="json", exclude_none=True),
        client_id=client_id if isinstance(client_id, str) else None,
        front=bool(body.get("front")),
        targets=targets,
        prompt_id=prompt_id,
    )
    request.app[DISPATCHER].notify()
    return web.json_response({"prompt_id": record.prompt_id, "number": record.number, "node_errors": {}})


def queue_remaining(request: web.Request) -> int:
    """Pending prompts plus the running ones, as ComfyUI counts them."""
    return request.app[STORE].pending_count() + len(request.app[DISPATCHER].running)


@routes.get("/prompt")
async def prompt_status(request: web.Request) -> web.Response:
    """How many prompts are left."""
    return web.json_response({"exec_info": {"queue_remaining": queue_remaining(request)}})


@routes.get("/queue")
async def queue(request: web.Request) -> web.Response:
    """The running and pending prompts as ComfyUI's tuples."""
    return web.json_response(
        {
            "queue_running": [queue_item(r.record) for r in request.app[DISPATCHER].running.values()],
            "queue_pending": [queue_item(r) for r in request.app[STORE].pending()],
        }
    )


def _to_delete(body: dict[str, Any]) -> list[str]:
    ids = body.get("delete") or []
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ApiError("bad_request", "'delete' must be a list of prompt ids")
    return ids


@routes.post("/queue")
async def edit_queue(request: web.Request) -> web.Response:
    """{"clear": true} empties the queue; {"delete": [ids]} removes pending prompts."""
    body, store = await optional_json_object(request), request.app[STORE]
    to_delete = _to_delete(body)
    if body.get("clear"):
        store.cancel_pending()
    for prompt_id in to_delete:
        record = store.get(prompt_id)
        if record is not None and record.status == SWEEPING:  # a sweep's parent: its children go
            request.app[SWEEPS].stop(prompt_id)
        else:
            store.cancel_pending(prompt_id)
    request.app[DISPATCHER].notify()
    return web.Response(status=200)


@routes.get("/history")
async def history(request: web.Request) -> web.Response:
    """Finished prompts keyed by id, oldest first (ComfyUI's max_items and offset)."""
    limit = int_query(request, "max_items", 200, -(2**31), 2**31)
    offset = int_query(request, "offset", 0, -(2**31), 2**31)  # ComfyUI's -1: the newest max_items
    items, _ = request.app[STORE].history(max(offset, 0), min(max(limit, 1), MAX_HISTORY_ITEMS))
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
    to_delete = _to_delete(body)
    if body.get("clear"):
        store.delete_finished()
    for prompt_id in to_delete:
        store.delete_finished(prompt_id)
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


def _convert(data: bytes, name: str, files: FileStore, registry: Any) -> dict[str, Any]:
    layout_from = None
    if data.startswith(b"\x89PNG"):
        raw, layout_from = png_workflow(files.png_text(data, name), name)
    else:
        raw = parse_json(data, name, "bad_workflow_file")
    workflow = to_workflow(raw, registry=registry, source=name, layout_from=layout_from)
    return workflow.model_dump(mode="json", exclude_none=True)


@routes.post("/api/import/comfy")
async def import_comfy(request: web.Request) -> web.Response:
    """Convert a ComfyUI workflow (API or UI format; JSON body, or multipart 'file' JSON/PNG) to graphflow's format."""
    if request.content_type.startswith("multipart/"):
        name, data = await read_form_file(request, "file")
    else:
        name, data = "upload", await request.read()
    try:
        converted = await asyncio.to_thread(_convert, data, name, request.app[FILES], request.app[PLUGINS].registry)
    except WorkflowFileError as exc:
        raise ApiError("bad_workflow_file", str(exc)) from None
    return web.json_response(converted)
