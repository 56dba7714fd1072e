"""The workflow file format (v1): pydantic models, load/save, PNG embedding, format migrations.

Reading never trusts its input: any JSON value (or PNG) gives a `WorkflowFileError` whose `issues` say what
is wrong, never an exception from deep inside json, pydantic or Pillow.
"""

from __future__ import annotations

import io
import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from graphflow.problems import ValidationIssue, clipped, shown, summarise

FORMAT = "graphflow.workflow"
FORMAT_VERSION = 1
PNG_KEY = "graphflow.workflow"
MAX_DEPTH = 100  # deeper JSON is refused before anything recursive (pydantic, deepcopy, repr) walks it
UNREADABLE, INVALID = "unreadable_file", "invalid_file"


class WorkflowFileError(ValueError):
    """A workflow file cannot be read: missing, not JSON, or not the graphflow format.

    `issues` are its problems in the validator's shape (kind "unreadable_file" or "invalid_file", with the
    node and input where one is at fault); the message names the file and summarises them.
    """

    def __init__(self, message: str, issues: Sequence[ValidationIssue] | None = None, kind: str = INVALID) -> None:
        super().__init__(message)
        self.issues = list(issues) if issues is not None else [ValidationIssue(None, None, kind, message)]


def file_error(source: str, issues: Sequence[ValidationIssue]) -> WorkflowFileError:
    """One error for every problem of a file: one problem as a sentence, several summarised."""
    if len(issues) == 1:
        issue = issues[0]
        return WorkflowFileError(f"{source}: {issue if issue.node_id is not None else issue.message}", issues)
    return WorkflowFileError(f"{source}: {len(issues):,} problems: " + "; ".join(summarise(issues)), issues)


class Link(BaseModel):
    """An edge: the value of `output` of node `node`."""

    model_config = ConfigDict(extra="forbid")
    node: str
    output: str


class NodeEntry(BaseModel):
    """One node of a workflow: its type and version, literal inputs by name, and links by input name.

    `mode` "mute" keeps the node from running; "bypass" also feeds each of its outputs from its first linked
    input of the same type (`graphflow.bypass`).
    """

    model_config = ConfigDict(extra="forbid")
    type: str
    version: str = "1.0.0"
    plugin: str | None = None
    title: str | None = None
    mode: Literal["bypass", "mute"] | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    links: dict[str, Link] = Field(default_factory=dict)


class Workflow(BaseModel):
    """A whole workflow file; `ui` (positions, sizes, groups, notes, reroutes) is carried through unchanged."""

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
    nodes = data.get("nodes", {})
    if not isinstance(nodes, dict):
        return {**data, "version": 1}  # the file format's own check says what is wrong
    migrated = {}
    for node_id, entry in nodes.items():
        if isinstance(entry, dict) and "connections" in entry:
            entry = dict(entry)
            entry["links"] = _links_from_pairs(str(node_id), entry.pop("connections"))
        migrated[node_id] = entry
    return {**data, "nodes": migrated, "version": 1}


def _links_from_pairs(node_id: str, pairs: Any) -> dict[str, Any]:
    if not isinstance(pairs, dict):
        raise WorkflowFileError(
            "'connections' must map input names to [node, output] pairs",
            [ValidationIssue(node_id, None, INVALID, "'connections' must map input names to [node, output] pairs")],
        )
    links = {}
    for name, pair in pairs.items():
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            message = f"connection {shown(name)} must be a [node, output] pair of names, not {shown(pair)}"
            raise WorkflowFileError(message, [ValidationIssue(node_id, str(name), INVALID, message)])
        links[name] = {"node": pair[0], "output": pair[1]}
    return links


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring raw workflow JSON of any known older version up to the current one."""
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise WorkflowFileError(f"workflow has no integer 'version' (it has {shown(version)})")
    if version > FORMAT_VERSION:
        raise WorkflowFileError(
            f"workflow format version {shown(version)} is newer than this graphflow understands "
            f"({FORMAT_VERSION}); upgrade graphflow"
        )
    while version < FORMAT_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise WorkflowFileError(f"no migration from workflow format version {shown(version)}")
        data = step(data)
        version = data["version"]
    return data


def parse_workflow(data: Any, source: str = "workflow") -> Workflow:
    """Validate raw JSON data as a workflow, migrating old versions; errors name `source`."""
    if not isinstance(data, dict):
        raise WorkflowFileError(f"{source}: expected a JSON object, got {type(data).__name__}")
    check_nesting(data, source)
    if data.get("format") != FORMAT:
        raise WorkflowFileError(f'{source}: not a graphflow workflow (missing "format": "{FORMAT}")')
    try:
        return Workflow.model_validate(migrate(data))
    except WorkflowFileError as exc:
        raise file_error(source, exc.issues) from None
    except ValidationError as exc:
        raise file_error(source, [format_issue(e["loc"], e["msg"]) for e in exc.errors()]) from None


def format_issue(loc: tuple[int | str, ...], message: str) -> ValidationIssue:
    """A file-format problem at `loc` (pydantic's path), naming the node and input it lies in."""
    parts = [clipped(str(p), 40) for p in loc]
    node = str(loc[1]) if len(loc) > 1 and loc[0] == "nodes" else None
    input_ = str(loc[3]) if node is not None and len(loc) > 3 and loc[2] in ("inputs", "links") else None
    where = ".".join(parts[2:] if node is not None else parts)
    message = _PYDANTIC_CLASS.sub("", message)  # "a valid dictionary or instance of Link": the class means nothing here
    return ValidationIssue(node, input_, INVALID, f"{where}: {message}" if where else message)


_PYDANTIC_CLASS = re.compile(r" or instance of \w+")


def check_nesting(data: Any, source: str, limit: int = MAX_DEPTH) -> None:
    """Refuse data no JSON text could hold safely: nested more than `limit` levels deep, or with an integer
    too long for Python to print (walked without recursion)."""
    max_bits = sys.get_int_max_str_digits() * 3.33  # log2(10) bits a digit
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list | tuple):
            children = value
        else:
            if isinstance(value, int) and max_bits and value.bit_length() > max_bits:
                raise WorkflowFileError(f"{source}: a number has more than {sys.get_int_max_str_digits()} digits")
            continue
        if depth > limit:
            raise WorkflowFileError(f"{source}: nested too deeply (more than {limit} levels)", kind=UNREADABLE)
        stack.extend((child, depth + 1) for child in children)


