"""Hostile workflow data for property-based tests and `benchmarks/fuzz.py`, and the rule every case must keep:
only the project's own errors come out (file, import and validation problems), with messages short enough
to read, also when the result is exported to ComfyUI's format or its problems shown in ComfyUI's error shape.
A case that breaks it raises `Broken`, whose `kind` says what escaped and from where."""

from __future__ import annotations

import copy
import io
import json
import math
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from graphflow.graph import WorkflowInvalid, validate
from graphflow.interop import ComfyExportError, export_api, load_any, to_workflow
from graphflow.interop.comfy_schema import prompt_errors
from graphflow.registry import Registry
from graphflow.settings import Settings
from graphflow.workflow import MAX_DEPTH, PNG_KEY, WorkflowFileError, parse_workflow

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / "graphflow" / "workflows").glob("*.json"))
COMFY_DATA = ROOT / "tests" / "interop" / "data"  # subgraphs, group nodes, ComfyUI's default, custom nodes
COMFY_FILES = sorted((ROOT / "graphflow" / "workflows" / "comfyui").glob("*.json")) + sorted(
    [*COMFY_DATA.glob("*_api.json"), *COMFY_DATA.glob("*_ui.json")]
)
MESSAGE_LIMIT = 5_000


class _Huge(int):
    """An integer of more digits than Python prints by default, that hypothesis can still show in reports."""

    def __repr__(self) -> str:
        return "10**5000"


HUGE = _Huge(10**5000)

# Values that have broken parsers before: non-finite floats, numbers past 64 bits, digits that are not
# ASCII ("²".isdigit() is True), empty and odd strings, and containers where scalars belong.
SPECIALS: tuple[Any, ...] = (
    math.nan,
    math.inf,
    -math.inf,
    HUGE,
    -(2**70),
    2**64,
    1e308,
    -0.0,
    "²",
    "².0.0",
    "١.0.0",
    "1.0.0",
    "99999999999999999999.0.0",
    "",
    "\x00",
    "\ud800",
    "x" * 3000,
    True,
    False,
    None,
    [],
    {},
    ["2", math.nan],
    ["2", math.inf],
    ["2", -1],
    ["2", 1.5],
    ["2", HUGE],
    [None, 0],
    [[], 0],
)
KEYS = ("id", "type", "inputs", "links", "nodes", "version", "format", "node", "output", "class_type", "link")


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Any JSON value (NaN and infinities included, as Python's json reads them), specials mixed in."""
    leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | st.sampled_from(SPECIALS)
    keys = st.text(max_size=8) | st.sampled_from(KEYS)
    return st.recursive(
        leaves,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
        max_leaves=max_leaves,
    )


def nested(depth: int, leaf: Any = 0) -> Any:
    """A list nested `depth` levels deep, built without recursion."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def _paths(document: Any, depth: int = 12) -> list[tuple[Any, ...]]:
    """Every path to a value inside `document` down to `depth` levels (the root is the empty path)."""
    found: list[tuple[Any, ...]] = [()]
    stack: list[tuple[tuple[Any, ...], Any]] = [((), document)]
    while stack:
        path, value = stack.pop()
        if len(path) >= depth:
            continue
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, child in items:
            found.append((*path, key))
            stack.append(((*path, key), child))
    return found


def _get(document: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        document = document[key]
    return document


def _put(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    """`document` with the value at `path` replaced (the root itself when the path is empty)."""
    if not path:
        return value
    _get(document, path[:-1])[path[-1]] = value
    return document


def _delete(document: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return {}
    del _get(document, path[:-1])[path[-1]]
    return document


def _retyped(value: Any) -> Any:
    """The same content in another JSON type."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return str(value) if abs(value) < 1e300 else [value]
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, dict):
        return list(value.values())
    return "null"


@st.composite
def mutated(draw: st.DrawFn, documents: Sequence[Any], deep: bool = True) -> Any:
    """One of `documents` with one to three changes: a value replaced (by anything, a special, another
    type or deep nesting), or a key removed. `deep=False` keeps nesting shallow enough to write as JSON."""
    document = copy.deepcopy(draw(st.sampled_from(documents)))
    depths = [MAX_DEPTH + 1, 5_000] if deep else [MAX_DEPTH + 1]
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(document)))
        change = draw(st.sampled_from(("value", "special", "retype", "delete", "deep")))
        if change == "delete":
            document = _delete(document, path)
        elif change == "retype":
            document = _put(document, path, _retyped(_get(document, path)))
        elif change == "deep":
            document = _put(document, path, nested(draw(st.sampled_from(depths))))
        else:
            replacement = draw(json_values() if change == "value" else st.sampled_from(SPECIALS))
            document = _put(document, path, copy.deepcopy(replacement))
    return document


