"""ComfyUI's server API beside graphflow's own: /prompt, /queue, /history, /view, uploads, /object_info ...

Requests and answers have ComfyUI's shapes (see /work/shared/reference/comfyui.md section 3) and go
through graphflow's queue, store, dispatcher, path confinement and security middleware.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
import uuid
from typing import Any

from aiohttp import BodyPartReader, web

from graphflow.graph import validate
from graphflow.interop import export_api, png_workflow, to_workflow
from graphflow.interop.comfy_api import META_KEY, ComfyImportError, import_api, owner_of
from graphflow.interop.comfy_schema import invalid_prompt, object_info, prompt_errors
from graphflow.server.errors import ApiError, json_object
from graphflow.server.keys import CONFIG, DISPATCHER, PLUGINS, STARTED, STORE
from graphflow.server.paths import PathEscape, create_free_file, relative_name, safe_filename
from graphflow.server.queue_store import PromptRecord
from graphflow.server.routes_files import confined, folder_of, upload_image, view
from graphflow.server.routes_library import model_kind_folders, system_info
from graphflow.workflow import WorkflowFileError, parse_workflow

routes = web.RouteTableDef()
SECRET_EXTRA_DATA = ("api_key_comfy_org", "auth_token_comfy_org")
HISTORY_STATUS = {"success": "success", "error": "error", "interrupted": "error"}

routes.get("/view")(view)


def _bad(body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=400)


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        return json_object(json.loads(await request.text()))
    except ValueError:
        raise ApiError("bad_request", "the request body is not valid JSON") from None


def _origin(record: PromptRecord) -> dict[str, Any]:
    return (record.workflow.get("meta") or {}).get(META_KEY) or {}


def _api_prompt(record: PromptRecord) -> dict[str, Any]:
    origin = _origin(record)
    if "prompt" in origin:
        return origin["prompt"]
    try:
        return export_api(parse_workflow(record.workflow))
    except ValueError:  # a graphflow-only workflow: ComfyUI cannot describe it
        return {}


def queue_item(record: PromptRecord) -> list[Any]:
    """ComfyUI's queue tuple: [number, prompt_id, prompt, extra_data, outputs_to_execute]."""
    origin = _origin(record)
    return [record.number, record.prompt_id, _api_prompt(record), origin.get("extra_data", {}),
            origin.get("outputs_to_execute", [])]


def history_entry(record: PromptRecord) -> dict[str, Any]:
    """One finished prompt as ComfyUI's /history shows it."""
    ms = int((record.finished_at or 0) * 1000)
    messages: list[list[Any]] = [
        ["execution_start", {"prompt_id": record.prompt_id, "timestamp": int((record.started_at or 0) * 1000)}],
        ["execution_cached", {"nodes": sorted({owner_of(n) for n in record.cached}), "prompt_id": record.prompt_id,
                              "timestamp": int((record.started_at or 0) * 1000)}]]
    error = record.error or {}
    if record.status == "success":
        messages.append(["execution_success", {"prompt_id": record.prompt_id, "timestamp": ms}])
    elif record.status == "interrupted":
        messages.append(["execution_interrupted", {"prompt_id": record.prompt_id, "node_id": error.get("node_id"),
                                                   "node_type": error.get("node_type"),
                                                   "executed": record.executed, "timestamp": ms}])
    else:
        messages.append(["execution_error", {"prompt_id": record.prompt_id, "node_id": error.get("node_id"),
                                             "node_type": error.get("node_type"), "exception_message":
                                             error.get("message", ""), "timestamp": ms}])
    outputs = {owner_of(node_id): ui for node_id, ui in record.outputs.items()}
    return {"prompt": queue_item(record), "outputs": outputs,
            "status": {"status_str": HISTORY_STATUS[record.status], "completed": record.status == "success",
                       "messages": messages},
            "meta": {n: {"node_id": n, "display_node": n, "parent_node": None, "real_node_id": n} for n in outputs}}


