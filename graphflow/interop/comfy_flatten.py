"""ComfyUI UI-format workflows made flat: subgraphs and group nodes replaced by the nodes inside them.

A **subgraph** (frontend 1.24+) is a node whose type is the UUID of an entry in `definitions.subgraphs`;
inside it, links from node -10 come from the subgraph's inputs and links to node -20 go to its outputs.
A legacy **group node** has the type `workflow>NAME` (or `workflow/NAME`) and its nodes in
`extra.groupNodes[NAME]`; its input and output slots are the inner slots not linked inside the group,
in node order. Either way the inner nodes get ComfyUI's compound ids (`OUTER:INNER`, as the ComfyUI
frontend sends them to a server), links through the boundary are rewired to the nodes on both sides,
and widget values set on the outer node are handed to the inner widgets they stand for.

The result is plain UI-format data for `comfy_ui`: links as version-1 objects with whole-number slots,
ids as strings, each node's slots a list of objects and its widget values a list or an object. What cannot
be read so is a `FlattenError` naming the node or link at fault.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from graphflow.interop.comfy_nodes import SUPPORTED, widget_names
from graphflow.problems import shown

SUBGRAPH_INPUT, SUBGRAPH_OUTPUT = "-10", "-20"
GROUP_PREFIXES = ("workflow>", "workflow/")
WIDGET_OVERRIDES = "graphflow_widgets"  # inner widget values set on the outer node, by input name
MUTED, BYPASSED = 2, 4
MAX_EXPANSIONS = 10_000

Link = dict[str, Any]  # {"id", "origin_id", "origin_slot", "target_id", "target_slot", "type"}


class FlattenError(ValueError):
    """A node, link, subgraph or group node that cannot be read or expanded (e.g. a subgraph that contains
    itself); `node_id` names the node at fault when there is one."""

    def __init__(self, message: str, node_id: str | None = None) -> None:
        super().__init__(message)
        self.node_id = node_id


def flatten(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with every subgraph and group node replaced by its inner nodes (links rewired)."""
    graph = _Flat(data)
    for _ in range(MAX_EXPANSIONS):
        node_id = graph.next_expandable()
        if node_id is None:
            return graph.as_data(data)
        graph.expand(node_id)
    raise FlattenError("subgraphs or group nodes nest too deeply (does a subgraph contain itself?)")


def _items(value: Any, what: str, node_id: str | None = None) -> list[Any]:
    """A list the format stores (absent or null: empty); anything else is a FlattenError."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise FlattenError(f"{what} must be a list, not {type(value).__name__}", node_id)
    return value


def _mapping(value: Any, what: str) -> dict[str, Any]:
    """An object the format stores (absent or null: empty); anything else is a FlattenError."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FlattenError(f"{what} must be an object, not {type(value).__name__}")
    return value


def _slot(value: Any, what: str, node_id: str | None = None) -> int:
    """A slot (or node) index as the format stores it: a whole number >= 0 (null: 0)."""
    if value is None:
        return 0
    integral = isinstance(value, float) and math.isfinite(value) and value.is_integer()
    if integral or (isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 10):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise FlattenError(f"{what} must be a whole number >= 0, not {shown(value)}", node_id)
    return value


def _links_of(raw: Any, scope: str) -> dict[str, Link]:
    """Links keyed by string id; v0.4 6-tuples and v1 objects alike; `scope` prefixes ids of inner graphs."""
    links: dict[str, Link] = {}
    for link in _items(raw, "'links'"):
        if isinstance(link, list) and len(link) >= 5:
            lid, origin, origin_slot, target, target_slot = link[:5]
            kind = link[5] if len(link) > 5 else "*"
        elif isinstance(link, dict):
            lid, origin, origin_slot = link.get("id"), link.get("origin_id"), link.get("origin_slot", 0)
            target, target_slot, kind = link.get("target_id"), link.get("target_slot", 0), link.get("type", "*")
        else:
            continue
        key = f"{scope}{lid}"
        links[key] = {
            "id": key,
            "origin_id": str(origin),
            "origin_slot": _slot(origin_slot, f"link {shown(lid)}: origin_slot"),
            "target_id": str(target),
            "target_slot": _slot(target_slot, f"link {shown(lid)}: target_slot"),
            "type": kind,
        }
    return links


def _node_copy(node: dict[str, Any], node_id: str) -> dict[str, Any]:
    """A copy of a node with id `node_id` whose slots are lists of objects (others become {}, keeping
    positions) and whose widget values are a list or an object; values only graphflow sets are dropped."""
    node = copy.deepcopy(node)
    node["id"] = node_id
    node.pop(WIDGET_OVERRIDES, None)
    for key in ("inputs", "outputs"):
        node[key] = [slot if isinstance(slot, dict) else {} for slot in _items(node.get(key), f"'{key}'", node_id)]
    values = node.get("widgets_values")
    if values is not None and not isinstance(values, list | dict):
        raise FlattenError(f"'widgets_values' must be a list or an object, not {type(values).__name__}", node_id)
    return node


