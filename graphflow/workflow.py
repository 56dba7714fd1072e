"""The workflow file format (v1): pydantic models, load/save, PNG embedding, format migrations."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

FORMAT = "graphflow.workflow"
FORMAT_VERSION = 1
PNG_KEY = "graphflow.workflow"


class WorkflowFileError(ValueError):
    """A workflow file cannot be read: missing, not JSON, or not the graphflow format."""


class Link(BaseModel):
    """An edge: the value of `output` of node `node`."""

    model_config = ConfigDict(extra="forbid")
    node: str
    output: str


class NodeEntry(BaseModel):
    """One node of a workflow: its type and version, literal inputs by name, and links by input name."""

    model_config = ConfigDict(extra="forbid")
    type: str
    version: str = "1.0.0"
    plugin: str | None = None
    title: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    links: dict[str, Link] = Field(default_factory=dict)


class Workflow(BaseModel):
    """A whole workflow file; `ui` (positions, groups, notes) is carried through unchanged."""

    model_config = ConfigDict(extra="forbid")
    format: str = FORMAT
    version: int = FORMAT_VERSION
    nodes: dict[str, NodeEntry] = Field(default_factory=dict)
    ui: dict[str, Any] = Field(default_factory=dict)
    meta: dict[str, Any] = Field(default_factory=dict)

    def to_json(self, indent: int | None = 2) -> str:
        """Serialise to the file format (unset optional node fields are left out)."""
        return json.dumps(self.model_dump(mode="json", exclude_none=True), indent=indent)


# Format migrations: version N -> N+1, applied in order to raw JSON before parsing.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def migration(from_version: int) -> Callable[[Callable[[dict[str, Any]], dict[str, Any]]], Callable]:
    """Register the function that upgrades raw workflow JSON from `from_version` to the next."""

    def decorate(fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable:
        MIGRATIONS[from_version] = fn
        return fn

    return decorate


@migration(0)
def _links_as_objects(data: dict[str, Any]) -> dict[str, Any]:
    """Version 0 (pre-release) wrote links as ["node", "output"] pairs under "connections"."""
    nodes = {}
    for node_id, entry in data.get("nodes", {}).items():
        entry = dict(entry)
        pairs = entry.pop("connections", {})
        entry["links"] = {name: {"node": src, "output": out} for name, (src, out) in pairs.items()}
        nodes[node_id] = entry
    return {**data, "nodes": nodes, "version": 1}


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring raw workflow JSON of any known older version up to the current one."""
    version = data.get("version")
    if not isinstance(version, int):
        raise WorkflowFileError("workflow has no integer 'version'")
    if version > FORMAT_VERSION:
        raise WorkflowFileError(
            f"workflow format version {version} is newer than this graphflow understands ({FORMAT_VERSION}); "
            "upgrade graphflow"
        )
    while version < FORMAT_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise WorkflowFileError(f"no migration from workflow format version {version}")
        data = step(data)
        version = data["version"]
    return data


def parse_workflow(data: Any, source: str = "workflow") -> Workflow:
    """Validate raw JSON data as a workflow, migrating old versions; errors name `source`."""
    if not isinstance(data, dict):
        raise WorkflowFileError(f"{source}: expected a JSON object, got {type(data).__name__}")
    if data.get("format") != FORMAT:
        raise WorkflowFileError(f'{source}: not a graphflow workflow (missing "format": "{FORMAT}")')
    try:
        return Workflow.model_validate(migrate(data))
    except WorkflowFileError as exc:
        raise WorkflowFileError(f"{source}: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        raise WorkflowFileError(f"{source}: {problems}") from None


def read_workflow_data(path: str | Path) -> Any:
    """Raw JSON of a workflow file, or of the workflow embedded in a PNG."""
    path = Path(path)
    if not path.is_file():
        raise WorkflowFileError(f"{path}: no such file")
    if path.suffix.lower() == ".png":
        return _read_png_text(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WorkflowFileError(f"{path}: not valid JSON ({exc})") from None


def load_workflow(path: str | Path) -> Workflow:
    """Read a workflow from a .json file or a PNG that carries one."""
    return parse_workflow(read_workflow_data(path), source=str(path))


def save_workflow(workflow: Workflow, path: str | Path) -> None:
    """Write a workflow as JSON."""
    Path(path).write_text(workflow.to_json() + "\n", encoding="utf-8")


def _read_png_text(path: Path) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            text = dict(getattr(image, "text", {}) or {})
    except (UnidentifiedImageError, OSError) as exc:
        raise WorkflowFileError(f"{path}: not a readable PNG ({exc})") from None
    for key in (PNG_KEY, "workflow", "prompt"):
        if key in text:
            try:
                return json.loads(text[key])
            except json.JSONDecodeError:
                raise WorkflowFileError(f"{path}: its {key!r} text chunk is not valid JSON") from None
    raise WorkflowFileError(f"{path}: this PNG carries no workflow")
