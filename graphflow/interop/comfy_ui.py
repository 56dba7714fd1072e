"""ComfyUI's UI ("workflow") format, versions 0.4 and 1 -> its API format plus the layout.

This re-implements what ComfyUI's browser does before queueing (graphToPrompt): positional
`widgets_values` are named through the mapping table (skipping UI-only entries such as the
seed's "control after generate" value), links are read from the links table, reroutes are
followed, primitive nodes become constants, muted nodes (mode 2) are dropped and bypassed
nodes (mode 4) are passed through to their first input of the same type.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from graphflow.interop.comfy_api import ComfyImportError, unsupported_message
from graphflow.interop.comfy_nodes import (
    CONTROL,
    CONTROL_VALUES,
    LOAD_IMAGE_MASK,
    LOAD_IMAGE_MASK_WIDGETS,
    NODE_MAPS,
    SUPPORTED,
    UPLOAD,
    VIRTUAL_NODES,
)

MUTED, BYPASSED = 2, 4
MAX_HOPS = 256


def widget_names(class_type: str) -> tuple[str, ...]:
    """The widget order of a ComfyUI node type in `widgets_values`."""
    if class_type == LOAD_IMAGE_MASK:
        return LOAD_IMAGE_MASK_WIDGETS
    return NODE_MAPS[class_type].widgets


def name_widgets(class_type: str, values: Any) -> dict[str, Any]:
    """Positional (or named) widget values by input name, UI-only entries skipped."""
    if isinstance(values, dict):
        return {k: v for k, v in values.items() if k in widget_names(class_type)}
    named: dict[str, Any] = {}
    position = 0
    for name in widget_names(class_type):
        if position >= len(values or []):
            break
        value = values[position]
        if name == CONTROL:
            position += value in CONTROL_VALUES if isinstance(value, str) else 0
        elif name == UPLOAD:
            position += value == "image"
        else:
            named[name] = value
            position += 1
    return named


class _Graph:
    def __init__(self, data: dict[str, Any], source: str) -> None:
        self.source = source
        self.nodes: dict[str, dict[str, Any]] = {}
        for node in data.get("nodes") or []:
            if isinstance(node, dict) and "id" in node:
                self.nodes[str(node["id"])] = node
        self.links: dict[Any, tuple[str, int, str]] = {}
        for link in data.get("links") or []:
            if isinstance(link, list) and len(link) >= 6:  # v0.4: [id, from, from_slot, to, to_slot, type]
                self.links[link[0]] = (str(link[1]), int(link[2]), str(link[5]))
            elif isinstance(link, dict):  # v1
                self.links[link.get("id")] = (
                    str(link.get("origin_id")),
                    int(link.get("origin_slot", 0)),
                    str(link.get("type", "*")),
                )
        subgraphs = ((data.get("definitions") or {}).get("subgraphs")) or []
        self.subgraphs = {g.get("id"): g.get("name") or g.get("id") for g in subgraphs if isinstance(g, dict)}

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
                values = node.get("widgets_values") or []
                return ("value", values[0]) if values else None
            if node.get("type") == "Reroute":
                link_id = _input_link(node, 0)
            elif node.get("mode") == BYPASSED:
                link_id = next(
                    (
                        i.get("link")
                        for i in node.get("inputs") or []
                        if i.get("type") == kind and i.get("link") is not None
                    ),
                    None,
                )
            else:
                return "link", [origin, slot]
        raise ComfyImportError(f"{self.source}: a chain of reroutes or bypassed nodes loops back on itself")

    def active(self) -> list[tuple[str, dict[str, Any]]]:
        """Nodes that reach the server: not virtual, not muted, not bypassed."""
        return [
            (i, n)
            for i, n in self.nodes.items()
            if n.get("type") not in VIRTUAL_NODES and n.get("mode") not in (MUTED, BYPASSED)
        ]


def _input_link(node: dict[str, Any], index: int) -> Any:
    inputs = node.get("inputs") or []
    return inputs[index].get("link") if index < len(inputs) else None


def ui_to_api(data: dict[str, Any], source: str = "ComfyUI workflow") -> tuple[dict[str, Any], dict[str, Any]]:
    """The API prompt of a UI-format workflow, and its layout in graphflow's `ui` shape."""
    graph = _Graph(data, source)
    unsupported: dict[str, list[str]] = defaultdict(list)
    for node_id, node in graph.active():
        kind = str(node.get("type"))
        if kind in graph.subgraphs:
            unsupported[f"subgraph {graph.subgraphs[kind]!r}"].append(node_id)
        elif kind not in SUPPORTED:
            unsupported[kind].append(node_id)
    if unsupported:
        raise ComfyImportError(unsupported_message(unsupported, source), unsupported=dict(unsupported))
    prompt: dict[str, Any] = {}
    for node_id, node in graph.active():
        kind = node["type"]
        inputs = name_widgets(kind, node.get("widgets_values"))
        for slot in node.get("inputs") or []:
            resolved = graph.resolve(slot.get("link"))
            if resolved is not None:
                inputs[slot.get("name")] = resolved[1]
        prompt[node_id] = {"inputs": inputs, "class_type": kind, "_meta": {"title": node.get("title") or kind}}
    return prompt, layout(data, graph)


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
        if place and node.get("type") not in VIRTUAL_NODES:
            nodes[node_id] = place
    ui: dict[str, Any] = {"nodes": nodes}
    if data.get("groups"):
        ui["groups"] = data["groups"]
    notes = [
        {"text": (n.get("widgets_values") or [""])[0], "pos": n.get("pos")}
        for n in graph.nodes.values()
        if n.get("type") in ("Note", "MarkdownNote")
    ]
    if notes:
        ui["notes"] = notes
    return ui