def _nodes_of(raw: Any, node_scope: str, link_scope: str) -> dict[str, dict[str, Any]]:
    """Copies of nodes keyed by (scoped) string id, their input links re-keyed like `_links_of`."""
    nodes: dict[str, dict[str, Any]] = {}
    for node in _items(raw, "'nodes'"):
        if not isinstance(node, dict) or "id" not in node:
            continue
        node = _node_copy(node, f"{node_scope}{node['id']}")
        for slot in node["inputs"]:
            if slot.get("link") is not None:
                slot["link"] = f"{link_scope}{slot['link']}"
        nodes[node["id"]] = node
    return nodes


def _subgraph_definitions(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every subgraph definition in the file, nested ones included, by id."""
    found: dict[str, dict[str, Any]] = {}
    pending = [data]
    while pending:
        holder = pending.pop()
        subgraphs = _mapping(holder.get("definitions"), "'definitions'").get("subgraphs")
        for definition in _items(subgraphs, "'definitions.subgraphs'"):
            if isinstance(definition, dict) and definition.get("id") and str(definition["id"]) not in found:
                found[str(definition["id"])] = definition
                pending.append(definition)
    return found


def group_name(node_type: str) -> str | None:
    """NAME of a legacy group node type `workflow>NAME` / `workflow/NAME`, else None."""
    for prefix in GROUP_PREFIXES:
        if node_type.startswith(prefix):
            return node_type[len(prefix) :]
    return None


class _Flat:
    def __init__(self, data: dict[str, Any]) -> None:
        self.nodes = _nodes_of(data.get("nodes"), "", "")
        self.links = _links_of(data.get("links"), "")
        self.subgraphs = _subgraph_definitions(data)
        self.groups = _mapping(_mapping(data.get("extra"), "'extra'").get("groupNodes"), "'extra.groupNodes'")

    def next_expandable(self) -> str | None:
        for node_id, node in self.nodes.items():
            if node.get("mode") in (MUTED, BYPASSED):
                continue  # muted: nothing inside runs; bypassed: passed through like any bypassed node
            kind = str(node.get("type"))
            if kind in self.subgraphs or group_name(kind) in self.groups:
                return node_id
        return None

    def as_data(self, data: dict[str, Any]) -> dict[str, Any]:
        flat = {k: v for k, v in data.items() if k not in ("nodes", "links", "definitions")}
        return {**flat, "nodes": list(self.nodes.values()), "links": list(self.links.values())}

    def expand(self, node_id: str) -> None:
        outer = self.nodes.pop(node_id)
        kind = str(outer.get("type"))
        if kind in self.subgraphs:
            inner_nodes, feeds, outputs = self._subgraph(outer, self.subgraphs[kind])
        else:
            name = group_name(kind) or ""
            definition = self.groups[name]
            if not isinstance(definition, dict):
                raise FlattenError(f"group node {shown(name)} has no definition object", node_id)
            inner_nodes, feeds, outputs = self._group(outer, definition)
        _place(outer, inner_nodes)
        self.nodes.update(inner_nodes)
        for link_id, link in list(self.links.items()):
            if link["target_id"] == node_id:
                del self.links[link_id]  # re-created by `feeds` for each inner node it reaches
            elif link["origin_id"] == node_id:
                source = outputs.get(link["origin_slot"])
                if source is None:
                    del self.links[link_id]
                    _unlink(self.nodes.get(link["target_id"]), link_id)
                else:
                    link["origin_id"], link["origin_slot"] = source
        for link in feeds:
            self.links[link["id"]] = link

    def _outer_link(self, outer: dict[str, Any], slot: int) -> Link | None:
        """The link feeding input `slot` of the outer node, if any."""
        inputs = outer["inputs"]
        link_id = inputs[slot].get("link") if slot < len(inputs) else None
        return self.links.get(link_id) if link_id is not None else None

    def _subgraph(
        self, outer: dict[str, Any], definition: dict[str, Any]
    ) -> tuple[dict[str, dict[str, Any]], list[Link], dict[int, tuple[str, int]]]:
        prefix = f"{outer['id']}:"
        scope = f"{outer['id']}/"
        nodes = _nodes_of(definition.get("nodes"), prefix, scope)
        links = _links_of(definition.get("links"), scope)
        slots = _subgraph_slots(outer, definition)
        values = _outer_widget_values(outer)
        feeds: list[Link] = []
        outputs: dict[int, tuple[str, int]] = {}
        for link_id, link in links.items():
            origin: tuple[str, int] | None = (prefix + link["origin_id"], link["origin_slot"])
            if link["origin_id"] == SUBGRAPH_INPUT:
                index: int = link["origin_slot"]
                outer_slot = slots.get(index, index)
                fed = self._outer_link(outer, outer_slot)
                origin = (fed["origin_id"], fed["origin_slot"]) if fed else None
                if origin is None:
                    self._hand_widget(outer, outer_slot, values, nodes.get(prefix + link["target_id"]), link)
            if link["target_id"] == SUBGRAPH_OUTPUT:
                if origin is not None:
                    outputs[link["target_slot"]] = origin
                continue
            target = nodes.get(prefix + link["target_id"])
            if origin is None:
                _unlink(target, link_id)
                continue
            feeds.append(
                {**link, "origin_id": origin[0], "origin_slot": origin[1], "target_id": prefix + link["target_id"]}
            )
        _proxy_widgets(outer, nodes, prefix)
        return nodes, feeds, outputs

    @staticmethod
    def _hand_widget(
        outer: dict[str, Any], outer_slot: int, values: dict[str, Any], target: dict[str, Any] | None, link: Link
    ) -> None:
        """A subgraph input left unlinked outside but shown as a widget there: its value goes to the inner widget."""
        inputs = outer["inputs"]
        name = inputs[outer_slot].get("name") if outer_slot < len(inputs) else None
        if target is None or not isinstance(name, str) or name not in values:
            return
        target_inputs = target["inputs"]
        slot = target_inputs[link["target_slot"]] if link["target_slot"] < len(target_inputs) else {}
        widget = slot.get("widget")
        widget = (widget.get("name") if isinstance(widget, dict) else None) or slot.get("name")
        if isinstance(widget, str) and widget:
            target.setdefault(WIDGET_OVERRIDES, {})[widget] = values[name]

    def _group(
        self, outer: dict[str, Any], definition: dict[str, Any]
    ) -> tuple[dict[str, dict[str, Any]], list[Link], dict[int, tuple[str, int]]]:
        prefix, scope = f"{outer['id']}:", f"{outer['id']}/"
        inner = [n for n in _items(definition.get("nodes"), "group 'nodes'", outer["id"]) if isinstance(n, dict)]
        raw_nodes = [_node_copy(node, f"{prefix}{index}") for index, node in enumerate(inner)]
        for node in raw_nodes:
            for slot in node["inputs"]:
                slot["link"] = None
        nodes = {node["id"]: node for node in raw_nodes}
        linked_to: dict[tuple[int, int], Link] = {}
        linked_from: set[tuple[int, int]] = set()
        feeds: list[Link] = []
        for number, raw_link in enumerate(_items(definition.get("links"), "group 'links'")):
            if not isinstance(raw_link, list) or len(raw_link) < 4 or raw_link[0] is None:
                continue
            where = f"group link {number}"
            source, source_slot, target, target_slot = (_slot(v, where, outer["id"]) for v in raw_link[:4])
            link: Link = {
                "id": f"{scope}{number}",
                "origin_id": f"{prefix}{source}",
                "origin_slot": source_slot,
                "target_id": f"{prefix}{target}",
                "target_slot": target_slot,
                "type": raw_link[5] if len(raw_link) > 5 else "*",
            }
            linked_to[(target, target_slot)] = link
            linked_from.add((source, source_slot))
            feeds.append(link)
            _set_link(nodes.get(link["target_id"]), target_slot, link["id"])
        external = {
            (_slot(e[0], "group 'external'", outer["id"]), _slot(e[1], "group 'external'", outer["id"]))
            for e in _items(definition.get("external"), "group 'external'")
            if isinstance(e, list) and len(e) >= 2
        }
        for outer_slot, (index, slot) in enumerate(_group_inputs(raw_nodes, linked_to)):
            fed = self._outer_link(outer, outer_slot)
            if fed is not None:
                feed: Link = {
                    **fed,
                    "id": f"{scope}in{outer_slot}",
                    "target_id": f"{prefix}{index}",
                    "target_slot": slot,
                }
                feeds.append(feed)
                _set_link(nodes[feed["target_id"]], slot, feed["id"])
        outputs = {
            number: (f"{prefix}{index}", slot)
            for number, (index, slot) in enumerate(_group_outputs(raw_nodes, linked_from, external))
        }
        _group_widgets(outer, raw_nodes, nodes, prefix)
        return nodes, feeds, outputs


def _subgraph_slots(outer: dict[str, Any], definition: dict[str, Any]) -> dict[int, int]:
    """Subgraph input index -> the outer node's input slot of the same name (else the same index)."""
    names = [str(i.get("name")) for i in _items(definition.get("inputs"), "subgraph 'inputs'") if isinstance(i, dict)]
    outer_names = [str(i.get("name")) for i in outer["inputs"]]
    return {i: outer_names.index(name) for i, name in enumerate(names) if name in outer_names}


def _outer_widget_values(outer: dict[str, Any]) -> dict[str, Any]:
    """Values of the outer node's widget inputs by name, where `widgets_values` can be read by position."""
    values = outer.get("widgets_values")
    if isinstance(values, dict):
        return dict(values)
    names = [str(i.get("name")) for i in outer["inputs"] if i.get("widget")]
    if not isinstance(values, list) or len(values) != len(names):
        return {}
    return dict(zip(names, values, strict=True))


def _proxy_widgets(outer: dict[str, Any], nodes: dict[str, dict[str, Any]], prefix: str) -> None:
    """Inner widgets promoted onto the outer node (`properties.proxyWidgets`) take the outer node's values."""
    properties = outer.get("properties")
    proxies = properties.get("proxyWidgets") if isinstance(properties, dict) else None
    values = outer.get("widgets_values")
    if not isinstance(proxies, list) or not isinstance(values, list) or len(proxies) != len(values):
        return
    for proxy, value in zip(proxies, values, strict=True):
        if isinstance(proxy, list) and len(proxy) == 2 and f"{prefix}{proxy[0]}" in nodes:
            nodes[f"{prefix}{proxy[0]}"].setdefault(WIDGET_OVERRIDES, {})[str(proxy[1])] = value


def _group_inputs(nodes: list[dict[str, Any]], linked_to: dict[tuple[int, int], Link]) -> list[tuple[int, int]]:
    """(inner index, slot) of each group-node input slot: unlinked inner inputs in node order, converted
    widgets last (as ComfyUI's frontend numbers them)."""
    plain: list[tuple[int, int]] = []
    converted: list[tuple[int, int]] = []
    for index, node in enumerate(nodes):
        for slot, spec in enumerate(node["inputs"]):
            if (index, slot) in linked_to or not spec:
                continue
            (converted if spec.get("widget") else plain).append((index, slot))
    return plain + converted


def _group_outputs(
    nodes: list[dict[str, Any]], linked_from: set[tuple[int, int]], external: set[tuple[int, int]]
) -> list[tuple[int, int]]:
    """(inner index, slot) of each group-node output: inner outputs not used inside, or also used outside."""
    return [
        (index, slot)
        for index, node in enumerate(nodes)
        for slot in range(len(node["outputs"]))
        if (index, slot) not in linked_from or (index, slot) in external
    ]


def _group_widgets(
    outer: dict[str, Any], raw_nodes: list[dict[str, Any]], nodes: dict[str, dict[str, Any]], prefix: str
) -> None:
    """The outer node's widgets_values, node by node in ComfyUI's widget order, when they fit exactly;
    otherwise each inner node keeps the values stored with the group."""
    values = outer.get("widgets_values")
    if not isinstance(values, list) or any(str(n.get("type")) not in SUPPORTED for n in raw_nodes):
        return
    counts = [len(widget_names(str(n["type"]))) for n in raw_nodes]
    if sum(counts) != len(values):
        return
    start = 0
    for index, count in enumerate(counts):
        nodes[f"{prefix}{index}"]["widgets_values"] = values[start : start + count]
        start += count


def _set_link(node: dict[str, Any] | None, slot: int, link_id: str) -> None:
    inputs = node["inputs"] if node is not None else []
    if slot < len(inputs):
        inputs[slot]["link"] = link_id


def _unlink(node: dict[str, Any] | None, link_id: str) -> None:
    for slot in node["inputs"] if node is not None else []:
        if slot.get("link") == link_id:
            slot["link"] = None


def _xy(value: Any) -> tuple[float, float] | None:
    """A position as the format stores it ([x, y], or {"0": x, "1": y} in very old files), when both are numbers."""
    if isinstance(value, dict):
        value = [value.get("0", 0), value.get("1", 0)]
    if isinstance(value, list) and len(value) >= 2 and all(_finite(v) for v in value[:2]):
        return value[0], value[1]
    return None


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _place(outer: dict[str, Any], inner: dict[str, dict[str, Any]]) -> None:
    """Inner nodes laid out where the outer node was, keeping their arrangement."""
    pos = _xy(outer.get("pos"))
    placed = {node_id: xy for node_id, n in inner.items() if (xy := _xy(n.get("pos"))) is not None}
    if pos is None or not placed:
        return
    left = min(x for x, _ in placed.values())
    top = min(y for _, y in placed.values())
    for node_id, (x, y) in placed.items():
        inner[node_id]["pos"] = [pos[0] + x - left, pos[1] + y - top]