def loaded(path: Path) -> Any:
    """A shipped JSON file's content."""
    return json.loads(path.read_text(encoding="utf-8"))


class Broken(AssertionError):
    """A case broke the rule; `kind` is what escaped (exception type and where) or which message was too long."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def escaped(exc: BaseException) -> Broken:
    """A Broken naming an unexpected exception and the innermost graphflow line it came from."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/graphflow/" in f.filename]
    where = f"{frames[-1].filename.split('/graphflow/')[-1]}:{frames[-1].lineno}" if frames else "outside graphflow"
    broken = Broken(f"{type(exc).__name__} at {where}")
    broken.__cause__ = exc
    return broken


def _short_enough(text: str, what: str) -> None:
    if len(text) >= MESSAGE_LIMIT:
        raise Broken(f"{what} of {len(text):,} characters")


def expect_own_errors(action: Callable[[], Any]) -> Any:
    """Run `action`; a file, import, validation or export error is fine when its messages are short;
    anything else raises Broken. Returns what the action returned, or the error."""
    try:
        return action()
    except (WorkflowFileError, WorkflowInvalid, ComfyExportError) as exc:
        _short_enough(str(exc), f"{type(exc).__name__} message")
        for issue in getattr(exc, "issues", []):
            _short_enough(issue.message, "problem message")
        return exc
    except Broken:
        raise
    except Exception as exc:
        raise escaped(exc) from exc


def _validated(workflow: Any, registry: Registry, settings: Settings) -> None:
    """A workflow that was read through the validator, and the server's ComfyUI views of it: its export
    to ComfyUI's API format and ComfyUI's error body for its problems."""
    if isinstance(workflow, Exception):
        return
    issues = expect_own_errors(lambda: validate(workflow, registry, settings))
    expect_own_errors(lambda: _raise_if(issues))
    expect_own_errors(lambda: export_api(workflow))
    if issues:
        expect_own_errors(lambda: prompt_errors(issues, workflow, registry))


def _raise_if(issues: list[Any]) -> None:
    if issues:
        raise WorkflowInvalid(issues)


def check_loader(data: Any, registry: Registry, settings: Settings) -> None:
    """graphflow's loader, then the validator."""
    _validated(expect_own_errors(lambda: parse_workflow(data, "fuzzed.json")), registry, settings)


def check_importer(data: Any, registry: Registry, settings: Settings) -> None:
    """Any format through the importer (ComfyUI API or UI, or graphflow's), then the validator."""
    workflow = expect_own_errors(lambda: to_workflow(data, registry=registry, source="fuzzed.json"))
    _validated(workflow, registry, settings)


@st.composite
def pngs(draw: st.DrawFn, documents: Sequence[Any]) -> bytes:
    """A PNG whose text chunks carry mutated workflows, random text or nothing useful, sometimes damaged."""
    info = PngImagePlugin.PngInfo()
    for key in draw(st.lists(st.sampled_from((PNG_KEY, "prompt", "workflow", "parameters")), max_size=3)):
        content = draw(st.sampled_from(("mutated", "text", "value")).flatmap(lambda kind: _chunk_text(kind, documents)))
        info.add_text(key, content, zip=draw(st.booleans()))
    buffer = io.BytesIO()
    Image.new("RGB", (draw(st.integers(1, 8)), draw(st.integers(1, 8)))).save(buffer, "PNG", pnginfo=info)
    raw = bytearray(buffer.getvalue())
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(raw) - 1))
        damage = draw(st.sampled_from(("flip", "cut", "insert")))
        if damage == "flip":
            raw[at] ^= draw(st.integers(1, 255))
        elif damage == "cut":
            del raw[at:]
            if not raw:
                break
        else:
            raw[at:at] = draw(st.binary(min_size=1, max_size=16))
    return bytes(raw)


def _chunk_text(kind: str, documents: Sequence[Any]) -> st.SearchStrategy[str]:
    if kind == "mutated":
        return mutated(documents, deep=False).map(json_text)
    if kind == "value":
        return json_values().map(json_text)
    return st.text(max_size=40)


def json_text(value: Any) -> str:
    """`value` as JSON text, huge integers written out in full (as a hostile file would have them)."""
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        return json.dumps(value)
    finally:
        sys.set_int_max_str_digits(limit)


def check_png(raw: bytes, folder: Path, registry: Registry, settings: Settings) -> None:
    """A PNG file through the importer (as `graphflow run picture.png` reads it), then the validator."""
    path = folder / "fuzzed.png"
    path.write_bytes(raw)
    _validated(expect_own_errors(lambda: load_any(path, registry)), registry, settings)
