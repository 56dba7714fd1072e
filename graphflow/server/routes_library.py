"""Node catalogue, workflow files (repo read-only, user read-write), model lists and system info."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from graphflow.interop import to_workflow
from graphflow.interop.comfy_nodes import NODE_MAPS
from graphflow.server.config import ServerConfig
from graphflow.server.errors import ApiError, json_object, parse_json, read_json
from graphflow.server.files import FileStore, confined
from graphflow.server.keys import CONFIG, FILES, PLUGINS, STARTED
from graphflow.server.paths import PathEscape, confine, relative_name
from graphflow.server.routes_files import read_form_file
from graphflow.workflow import PNG_KEY, WorkflowFileError

routes = web.RouteTableDef()
SOURCES = ("repo", "user")


@routes.get("/api/nodes")
async def nodes(request: web.Request) -> web.Response:
    """Every node type's schema and the plugins that failed to load."""
    registry = request.app[PLUGINS].registry
    catalogue = await asyncio.to_thread(registry.catalogue, request.app[CONFIG].settings)
    names = comfy_names()
    for schema in catalogue:
        schema["comfy_names"] = names.get(schema["type"], [])
    return web.json_response(
        {"nodes": catalogue, "problems": [{"plugin": p.plugin, "message": p.message} for p in registry.problems]},
        dumps=lambda data: json.dumps(data, default=str),
    )


@functools.cache
def comfy_names() -> dict[str, list[str]]:
    """Type id -> the ComfyUI class names and display names that import as it (for search in the editor)."""
    names: dict[str, list[str]] = {}
    for mapping in NODE_MAPS.values():
        known = names.setdefault(mapping.target, [])
        known.extend(n for n in (mapping.comfy, mapping.display_name) if n and n not in known)
    return names


def _workflow_root(config: ServerConfig, source: str) -> Path:
    if source == "repo":
        return config.examples_dir
    if source == "user":
        return config.user_workflows_dir
    raise ApiError("not_found", f"workflow source {source!r} is not one of: {', '.join(SOURCES)}")


def _list_workflows(config: ServerConfig) -> list[dict[str, Any]]:
    found = []
    for source in SOURCES:
        root = _workflow_root(config, source)
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*.json")):
            try:
                confine(root, relative_name(root, path))
            except (PathEscape, ValueError):
                continue  # a symlink leading out of the folder is not listed
            stat = path.stat()
            found.append(
                {
                    "source": source,
                    "name": path.relative_to(root).as_posix(),
                    "readonly": source == "repo",
                    "size": stat.st_size,
                    "modified": stat.st_mtime,
                }
            )
    return found


@routes.get("/api/workflows")
async def list_workflows(request: web.Request) -> web.Response:
    """The saved workflows of both folders."""
    return web.json_response({"workflows": await asyncio.to_thread(_list_workflows, request.app[CONFIG])})


def _workflow_path(request: web.Request) -> tuple[str, str, Path]:
    source, name = request.match_info["source"], request.match_info["name"]
    root = _workflow_root(request.app[CONFIG], source)
    if not name.endswith(".json"):
        raise ApiError("bad_request", f"workflow name {name!r} must end with .json")
    return source, name, confined(root, name)


def _normalised(data: Any, source: str) -> dict[str, Any]:
    """Any known workflow format (graphflow, ComfyUI API or UI) as graphflow workflow JSON."""
    try:
        return to_workflow(data, source=source).model_dump(mode="json", exclude_none=True)
    except WorkflowFileError as exc:
        raise ApiError("bad_workflow_file", str(exc)) from None


def _load(path: Path, name: str) -> dict[str, Any]:
    return _normalised(parse_json(path.read_bytes(), name, "bad_workflow_file"), name)


@routes.get("/api/workflows/{source}/{name:.+}")
async def load_workflow(request: web.Request) -> web.Response:
    """One workflow file, migrated to the current format."""
    source, name, path = _workflow_path(request)
    if not path.is_file():
        raise ApiError("not_found", f"no workflow {name!r} in the {source} folder")
    return web.json_response(await asyncio.to_thread(_load, path, name))


