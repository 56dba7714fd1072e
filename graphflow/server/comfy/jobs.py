"""ComfyUI's unified job list (/jobs, /jobs/{id}, cancelling): graphflow's stored prompts in ComfyUI's job shape,
which the frontend's queue and history panels read."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from graphflow.interop.comfy_api import META_KEY, owner_of
from graphflow.server.comfy.records import api_prompt, comfy_origin, history_entry
from graphflow.server.errors import ApiError, int_query, json_object, read_json
from graphflow.server.keys import DISPATCHER, STORE
from graphflow.server.queue_store import FINISHED, PromptRecord

routes = web.RouteTableDef()
JOB_STATUS = {
    "pending": "pending",
    "running": "in_progress",
    "sweeping": "in_progress",
    "success": "completed",
    "error": "failed",
    "interrupted": "failed",
    "cancelled": "cancelled",
}
STORED = {job: tuple(s for s, j in JOB_STATUS.items() if j == job) for job in dict.fromkeys(JOB_STATUS.values())}
PREVIEWABLE = ("images", "video", "audio")
MAX_LIMIT = 10_000


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


def outputs_summary(outputs: dict[str, Any]) -> tuple[int, int, dict[str, Any] | None]:
    """How many output items, how many can be previewed, and the one to preview (an `output` file first)."""
    count, previewable, first, first_output = 0, 0, None, None
    for node_id, ui in outputs.items():
        for media, items in (ui or {}).items() if isinstance(ui, dict) else ():
            for item in items if isinstance(items, list) and media != "animated" else ():
                if not isinstance(item, dict):
                    continue
                count += 1
                if media in PREVIEWABLE:
                    previewable += 1
                    preview = {**item, "nodeId": node_id, "mediaType": media}
                    first = first or preview
                    if item.get("type") == "output":
                        first_output = first_output or preview
    return count, previewable, first_output or first


def _error(record: PromptRecord) -> dict[str, Any] | None:
    if record.status != "error":
        return None
    error = record.error or {}
    kind, _, message = str(error.get("message", "")).partition(": ")
    node = error.get("node_id")
    return {
        "prompt_id": record.prompt_id,
        "timestamp": _ms(record.finished_at),
        "node_id": owner_of(node) if node else "",
        "node_type": (comfy_origin(record).get("class_types") or {}).get(owner_of(node) if node else "")
        or error.get("node_type")
        or "",
        "executed": sorted({owner_of(n) for n in record.executed}),
        "exception_message": message or kind,
        "exception_type": kind if message else "",
        "traceback": [],
        "current_inputs": {},
        "current_outputs": {},
    }


def _member(data: Any, key: str) -> Any:
    """`data[key]` when `data` is a JSON object holding it (a client's extra_data may hold anything), else {}."""
    return (data.get(key) or {}) if isinstance(data, dict) else {}


def job(record: PromptRecord, detail: bool = False) -> dict[str, Any]:
    """One prompt as ComfyUI's job (with outputs, status messages and the prompt when `detail`)."""
    origin = comfy_origin(record)
    extra = origin.get("extra_data") or {}
    workflow = _member(_member(extra, "extra_pnginfo"), "workflow")
    outputs = {owner_of(node): ui for node, ui in record.outputs.items()}
    count, previewable, preview = outputs_summary(outputs)
    out: dict[str, Any] = {
        "id": record.prompt_id,
        "status": JOB_STATUS[record.status],
        "priority": record.number,
        "create_time": _ms(record.submitted_at),
        "execution_start_time": _ms(record.started_at),
        "execution_end_time": _ms(record.finished_at),
        "outputs_count": count,
        "previewable_outputs_count": previewable,
        "preview_output": preview,
        "execution_error": _error(record),
        "workflow_id": workflow.get("id") if isinstance(workflow, dict) else None,
    }
    if detail:
        out["outputs"] = outputs
        out["update_time"] = _ms(record.finished_at or record.started_at or record.submitted_at)
        out["workflow"] = {"prompt": api_prompt(record), "extra_data": extra}
        if record.status in FINISHED and record.status != "cancelled":
            out["execution_status"] = history_entry(record)["status"]
    return out


def _statuses(request: web.Request) -> tuple[str, ...]:
    asked = [s.strip() for s in request.query.get("status", ",".join(STORED)).split(",") if s.strip()]
    unknown = [s for s in asked if s not in STORED]
    if unknown:
        raise ApiError("bad_request", f"unknown job status {unknown[0]!r}; known: {', '.join(STORED)}")
    return tuple(stored for status in asked for stored in STORED[status])


@routes.get("/jobs")
async def jobs(request: web.Request) -> web.Response:
    """Jobs filtered by `status` (comma-separated) and `workflow_id`, sorted by `sort_by`/`sort_order`, paged."""
    sort_by, order = request.query.get("sort_by", "created_at"), request.query.get("sort_order", "desc")
    if sort_by not in ("created_at", "execution_duration") or order not in ("asc", "desc"):
        raise ApiError("bad_request", "sort_by must be created_at or execution_duration; sort_order asc or desc")
    offset, limit = int_query(request, "offset", 0, 0, 2**31), int_query(request, "limit", 200, 0, MAX_LIMIT)
    workflow_id = request.query.get("workflow_id")
    meta = (f"{META_KEY}.extra_data.extra_pnginfo.workflow.id", workflow_id) if workflow_id else None
    records, total = request.app[STORE].by_status(
        _statuses(request),
        offset,
        limit,
        by_duration=sort_by == "execution_duration",
        newest=order == "desc",
        meta=meta,
    )
    return web.json_response(
        {
            "jobs": [job(r) for r in records],
            "pagination": {"offset": offset, "limit": limit, "total": total, "has_more": offset + len(records) < total},
        }
    )


def _record(request: web.Request, job_id: str) -> PromptRecord:
    record = request.app[STORE].get(job_id)
    if record is None:
        raise ApiError("not_found", f"no job {job_id!r}")
    return record


@routes.get("/jobs/{job_id}")
async def job_detail(request: web.Request) -> web.Response:
    """One job with its outputs, status messages and prompt."""
    return web.json_response(job(_record(request, request.match_info["job_id"]), detail=True))


def cancel(request: web.Request, job_id: str) -> str:
    """Cancel a pending job or interrupt the running one; returns its new status."""
    record = _record(request, job_id)
    if record.status == "pending":
        request.app[STORE].cancel_pending(job_id)
        request.app[DISPATCHER].notify()
        return "cancelled"
    if record.status == "running":
        request.app[DISPATCHER].interrupt(job_id)
        return "in_progress"
    return JOB_STATUS[record.status]


@routes.post("/jobs/{job_id}/cancel")
async def cancel_one(request: web.Request) -> web.Response:
    """Cancel one job (a finished one stays as it is)."""
    job_id = request.match_info["job_id"]
    return web.json_response({"id": job_id, "status": cancel(request, job_id)})


@routes.post("/jobs/cancel")
async def cancel_many(request: web.Request) -> web.Response:
    """{"job_ids": [...]}: cancel each."""
    ids = json_object(await read_json(request)).get("job_ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ApiError("bad_request", "'job_ids' must be a list of job ids")
    return web.json_response({"jobs": [{"id": i, "status": cancel(request, i)} for i in ids]})
