"""REST routes for validation, the queue, interrupting and history."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from graphflow.graph import validate
from graphflow.server.errors import ApiError, int_query, json_object, optional_json_object, read_json
from graphflow.server.keys import CONFIG, DISPATCHER, PLUGINS, STORE
from graphflow.server.queue_store import SWEEPING, PromptRecord
from graphflow.server.run_summary import run_summary
from graphflow.server.sweeps import SWEEPS
from graphflow.workflow import Workflow, WorkflowFileError, parse_workflow

routes = web.RouteTableDef()
MAX_HISTORY_PAGE = 500
PRIORITIES = (-(2**63), 2**63 - 1)  # SQLite's INTEGER


def checked_workflow(
    request: web.Request, data: Any, targets: list[str] | None
) -> tuple[Workflow | None, list[dict[str, Any]]]:
    """The parsed workflow and every problem of it as Issue dicts; a file that is not a workflow is one
    `bad_workflow_file` issue. Slow on big workflows: call it off the event loop."""
    try:
        workflow = parse_workflow(data)
    except WorkflowFileError as exc:
        return None, [{"node_id": None, "input": None, "kind": "bad_workflow_file", "message": str(exc)}]
    registry, settings = request.app[PLUGINS].registry, request.app[CONFIG].settings
    return workflow, [issue.to_dict() for issue in validate(workflow, registry, settings, targets)]


def _targets(body: dict[str, Any]) -> list[str] | None:
    targets = body.get("targets")
    if targets is not None and (not isinstance(targets, list) or not all(isinstance(t, str) for t in targets)):
        raise ApiError("bad_request", "'targets' must be a list of node ids")
    return targets


def _priority(body: dict[str, Any]) -> int:
    priority = body.get("priority", 0)
    low, high = PRIORITIES
    if not isinstance(priority, int) or isinstance(priority, bool) or not low <= priority <= high:
        raise ApiError("bad_request", f"'priority' must be an integer between {low} and {high}")
    return priority


def _text_or_null(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise ApiError("bad_request", f"{name!r} must be text")
    return value


def _record_or_404(request: web.Request) -> PromptRecord:
    prompt_id = request.match_info["prompt_id"]
    record = request.app[STORE].get(prompt_id)
    if record is None:
        raise ApiError("not_found", f"no prompt with id {prompt_id!r}")
    return record


@routes.post("/api/validate")
async def validate_workflow(request: web.Request) -> web.Response:
    """Check a workflow and return every issue."""
    body = json_object(await read_json(request))
    _, issues = await asyncio.to_thread(checked_workflow, request, body.get("workflow"), _targets(body))
    return web.json_response({"valid": not issues, "issues": issues})


def _stored(workflow: Workflow) -> dict[str, Any]:
    return workflow.model_dump(mode="json", exclude_none=True)


@dataclass(frozen=True)
class Submission:
    """A checked request to queue a workflow: the body, the valid workflow and the queueing fields."""

    body: dict[str, Any]
    workflow: Workflow
    targets: list[str] | None
    priority: int
    client_id: str | None


async def checked_submission(request: web.Request) -> Submission:
    """The request's workflow and queueing fields, checked off the event loop; a 400 naming every problem."""
    body = json_object(await read_json(request))
    targets, priority, client_id = _targets(body), _priority(body), _text_or_null(body, "client_id")
    workflow, issues = await asyncio.to_thread(checked_workflow, request, body.get("workflow"), targets)
    if issues or workflow is None:
        raise ApiError(
            "invalid_workflow", f"the workflow has {len(issues)} problem(s); nothing was queued", issues=issues
        )
    return Submission(body, workflow, targets, priority, client_id)


@routes.post("/api/prompt")
async def submit(request: web.Request) -> web.Response:
    """Validate a workflow and queue it."""
    checked = await checked_submission(request)
    body, targets, priority, client_id = checked.body, checked.targets, checked.priority, checked.client_id
    stored = await asyncio.to_thread(_stored, checked.workflow)
    store = request.app[STORE]
    record = store.add(stored, client_id=client_id, priority=priority, front=bool(body.get("front")), targets=targets)
    request.app[DISPATCHER].notify()
    return web.json_response(
        {"prompt_id": record.prompt_id, "number": record.number, "position": store.position(record)}
    )