def loads_json(text: str | bytes, source: str) -> Any:
    """Parse untrusted JSON text: invalid, too deeply nested or with too long a number is a WorkflowFileError."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise WorkflowFileError(f"{source}: not valid JSON (nested too deeply)", kind=UNREADABLE) from None
    except json.JSONDecodeError as exc:
        raise WorkflowFileError(f"{source}: not valid JSON ({clipped(str(exc), 120)})", kind=UNREADABLE) from None
    except UnicodeDecodeError:
        raise WorkflowFileError(f"{source}: not valid JSON (not UTF-8 text)", kind=UNREADABLE) from None
    except ValueError:  # Python refuses to read integers longer than its int-str limit
        digits = sys.get_int_max_str_digits()
        raise WorkflowFileError(
            f"{source}: not valid JSON (a number has more than {digits} digits)", kind=UNREADABLE
        ) from None
    check_nesting(data, source)
    return data


def read_workflow_data(path: str | Path) -> Any:
    """Raw JSON of a workflow file, or of the workflow embedded in a PNG."""
    path = Path(path)
    if not path.is_file():
        raise WorkflowFileError(f"{path}: no such file", kind=UNREADABLE)
    if path.suffix.lower() == ".png":
        return _png_workflow_data(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise WorkflowFileError(f"{path}: cannot be read ({exc.strerror or exc})", kind=UNREADABLE) from None
    return loads_json(raw, str(path))


def load_workflow(path: str | Path) -> Workflow:
    """Read a workflow from a .json file or a PNG that carries one."""
    return parse_workflow(read_workflow_data(path), source=str(path))


def save_workflow(workflow: Workflow, path: str | Path) -> None:
    """Write a workflow as JSON."""
    Path(path).write_text(workflow.to_json() + "\n", encoding="utf-8")


def read_png_text(file: Path | bytes, source: str) -> dict[str, str]:
    """The text chunks of a PNG (a file or its bytes); a file Pillow cannot read is a WorkflowFileError.

    Chunks before the image data are read without decoding the pixels; only when none of them is a
    workflow are the pixels decoded to reach chunks stored after them.
    """
    from PIL import Image

    try:
        with Image.open(io.BytesIO(file) if isinstance(file, bytes) else file) as image:
            text = {k: v for k, v in image.info.items() if isinstance(k, str) and isinstance(v, str)}
            if not text.keys() & {PNG_KEY, "workflow", "prompt"}:
                text.update(getattr(image, "text", None) or {})
            return text
    except Exception as exc:  # a damaged file raises whatever its decoder meets: OSError, SyntaxError, zlib.error...
        reason = clipped(f"{type(exc).__name__}: {exc}", 160)
        raise WorkflowFileError(f"{source}: not a readable PNG ({reason})", kind=UNREADABLE) from None


def _png_workflow_data(path: Path) -> Any:
    text = read_png_text(path, str(path))
    for key in (PNG_KEY, "workflow", "prompt"):
        if key in text:
            return loads_json(text[key], f"{path}: its {key!r} text chunk")
    raise WorkflowFileError(f"{path}: this PNG carries no workflow", kind=UNREADABLE)