@routes.post("/prompt")
async def submit(request: web.Request) -> web.Response:
    """Queue an API-format prompt, answering like ComfyUI."""
    body = await _body(request)
    prompt = body.get("prompt")
    if not isinstance(prompt, dict) or not prompt:
        return _bad({"error": {"type": "no_prompt", "message": "No prompt provided", "details": "No prompt provided",
                               "extra_info": {}}, "node_errors": {}})
    registry = request.app[PLUGINS].registry
    try:
        workflow = import_api(prompt, registry=registry, source="prompt")
    except ComfyImportError as exc:
        return _bad(invalid_prompt(str(exc), "; ".join(f"Node ID '#{i}'" for ids in exc.unsupported.values()
                                                      for i in ids), unsupported=exc.unsupported))
    targets = body.get("partial_execution_targets")
    if targets is not None and (not isinstance(targets, list) or not all(isinstance(t, str) for t in targets)):
        return _bad(invalid_prompt("partial_execution_targets must be a list of node ids"))
    issues = validate(workflow, registry, targets)
    if issues:
        return _bad(prompt_errors(issues, workflow, registry))
    prompt_id = body.get("prompt_id") or str(uuid.uuid4())
    store = request.app[STORE]
    if not isinstance(prompt_id, str) or store.get(prompt_id) is not None:
        return _bad(invalid_prompt(f"prompt_id {prompt_id!r} is not new; send another or none"))
    client_id = body.get("client_id")
    extra_data = {k: v for k, v in (body.get("extra_data") or {}).items() if k not in SECRET_EXTRA_DATA}
    outputs = [n for n, e in workflow.nodes.items() if (s := registry.get(e.type)) is not None and s.is_output]
    workflow.meta[META_KEY].update(prompt=prompt, extra_data=extra_data, outputs_to_execute=targets or outputs,
                                   preview_method=extra_data.get("preview_method", "none"))
    record = store.add(workflow.model_dump(mode="json", exclude_none=True),
                       client_id=client_id if isinstance(client_id, str) else None,
                       front=bool(body.get("front")), targets=targets, prompt_id=prompt_id)
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
    return web.json_response({"queue_running": [queue_item(current[0])] if current else [],
                              "queue_pending": [queue_item(r) for r in request.app[STORE].pending()]})


@routes.post("/queue")
async def edit_queue(request: web.Request) -> web.Response:
    """{"clear": true} empties the queue; {"delete": [ids]} removes pending prompts."""
    body, store = await _body(request), request.app[STORE]
    if body.get("clear"):
        store.cancel_pending()
    for prompt_id in body.get("delete") or []:
        store.cancel_pending(str(prompt_id))
    request.app[DISPATCHER].notify()
    return web.Response(status=200)


@routes.post("/interrupt")
async def interrupt(request: web.Request) -> web.Response:
    """Stop the running prompt (only if it is the given prompt_id, when one is given)."""
    body = await _body(request)
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
    body, store = await _body(request), request.app[STORE]
    if body.get("clear"):
        store.delete_finished()
    for prompt_id in body.get("delete") or []:
        store.delete_finished(str(prompt_id))
    return web.Response(status=200)


@routes.post("/upload/image")
async def upload(request: web.Request) -> web.Response:
    """Save an uploaded image in the input folder; answers {name, subfolder, type}."""
    saved = json.loads((await upload_image(request)).text)
    return web.json_response({"name": saved["filename"], "subfolder": saved["subfolder"], "type": saved["type"]})


async def _mask_form(request: web.Request, limit: int) -> dict[str, Any]:
    if not request.content_type.startswith("multipart/"):
        raise ApiError("bad_request", "send the mask as multipart/form-data with fields 'image' and 'original_ref'")
    form: dict[str, Any] = {}
    async for part in await request.multipart():
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "image":
            form["filename"] = part.filename or "mask.png"
            form["image"] = await part.read()
            if len(form["image"]) > limit:
                raise ApiError("too_large", "the upload is too large")
        elif part.name:
            form[part.name] = (await part.text()).strip()
    if not form.get("image") or not form.get("original_ref"):
        raise ApiError("bad_request", "the fields 'image' and 'original_ref' are required")
    return form