@routes.get("/api/queue")
async def queue(request: web.Request) -> web.Response:
    """The running prompts (`running`: the longest-running one; `running_all`: one per busy worker) and the
    pending ones in run order."""
    running = [r.record.queue_item() for r in request.app[DISPATCHER].running.values()]
    return web.json_response(
        {
            "running": running[0] if running else None,
            "running_all": running,
            "pending": [r.queue_item() for r in request.app[STORE].pending()],
        }
    )


@routes.delete("/api/queue/{prompt_id}")
async def cancel_one(request: web.Request) -> web.Response:
    """Remove one pending prompt from the queue."""
    record = _record_or_404(request)
    if record.status == "running":
        raise ApiError("conflict", f"prompt {record.prompt_id!r} is running; stop it with POST /api/interrupt")
    if record.status == SWEEPING:  # a sweep's parent: its children go
        cancelled, _ = request.app[SWEEPS].stop(record.prompt_id)
        request.app[DISPATCHER].notify()
        return web.json_response({"cancelled": cancelled})
    cancelled = request.app[STORE].cancel_pending(record.prompt_id)
    if not cancelled:
        raise ApiError("not_found", f"prompt {record.prompt_id!r} is not pending (it is {record.status})")
    request.app[DISPATCHER].notify()
    return web.json_response({"cancelled": cancelled})


@routes.delete("/api/queue")
async def cancel_all(request: web.Request) -> web.Response:
    """Remove every pending prompt from the queue."""
    cancelled = request.app[STORE].cancel_pending()
    request.app[DISPATCHER].notify()
    return web.json_response({"cancelled": cancelled})


@routes.post("/api/interrupt")
async def interrupt(request: web.Request) -> web.Response:
    """Stop the running prompt at its next cancellation check."""
    body = await optional_json_object(request)
    prompt_id = _text_or_null(body, "prompt_id")
    return web.json_response({"interrupted": request.app[DISPATCHER].interrupt(prompt_id)})


@routes.get("/api/prompt/{prompt_id}")
async def prompt_record(request: web.Request) -> web.Response:
    """One prompt in any state, with its workflow."""
    return web.json_response(_record_or_404(request).to_dict(workflow=True))


@routes.post("/api/prompt/{prompt_id}/requeue")
async def requeue(request: web.Request) -> web.Response:
    """Queue a finished prompt's workflow again as a new prompt."""
    record = _record_or_404(request)
    if record.status in ("pending", "running"):
        raise ApiError("conflict", f"prompt {record.prompt_id!r} is still {record.status}")
    store = request.app[STORE]
    new = store.add(
        record.workflow,
        client_id=record.client_id,
        priority=record.priority,
        targets=record.targets,
        requeued_from=record.prompt_id,
    )
    request.app[DISPATCHER].notify()
    return web.json_response({"prompt_id": new.prompt_id, "number": new.number, "position": store.position(new)})


@routes.get("/api/history")
async def history(request: web.Request) -> web.Response:
    """Finished prompts, newest first, a page at a time, each with the `summary` a history row shows."""
    offset = int_query(request, "offset", 0, 0, 2**31)
    limit = int_query(request, "limit", 50, 1, MAX_HISTORY_PAGE)
    items, total = request.app[STORE].history(offset, limit)
    registry = request.app[PLUGINS].registry
    shown = [{**r.to_dict(), "summary": run_summary(r.workflow, registry)} for r in items]
    return web.json_response({"items": shown, "total": total, "offset": offset, "limit": limit})


@routes.delete("/api/history/{prompt_id}")
async def delete_history_entry(request: web.Request) -> web.Response:
    """Delete one finished prompt."""
    prompt_id = request.match_info["prompt_id"]
    if not request.app[STORE].delete_finished(prompt_id):
        raise ApiError("not_found", f"no finished prompt with id {prompt_id!r}")
    return web.json_response({"deleted": prompt_id})


@routes.delete("/api/history")
async def clear_history(request: web.Request) -> web.Response:
    """Delete every finished prompt."""
    return web.json_response({"deleted": request.app[STORE].delete_finished()})
