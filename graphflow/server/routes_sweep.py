"""Fan-out routes: a sweep of a workflow queued as child prompts under a parent prompt, and cancelling a prompt
(a parent with its children)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from graphflow.graph import validate
from graphflow.server.errors import ApiError
from graphflow.server.keys import CONFIG, DISPATCHER, PLUGINS, STORE
from graphflow.server.queue_store import SWEEPING
from graphflow.server.routes_prompts import _record_or_404, checked_submission
from graphflow.server.sweeps import SWEEPS, child_workflow, parent_workflow
from graphflow.sweep import Child, SweepInvalid, expand, parse_sweep
from graphflow.workflow import Workflow

routes = web.RouteTableDef()


@routes.post("/api/prompt/sweep")
async def submit_sweep(request: web.Request) -> web.Response:
    """Validate a workflow and a sweep over it; queue one child prompt per cell under a parent prompt."""
    checked = await checked_submission(request)
    body, workflow, targets = checked.body, checked.workflow, checked.targets
    priority, client_id = checked.priority, checked.client_id
    parent, children = await asyncio.to_thread(_expanded, request, workflow, body.get("sweep"), targets)
    store = request.app[STORE]
    record, child_ids = store.add_sweep(parent, children, client_id=client_id, priority=priority, targets=targets)
    request.app[DISPATCHER].notify()
    first = store.get(child_ids[0])
    return web.json_response(
        {
            "prompt_id": record.prompt_id,
            "number": record.number,
            "children": child_ids,
            "position": store.position(first) if first is not None else 0,
        }
    )


def _expanded(
    request: web.Request, workflow: Workflow, sweep_body: Any, targets: list[str] | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The parent's and the children's workflows as stored, or a 400 naming the axis, node and input at fault.
    Slow on big sweeps: call it off the event loop."""
    registry = request.app[PLUGINS].registry
    try:
        sweep = parse_sweep(sweep_body)
        children = expand(workflow, sweep, registry)
    except SweepInvalid as exc:
        raise ApiError(
            "invalid_workflow", f"{exc}; nothing was queued", issues=[issue.to_dict() for issue in exc.issues]
        ) from None
    issues = _child_issues(request, children, targets)
    if issues:
        raise ApiError(
            "invalid_workflow",
            f"the sweep makes children with {len(issues)} problem(s); nothing was queued",
            issues=issues,
        )
    stored = workflow.model_dump(mode="json", exclude_none=True)
    return parent_workflow(stored, sweep), [child_workflow(child) for child in children]


def _child_issues(request: web.Request, children: list[Child], targets: list[str] | None) -> list[dict[str, Any]]:
    """Every distinct problem of the children (a swept value out of bounds, say), each said once, prefixed
    with the labels of the first child that has it."""
    registry, settings = request.app[PLUGINS].registry, request.app[CONFIG].settings
    seen: set[tuple[str | None, str | None, str, str]] = set()
    issues: list[dict[str, Any]] = []
    for child in children:
        for issue in validate(child.workflow, registry, settings, targets):
            key = (issue.node_id, issue.input, issue.kind, issue.message)
            if key not in seen:
                seen.add(key)
                issues.append({**issue.to_dict(), "message": f"{', '.join(child.labels)}: {issue.message}"})
    return issues


@routes.post("/api/prompt/{prompt_id}/cancel")
async def cancel(request: web.Request) -> web.Response:
    """Stop a prompt: a pending one is cancelled, a running one interrupted; a sweep's parent has its pending
    children cancelled and its running ones interrupted, and ends once they have."""
    record = _record_or_404(request)
    store, dispatcher = request.app[STORE], request.app[DISPATCHER]
    prompt_id = record.prompt_id
    if record.status == SWEEPING:
        cancelled, interrupted = request.app[SWEEPS].stop(prompt_id)
    elif record.status == "pending":
        cancelled, interrupted = store.cancel_pending(prompt_id), []
    elif record.status == "running":
        cancelled, interrupted = [], [prompt_id] if dispatcher.interrupt(prompt_id) else []
    else:
        raise ApiError("conflict", f"prompt {prompt_id!r} has already ended ({record.status})")
    dispatcher.notify()
    return web.json_response({"cancelled": cancelled, "interrupted": interrupted})
