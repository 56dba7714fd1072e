"""Prompts as ComfyUI's API shows them: queue tuples and history entries, from graphflow's stored records."""

from __future__ import annotations

from typing import Any

from graphflow.interop import export_api
from graphflow.interop.comfy_api import META_KEY, owner_of
from graphflow.server.queue_store import PromptRecord
from graphflow.workflow import parse_workflow

HISTORY_STATUS = {"success": "success", "error": "error", "interrupted": "error"}


def comfy_origin(record: PromptRecord) -> dict[str, Any]:
    """What the ComfyUI import kept of a prompt (its API prompt, extra data, outputs to run), or {}."""
    meta = record.workflow.get("meta")
    origin = meta.get(META_KEY) if isinstance(meta, dict) else None
    return origin if isinstance(origin, dict) else {}


def api_prompt(record: PromptRecord) -> dict[str, Any]:
    origin = comfy_origin(record)
    if "prompt" in origin:
        return origin["prompt"]
    try:
        return export_api(parse_workflow(record.workflow))
    except ValueError:  # a graphflow-only workflow: ComfyUI cannot describe it
        return {}


def queue_item(record: PromptRecord) -> list[Any]:
    """ComfyUI's queue tuple: [number, prompt_id, prompt, extra_data, outputs_to_execute]."""
    origin = comfy_origin(record)
    return [
        record.number,
        record.prompt_id,
        api_prompt(record),
        origin.get("extra_data", {}),
        origin.get("outputs_to_execute", []),
    ]


def history_entry(record: PromptRecord) -> dict[str, Any]:
    """One finished prompt as ComfyUI's /history shows it."""
    ms = int((record.finished_at or 0) * 1000)
    messages: list[list[Any]] = [
        ["execution_start", {"prompt_id": record.prompt_id, "timestamp": int((record.started_at or 0) * 1000)}],
        [
            "execution_cached",
            {
                "nodes": sorted({owner_of(n) for n in record.cached}),
                "prompt_id": record.prompt_id,
                "timestamp": int((record.started_at or 0) * 1000),
            },
        ],
    ]
    error = record.error or {}
    if record.status == "success":
        messages.append(["execution_success", {"prompt_id": record.prompt_id, "timestamp": ms}])
    elif record.status == "interrupted":
        messages.append(
            [
                "execution_interrupted",
                {
                    "prompt_id": record.prompt_id,
                    "node_id": error.get("node_id"),
                    "node_type": error.get("node_type"),
                    "executed": record.executed,
                    "timestamp": ms,
                },
            ]
        )
    else:
        messages.append(
            [
                "execution_error",
                {
                    "prompt_id": record.prompt_id,
                    "node_id": error.get("node_id"),
                    "node_type": error.get("node_type"),
                    "exception_message": error.get("message", ""),
                    "timestamp": ms,
                },
            ]
        )
    outputs = {owner_of(node_id): ui for node_id, ui in record.outputs.items()}
    return {
        "prompt": queue_item(record),
        "outputs": outputs,
        "status": {
            "status_str": HISTORY_STATUS[record.status],
            "completed": record.status == "success",
            "messages": messages,
        },
        "meta": {n: {"node_id": n, "display_node": n, "parent_node": None, "real_node_id": n} for n in outputs},
    }