def _save_mask(request: web.Request, form: dict[str, Any]) -> dict[str, str]:
    from PIL import Image, UnidentifiedImageError

    config = request.app[CONFIG]
    try:
        ref = json_object(json.loads(form["original_ref"]), "original_ref")
        original_path = confined(folder_of(config, ref.get("type", "input")), ref.get("subfolder", ""),
                                 str(ref.get("filename", "")))
        name = safe_filename(form["filename"])
        with Image.open(io.BytesIO(form["image"])) as painted, Image.open(original_path) as original:
            alpha = painted.getchannel("A") if "A" in painted.getbands() else painted.convert("L")
            merged = original.convert("RGBA")
            merged.putalpha(alpha.resize(merged.size))
    except ValueError:
        raise ApiError("bad_request", "original_ref must be JSON {filename, subfolder, type}") from None
    except PathEscape as exc:
        raise ApiError("forbidden", str(exc)) from None
    except (FileNotFoundError, IsADirectoryError):
        raise ApiError("not_found", f"original image {ref.get('filename')!r} not found") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ApiError("unsupported_media_type", f"not an image Pillow can read ({exc})") from None
    buffer = io.BytesIO()
    merged.save(buffer, format="PNG")
    subfolder = form.get("subfolder", "")
    folder = confined(config.input_dir.resolve(), subfolder)
    path = create_free_file(folder, name, buffer.getvalue(), form.get("overwrite", "").lower() in ("1", "true"))
    return {"name": path.name, "subfolder": relative_name(config.input_dir, folder) if subfolder else "",
            "type": "input"}


@routes.post("/upload/mask")
async def upload_mask(request: web.Request) -> web.Response:
    """ComfyUI's mask upload: the painted image's alpha becomes the alpha of `original_ref`, saved as `image`'s name."""
    form = await _mask_form(request, request.app[CONFIG].max_upload_bytes)
    return web.json_response(await asyncio.to_thread(_save_mask, request, form))


@routes.get("/object_info")
async def objects(request: web.Request) -> web.Response:
    """Definitions of the ComfyUI node types graphflow runs."""
    return web.json_response(await asyncio.to_thread(object_info, request.app[PLUGINS].registry))


@routes.get("/object_info/{class_type}")
async def one_object(request: web.Request) -> web.Response:
    """One node type's definition ({} when unknown, as ComfyUI answers)."""
    info = await asyncio.to_thread(object_info, request.app[PLUGINS].registry)
    name = request.match_info["class_type"]
    return web.json_response({name: info[name]} if name in info else {})


@routes.get("/system_stats")
async def system_stats(request: web.Request) -> web.Response:
    """Versions, memory and device in ComfyUI's shape."""
    info = await asyncio.to_thread(system_info, request.app[STARTED])
    device = info["device"]
    return web.json_response({
        "system": {"os": sys.platform, "ram_total": info["memory"]["total"], "ram_free": info["memory"]["available"],
                   "comfyui_version": f"graphflow {info['graphflow']}", "python_version": sys.version,
                   "pytorch_version": info["torch"], "embedded_python": False, "argv": sys.argv},
        "devices": [{"name": device["name"], "type": device["type"], "index": 0,
                     "vram_total": device["memory_total"], "vram_free": device["memory_free"],
                     "torch_vram_total": device["memory_total"], "torch_vram_free": device["memory_free"]}]})


def _models(request: web.Request, kind: str) -> list[str]:
    from graphflow.models.paths import list_models, models_root

    return list_models(kind, models_root(request.app[CONFIG].models_dir))


@routes.get("/embeddings")
async def embeddings(request: web.Request) -> web.Response:
    """Embedding names (without extension)."""
    names = await asyncio.to_thread(_models, request, "embeddings")
    return web.json_response([name.rsplit(".", 1)[0] for name in names])


@routes.get("/models")
async def model_folders(request: web.Request) -> web.Response:
    """The model folder names."""
    return web.json_response(sorted(model_kind_folders()))


@routes.get("/models/{folder}")
async def model_files(request: web.Request) -> web.Response:
    """The model files in one folder."""
    folder = request.match_info["folder"]
    if folder not in model_kind_folders():
        raise ApiError("not_found", f"unknown model folder {folder!r}; see GET /models")
    return web.json_response(await asyncio.to_thread(_models, request, folder))


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
    """Convert a ComfyUI workflow (API or UI format; JSON body, or a multipart 'file' JSON/PNG) to graphflow's format."""
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