@routes.put("/api/workflows/{source}/{name:.+}")
async def save_workflow(request: web.Request) -> web.Response:
    """Save a workflow into the user folder."""
    if request.match_info["source"] == "repo":
        raise ApiError("read_only", "the repository's workflows folder is read-only; save to 'user'")
    source, name, path = _workflow_path(request)
    workflow = await asyncio.to_thread(_normalised, json_object(await read_json(request), "workflow"), name)
    if path.exists() and request.query.get("overwrite", "true").lower() in ("0", "false", "no"):
        raise ApiError("conflict", f"workflow {name!r} already exists; save with ?overwrite=true to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(path.write_text, json.dumps(workflow, indent=2) + "\n", encoding="utf-8")
    return web.json_response({"source": source, "name": name})


@routes.delete("/api/workflows/{source}/{name:.+}")
async def delete_workflow(request: web.Request) -> web.Response:
    """Delete a workflow from the user folder."""
    if request.match_info["source"] == "repo":
        raise ApiError("read_only", "the repository's workflows folder is read-only")
    _, name, path = _workflow_path(request)
    if not path.is_file():
        raise ApiError("not_found", f"no workflow {name!r} in the user folder")
    path.unlink()
    return web.json_response({"deleted": name})


def _png_workflow(files: FileStore, data: bytes, name: str) -> Any:
    text = files.png_text(data, name)
    if PNG_KEY not in text:
        raise ApiError("bad_workflow_file", f"{name} carries no graphflow workflow")
    return parse_json(text[PNG_KEY], f"the workflow text in {name}", "bad_workflow_file")


@routes.post("/api/workflows/extract")
async def extract_workflow(request: web.Request) -> web.Response:
    """The workflow embedded in an uploaded PNG."""
    if not request.content_type.startswith("multipart/"):
        raise ApiError("bad_request", "send the PNG as multipart/form-data with a field named 'file'")
    name, data = await read_form_file(request, "file")
    workflow = await asyncio.to_thread(_png_workflow, request.app[FILES], data, name)
    return web.json_response(await asyncio.to_thread(_normalised, workflow, name))


def model_kind_folders() -> dict[str, str]:
    try:
        from graphflow.models.paths import KINDS
    except ImportError:
        return {}
    return KINDS


@routes.get("/api/models")
async def model_kinds(request: web.Request) -> web.Response:
    """The model folder kinds."""
    return web.json_response({"kinds": sorted(model_kind_folders())})


@routes.get("/api/models/{kind}")
async def model_files(request: web.Request) -> web.Response:
    """The models of one kind: the shipped ones (`builtin:<name>`) first, then the files in its folder."""
    kind = request.match_info["kind"]
    if kind not in model_kind_folders():
        raise ApiError("not_found", f"unknown model kind {kind!r}; see GET /api/models")
    from graphflow.models.builtin import model_choices

    root = request.app[CONFIG].settings.models_dir
    confined(root, kind)
    files = await asyncio.to_thread(model_choices, root, kind)
    if kind != "checkpoints":
        return web.json_response({"kind": kind, "files": files})
    sizes = await asyncio.to_thread(_native_sizes, root, files)
    return web.json_response({"kind": kind, "files": files, "native_sizes": sizes})


def _native_sizes(root: Path, names: list[str]) -> dict[str, int]:
    """Checkpoint name -> the side in pixels it was trained at, for those whose configs or header tell."""
    from graphflow.models.builtin import resolve_checkpoint
    from graphflow.models.native import native_size

    sizes = {}
    for name in names:
        try:
            size = native_size(resolve_checkpoint(root, name))
        except (OSError, ValueError):  # gone or moved out of the folder since it was listed
            continue
        if size is not None:
            sizes[name] = size
    return sizes


def _device() -> tuple[str | None, dict[str, Any]]:
    try:
        import torch
    except ImportError:
        return None, {"type": "cpu", "name": platform.processor() or "cpu", "memory_total": 0, "memory_free": 0}
    if torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info()
        return torch.__version__, {
            "type": "cuda",
            "name": torch.cuda.get_device_name(),
            "memory_total": total,
            "memory_free": free,
        }
    kind = "mps" if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available() else "cpu"
    return torch.__version__, {"type": kind, "name": platform.processor() or kind, "memory_total": 0, "memory_free": 0}


def system_info(started: float) -> dict[str, Any]:
    import importlib.metadata

    import psutil

    try:
        version = importlib.metadata.version("graphflow")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    torch_version, device = _device()
    memory = psutil.virtual_memory()
    return {
        "graphflow": version,
        "python": platform.python_version(),
        "torch": torch_version,
        "platform": platform.platform(),
        "device": device,
        "memory": {"total": memory.total, "available": memory.available},
        "pid": os.getpid(),
        "uptime": round(time.time() - started, 3),
    }


@routes.get("/api/system")
async def system(request: web.Request) -> web.Response:
    """Versions, device and memory."""
    return web.json_response(await asyncio.to_thread(system_info, request.app[STARTED]))
