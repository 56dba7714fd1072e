"""Which workflow a PNG's text chunks carry: graphflow's own, else what ComfyUI executed, laid out like ComfyUI's.

ComfyUI's SaveImage writes two chunks: `prompt` (the API-format graph that ran) and `workflow` (the editor's
UI-format graph). The `prompt` decides what is imported; the `workflow` only lends positions, and only when
its nodes match (see `comfy_ui.layout_for`), so frontend-only or unknown node types in it never block a
picture whose executed graph graphflow can run. A PNG with only a `workflow` chunk is imported from it.
"""

from __future__ import annotations

from typing import Any

from graphflow.workflow import PNG_KEY, UNREADABLE, WorkflowFileError, loads_json

PROMPT_KEY, WORKFLOW_KEY = "prompt", "workflow"


def _chunk(text: dict[str, str], key: str, source: str) -> Any:
    where = f"{source}: its {key!r} text chunk"
    if not isinstance(text[key], str):
        raise WorkflowFileError(f"{where}: not text", kind=UNREADABLE)
    return loads_json(text[key], where)


def _is_prompt(data: Any) -> bool:
    return (
        isinstance(data, dict) and bool(data) and all(isinstance(n, dict) and "class_type" in n for n in data.values())
    )


def png_workflow(text: dict[str, str], source: str = "image") -> tuple[Any, Any]:
    """(data, layout) from a PNG's text chunks: graphflow's own; else ComfyUI's executed `prompt` (with the
    `workflow` chunk as a layout to try); else ComfyUI's `workflow`."""
    if PNG_KEY in text:
        return _chunk(text, PNG_KEY, source), None
    prompt = _chunk(text, PROMPT_KEY, source) if PROMPT_KEY in text else None
    workflow = _chunk(text, WORKFLOW_KEY, source) if WORKFLOW_KEY in text else None
    if _is_prompt(prompt):
        return prompt, workflow
    if workflow is not None:
        return workflow, None
    if prompt is not None:
        raise WorkflowFileError(f"{source}: its 'prompt' text chunk is not a ComfyUI API-format prompt")
    raise WorkflowFileError(f"{source}: this PNG carries no workflow", kind=UNREADABLE)
