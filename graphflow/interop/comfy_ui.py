"""ComfyUI's UI ("workflow") format, versions 0.4 and 1 -> its API format plus the layout.

This re-implements what ComfyUI's browser does before queueing (graphToPrompt): subgraphs and group
nodes are expanded (`comfy_flatten`), positional `widgets_values` are named through the mapping table
(skipping UI-only entries such as the seed's "control after generate" value), links are read from the
links table, reroutes are followed, primitive nodes become constants, muted nodes (mode 2) are dropped
and bypassed nodes (mode 4) are passed through to their first input of the same type.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from graphflow.bypass import pass_through
from graphflow.interop.comfy_api import ComfyImportError, check_import_nesting, import_error, unsupported_error
from graphflow.interop.comfy_flatten import WIDGET_OVERRIDES, FlattenError, flatten
from graphflow.interop.comfy_nodes import (
    CONTROL,
    CONTROL_VALUES,
    SUPPORTED,
    UI_ONLY,
    VIRTUAL_NODES,
    widget_names,
)
from graphflow.problems import ValidationIssue

MUTED, BYPASSED = 2, 4
MAX_HOPS = 256

__all__ = ["layout_for", "name_widgets", "ui_to_api", "widget_names"]


def _looks_ui_only(name: str, value: Any) -> bool:
    """Whether a value can be what a UI-only widget stores (used only when the count leaves it open)."""
    if name == CONTROL:
        return isinstance(value, bool) or value in CONTROL_VALUES
    return value is None or value == "image"  # the upload button


def name_widgets(class_type: str, values: Any) -> dict[str, Any]:
    """Positional (or named) widget values by input name, UI-only entries skipped.

    When the list has a slot for every UI-only widget, those slots are skipped whatever they hold
    (ComfyUI's classic default workflow stores `true` in KSampler's "control after generate" slot);
    when it is shorter (files from before such widgets existed), a slot is skipped only if its value
    is one such a widget stores.
    """
    names = widget_names(class_type)
    if isinstance(values, dict):
        return {k: v for k, v in values.items() if k in names and k not in UI_ONLY}
    values = values if isinstance(values, list) else []
    ui_only = sum(name in UI_ONLY for name in names)
    spare = len(values) - (len(names) - ui_only)  # how many UI-only slots the list has room for
    skip_all = spare >= ui_only
    named: dict[str, Any] = {}
    position = 0
    for name in names:
        if position >= len(values):
            break
        value = values[position]
        if name in UI_ONLY:
            if skip_all or (spare > 0 and _looks_ui_only(name, value)):
                position += 1
                spare -= 1
            continue
        named[name] = value
        position += 1
    return named


class _Graph:
    def __init__(self, data: dict[str, Any], source: str) -> None:
        self.source = source
        self.nodes: dict[str, dict[str, Any]] = {str(n["id"]): n for n in data.get("nodes") or []}
        self.links: dict[Any, tuple[str, int, str]] = {
            link["id"]: (str(link["origin_id"]), int(link["origin_slot"]), str(link["type"]))
            for link in data.get("links") or []
        }

    def resolve(self, link_id: Any) -> tuple[str, Any] | None:
        """Where a link's value comes from: ("link", [id, slot]) or ("value", v); None if nowhere."""
        for _ in range(MAX_HOPS):
            if link_id is None or link_id not in self.links:
                return None
            origin, slot, kind = self.links[link_id]
            node = self.nodes.get(origin)
            if node is None or node.get("mode") == MUTED:
                return None
            if node.get("type") == "PrimitiveNode":
                values = _widget_values(node)
                return ("value", values[0]) if values else None
            if node.get("type") == "Reroute":
                link_id = _input_link(node, 0)
            elif node.get("mode") == BYPASSED:
                link_id = pass_through(((i.get("type"), i.get("link")) for i in node["inputs"]), kind)
            else:
                return "link", [origin, slot]
        raise ComfyImportError(f"{self.source}: a chain of reroutes or bypassed nodes loops back on itself")

    def active(self) -> list[tuple[str, dict[str, Any]]]:
        """Nodes that reach the server: not virtual, not muted, not bypassed."""
        return [
            (i, n)
            for i, n in self.nodes.items()
            if str(n.get("type")) not in VIRTUAL_NODES and n.get("mode") not in (MUTED, BYPASSED)
        ]


