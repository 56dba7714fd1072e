"""Import of other tools' workflow formats (ComfyUI's API and UI formats) and export to ComfyUI's API format.

`detect_format` is the one place that tells the formats apart; `to_workflow` converts any of them;
`load_any` reads a .json file or a PNG that carries a graphflow or ComfyUI workflow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graphflow.interop.comfy_api import ComfyExportError, ComfyImportError, export_api, import_api
from graphflow.interop.comfy_ui import layout_for, ui_to_api
from graphflow.interop.png import png_workflow
from graphflow.registry import Registry
from graphflow.workflow import FORMAT, Workflow, WorkflowFileError, parse_workflow, read_png_text, read_workflow_data

__all__ = [
    "ComfyExportError",
    "ComfyImportError",
    "detect_format",
    "export_api",
    "import_api",
    "load_any",
    "png_workflow",
    "to_workflow",
]

GRAPHFLOW, COMFY_API, COMFY_UI = "graphflow", "comfyui-api", "comfyui-workflow"


def detect_format(data: Any) -> str | None:
    """Which format raw JSON data is in: "graphflow", "comfyui-api", "comfyui-workflow", or None."""
    if not isinstance(data, dict):
        return None
    if data.get("format") == FORMAT:
        return GRAPHFLOW
    if isinstance(data.get("nodes"), list) and ("links" in data or "last_node_id" in data or "version" in data):
        return COMFY_UI
    if data and all(isinstance(node, dict) and "class_type" in node for node in data.values()):
        return COMFY_API
    return None


def to_workflow(
    data: Any, *, registry: Registry | None = None, source: str = "workflow", layout_from: Any = None
) -> Workflow:
    """A graphflow workflow from raw JSON in any known format; `layout_from` (a UI workflow, e.g. a PNG's
    `workflow` chunk) lends an API prompt its layout where its nodes match."""
    kind = detect_format(data)
    if kind == GRAPHFLOW:
        return parse_workflow(data, source=source)
    if kind == COMFY_API:
        ui = layout_for(layout_from, data) if detect_format(layout_from) == COMFY_UI else {}
        return import_api(data, registry=registry, source=source, ui=ui)
    if kind == COMFY_UI:
        prompt, ui = ui_to_api(data, source)
        return import_api(
            prompt,
            registry=registry,
            source=source,
            ui=ui,
            origin={"format": "workflow", "version": data.get("version")},
        )
    raise WorkflowFileError(f"{source}: neither a graphflow workflow nor a ComfyUI workflow (API or UI format)")


def load_any(path: str | Path, registry: Registry | None = None) -> Workflow:
    """Read a workflow file (.json or a PNG carrying one) in graphflow's or ComfyUI's formats."""
    path = Path(path)
    if path.suffix.lower() == ".png" and path.is_file():
        data, layout_from = png_workflow(read_png_text(path, str(path)), str(path))
        return to_workflow(data, registry=registry, source=str(path), layout_from=layout_from)
    return to_workflow(read_workflow_data(path), registry=registry, source=str(path))