def _input_link(node: dict[str, Any], index: int) -> Any:
    inputs = node["inputs"]
    return inputs[index].get("link") if index < len(inputs) else None


def _widget_values(node: dict[str, Any]) -> list[Any]:
    """A flattened node's widget values in order (an object's values when stored by name)."""
    values = node.get("widgets_values")
    return list(values.values()) if isinstance(values, dict) else values or []


def _flat_graph(data: Any, source: str) -> tuple[dict[str, Any], _Graph]:
    if not isinstance(data, dict):
        raise ComfyImportError(f"{source}: a ComfyUI workflow is a JSON object, not {type(data).__name__}")
    check_import_nesting(data, source)
    try:
        flat = flatten(data)
    except FlattenError as error:
        raise import_error(source, [ValidationIssue(error.node_id, None, "invalid_node", str(error))]) from None
    return flat, _Graph(flat, source)


def ui_to_api(data: dict[str, Any], source: str = "ComfyUI workflow") -> tuple[dict[str, Any], dict[str, Any]]:
    """The API prompt of a UI-format workflow, and its layout in graphflow's `ui` shape."""
    flat, graph = _flat_graph(data, source)
    unsupported: dict[str, list[str]] = defaultdict(list)
    for node_id, node in graph.active():
        if str(node.get("type")) not in SUPPORTED:
            unsupported[str(node.get("type"))].append(node_id)
    if unsupported:
        raise unsupported_error(dict(unsupported), source)
    prompt: dict[str, Any] = {}
    issues: list[ValidationIssue] = []
    for node_id, node in graph.active():
        kind = str(node["type"])
        inputs = name_widgets(kind, node.get("widgets_values"))
        inputs.update(node.get(WIDGET_OVERRIDES) or {})
        for number, slot in enumerate(node["inputs"]):
            resolved = graph.resolve(slot.get("link"))
            if resolved is None:
                continue
            if isinstance(slot.get("name"), str):
                inputs[slot["name"]] = resolved[1]
            else:
                issues.append(ValidationIssue(node_id, None, "invalid_link", f"linked input slot {number} has no name"))
        prompt[node_id] = {"inputs": inputs, "class_type": kind, "_meta": {"title": node.get("title") or kind}}
    if issues:
        raise import_error(source, issues)
    return prompt, layout(flat, graph)


def layout_for(data: Any, prompt: dict[str, Any]) -> dict[str, Any]:
    """The layout of UI-format `data` for an API `prompt` when they describe the same nodes (every prompt
    node is a node of the workflow, of the same class); {} otherwise, or when `data` cannot be read.

    The workflow may hold more (notes, reroutes, frontend-only or unknown node types): only the layout is
    taken from it, so it never decides whether the prompt can run.
    """
    try:
        flat, graph = _flat_graph(data, "workflow")
    except ComfyImportError:
        return {}  # a workflow chunk that cannot be read lends no layout
    types = {node_id: node.get("type") for node_id, node in graph.active()}
    if any(not isinstance(v, dict) or types.get(str(k)) != v.get("class_type") for k, v in prompt.items()):
        return {}
    return layout(flat, graph)


def layout(data: dict[str, Any], graph: _Graph) -> dict[str, Any]:
    """Positions and sizes by node id, plus groups and notes, in graphflow's `ui` block."""
    nodes = {}
    for node_id, node in graph.nodes.items():
        place: dict[str, Any] = {}
        pos, size = node.get("pos"), node.get("size")
        if isinstance(pos, dict):  # very old files: {"0": x, "1": y}
            pos = [pos.get("0", 0), pos.get("1", 0)]
        if isinstance(pos, list) and len(pos) >= 2:
            place["pos"] = [pos[0], pos[1]]
        if isinstance(size, list) and len(size) >= 2:
            place["size"] = [size[0], size[1]]
        if place and str(node.get("type")) not in VIRTUAL_NODES:
            nodes[node_id] = place
    ui: dict[str, Any] = {"nodes": nodes}
    if data.get("groups"):
        ui["groups"] = data["groups"]
    notes = [
        {"text": (_widget_values(n) or [""])[0], "pos": n.get("pos")}
        for n in graph.nodes.values()
        if n.get("type") in ("Note", "MarkdownNote")
    ]
    if notes:
        ui["notes"] = notes
    return ui
