"""ComfyUI's API ("prompt") format <-> graphflow workflows, through the mapping table.

ComfyUI node ids are kept as graphflow node ids, so outputs and errors name the ids the client
sent; the origin (format, class type of each node) is recorded in the workflow's `meta["comfyui"]`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from graphflow.interop.comfy_nodes import LOAD_IMAGE_MASK, NODE_MAPS, SUPPORTED, NodeMap, ValueMapError, by_target
from graphflow.problems import ValidationIssue, clipped, shown, summarise
from graphflow.registry import Registry
from graphflow.workflow import Workflow, WorkflowFileError, check_nesting, format_issue

META_KEY = "comfyui"
HELPER_SEPARATOR = ":"
HELPER_ROLES = frozenset({"image"})  # `ID:image` is the Load Image helper of LoadImageMask node ID


class ComfyImportError(WorkflowFileError):
    """A ComfyUI file cannot be converted; `issues` holds every problem at once, the message summarises them.

    `unsupported` maps each ComfyUI node type graphflow has no counterpart for to the nodes that use it.
    """

    def __init__(
        self,
        message: str,
        unsupported: dict[str, list[str]] | None = None,
        issues: Sequence[ValidationIssue] | None = None,
    ) -> None:
        super().__init__(message, issues)
        self.unsupported = unsupported or {}


def import_error(source: str, issues: Sequence[ValidationIssue]) -> ComfyImportError:
    """One error for every problem found in a ComfyUI file: one as a sentence, several summarised."""
    if len(issues) == 1:
        return ComfyImportError(f"{source}: {issues[0]}", issues=issues)
    return ComfyImportError(f"{source}: {len(issues):,} problems: " + "; ".join(summarise(issues)), issues=issues)


class ComfyExportError(ValueError):
    """A graphflow workflow uses node types that have no ComfyUI counterpart in the mapping table."""


def check_import_nesting(data: Any, source: str) -> None:
    """`check_nesting` for a ComfyUI file: data no JSON text could hold safely is a ComfyImportError."""
    try:
        check_nesting(data, source)
    except WorkflowFileError as exc:
        raise ComfyImportError(str(exc), issues=exc.issues) from None


def is_link(value: Any) -> bool:
    """ComfyUI's rule: a 2-list [node id (str), output index (number)] is a link."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], (int, float))
        and not isinstance(value[1], bool)
    )


def output_index(value: int | float) -> int | None:
    """A link's output index as a whole number (2.0 is 2), or None for NaN, infinities and fractions."""
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return None
    return int(value)


SHOWN_TYPES, SHOWN_IDS = 20, 10


def unsupported_message(unsupported: dict[str, list[str]], source: str) -> str:
    """One sentence naming the unsupported ComfyUI node types (the first twenty) and the nodes that use them."""
    names = "; ".join(
        f"{clipped(cls, 60)} (node{'s' if len(ids) > 1 else ''} {_some(ids)})"
        for cls, ids in sorted(unsupported.items())[:SHOWN_TYPES]
    )
    if len(unsupported) > SHOWN_TYPES:
        names += f"; and {len(unsupported) - SHOWN_TYPES:,} more types"
    return (
        f"{source}: graphflow has no counterpart for these ComfyUI node types: {names}. "
        "Replace them with supported nodes, or install a graphflow plugin that provides them"
    )


def _some(ids: list[str]) -> str:
    listed = ", ".join(clipped(i, 30) for i in ids[:SHOWN_IDS])
    return listed if len(ids) <= SHOWN_IDS else f"{listed} and {len(ids) - SHOWN_IDS:,} more"


def unsupported_error(unsupported: dict[str, list[str]], source: str) -> ComfyImportError:
    """The error for a file that uses node types graphflow has no counterpart for."""
    issues = [
        ValidationIssue(node_id, None, "unknown_node_type", f"graphflow has no counterpart for ComfyUI's {shown(cls)}")
        for cls, ids in unsupported.items()
        for node_id in ids
    ]
    return ComfyImportError(unsupported_message(unsupported, source), unsupported=unsupported, issues=issues)


def _check_shape(prompt: Any, source: str) -> dict[str, dict[str, Any]]:
    if not isinstance(prompt, dict) or not prompt:
        raise ComfyImportError(f"{source}: a ComfyUI prompt is a non-empty JSON object of nodes keyed by id")
    check_import_nesting(prompt, source)
    issues = []
    for node_id, node in prompt.items():
        if not isinstance(node, dict) or not isinstance(node.get("class_type"), str):
            issues.append(ValidationIssue(str(node_id), None, "invalid_node", "has no 'class_type'"))
        elif not isinstance(node.get("inputs", {}), dict | None):
            issues.append(ValidationIssue(str(node_id), None, "invalid_node", "'inputs' must be an object by name"))
    if issues:
        raise import_error(source, issues)
    return prompt


class _Importer:
    def __init__(self, prompt: dict[str, dict[str, Any]], registry: Registry | None, source: str) -> None:
        self.prompt = prompt
        self.registry = registry
        self.source = source
        self.nodes: dict[str, dict[str, Any]] = {}
        self.outputs: dict[str, tuple[str, ...]] = {}
        self.helpers: dict[str, str] = {}
        self.dropped: dict[str, dict[str, Any]] = defaultdict(dict)
        self.issues: list[ValidationIssue] = []

    def run(self) -> dict[str, Any]:
        for node_id, node in self.prompt.items():
            if node["class_type"] == LOAD_IMAGE_MASK:
                self._load_image_mask(node_id, node)
            else:
                self._node(node_id, node, NODE_MAPS[node["class_type"]])
        for node_id, node in self.prompt.items():
            self._links(node_id, node)
        if self.issues:
            raise import_error(self.source, self.issues)
        return self.nodes

    def problem(self, node_id: str, input_: str | None, kind: str, message: str) -> None:
        self.issues.append(ValidationIssue(node_id, input_, kind, message))

    def _accepts(self, type_id: str, name: str) -> bool:
        spec = self.registry.get(type_id) if self.registry is not None else None
        return spec is None or name in spec.inputs

    def _node(self, node_id: str, node: dict[str, Any], mapping: NodeMap) -> None:
        entry: dict[str, Any] = {"type": mapping.target, "inputs": {}, "links": {}, **_title(node)}
        for name, value in (node.get("inputs") or {}).items():
            if is_link(value):
                continue
            if isinstance(value, dict) and set(value) == {"__value__"}:
                value = value["__value__"]
            ours = mapping.graphflow_input(name)
            if name in mapping.ignored or not self._accepts(mapping.target, ours):
                self.dropped[node_id][name] = value  # ComfyUI drops undeclared constants too
                continue
            if name in mapping.values:
                try:
                    value = mapping.values[name].to_graphflow(value)
                except ValueMapError as exc:
                    self.problem(node_id, name, "not_in_choices", f"{mapping.comfy} input {shown(name)}: {exc}")
                    continue
            entry["inputs"][ours] = value
        for name, value in mapping.defaults.items():  # graphflow-only inputs a ComfyUI prompt leaves out
            entry["inputs"].setdefault(name, value)
        if mapping.derive is not None:
            entry["inputs"].update(mapping.derive(node.get("inputs") or {}))
        self.nodes[node_id] = entry
        self.outputs[node_id] = mapping.outputs

    def _load_image_mask(self, node_id: str, node: dict[str, Any]) -> None:
        inputs = node.get("inputs") or {}
        channel = inputs.get("channel", "alpha")
        title = _title(node)
        loader = {"type": "graphflow.image.load", "inputs": {"image": inputs.get("image")}, "links": {}}
        if channel == "alpha":  # graphflow's Load Image mask is 1 - alpha, like ComfyUI's alpha channel
            self.nodes[node_id] = {**loader, **title}
            self.outputs[node_id] = ("mask",)
            return
        helper = f"{node_id}{HELPER_SEPARATOR}image"
        self.nodes[helper] = loader
        self.helpers[helper] = node_id
        self.nodes[node_id] = {
            "type": "graphflow.mask.from_image",
            "inputs": {"channel": channel},
            "links": {"image": {"node": helper, "output": "pixels"}},
            **title,
        }
        self.outputs[node_id] = ("mask",)

    def _links(self, node_id: str, node: dict[str, Any]) -> None:
        mapping = NODE_MAPS.get(node["class_type"])
        for name, value in (node.get("inputs") or {}).items():
            if not is_link(value):
                continue
            source, index = value[0], output_index(value[1])
            if index is None:
                self.problem(node_id, name, "invalid_link", f"links to output {shown(value[1])}, not a whole number")
                continue
            if source not in self.outputs:
                message = f"links to node {shown(source)}, which is not in the prompt"
                self.problem(node_id, name, "missing_node", message)
                continue
            names = self.outputs[source]
            if not 0 <= index < len(names):
                message = (
                    f"links to output {shown(index)} of node {shown(source)} "
                    f"({self.prompt[source]['class_type']}), which has {len(names)} output(s)"
                )
                self.problem(node_id, name, "unknown_output", message)
                continue
            ours = mapping.graphflow_input(name) if mapping else name
            self.nodes[node_id]["links"][ours] = {"node": source, "output": names[index]}


def import_api(
    prompt: Any,
    *,
    registry: Registry | None = None,
    source: str = "ComfyUI prompt",
    origin: dict[str, Any] | None = None,
    ui: dict[str, Any] | None = None,
) -> Workflow:
    """A graphflow workflow from a ComfyUI API-format prompt; every problem is raised at once.

    With a `registry`, constant inputs the graphflow node does not declare are dropped (as ComfyUI
    drops undeclared constants) and kept in meta for export.
    """
    prompt = _check_shape(prompt, source)
    unsupported: dict[str, list[str]] = defaultdict(list)
    for node_id, node in prompt.items():
        if node["class_type"] not in SUPPORTED:
            unsupported[node["class_type"]].append(str(node_id))
    if unsupported:
        raise unsupported_error(dict(unsupported), source)
    importer = _Importer({str(k): v for k, v in prompt.items()}, registry, source)
    nodes = importer.run()
    meta = {"format": "api", **(origin or {}), "class_types": {str(k): v["class_type"] for k, v in prompt.items()}}
    if importer.helpers:
        meta["helpers"] = importer.helpers
    if importer.dropped:
        meta["dropped"] = dict(importer.dropped)
    data = {"format": "graphflow.workflow", "version": 1, "nodes": nodes, "ui": ui or {}, "meta": {META_KEY: meta}}
    try:
        return Workflow.model_validate(data)
    except ValidationError as exc:
        raise import_error(source, [format_issue(e["loc"], e["msg"]) for e in exc.errors()]) from None


def _title(node: dict[str, Any]) -> dict[str, str]:
    """The node's title from its `_meta`, when it has a usable one."""
    meta = node.get("_meta")
    title = meta.get("title") if isinstance(meta, dict) else None
    return {"title": title} if isinstance(title, str) and title else {}


def owner_of(node_id: str) -> str:
    """The ComfyUI node id a graphflow node id belongs to: helpers are `ID:role`; other ids, including
    ComfyUI's own compound ids of nodes inside subgraphs (`10:5`), are their own."""
    owner, _, role = node_id.rpartition(HELPER_SEPARATOR)
    return owner if owner and role in HELPER_ROLES else node_id


def comfy_origin(workflow: Workflow) -> dict[str, Any]:
    """What the ComfyUI import recorded in the workflow's meta ({} when absent or not an object)."""
    origin = workflow.meta.get(META_KEY)
    return origin if isinstance(origin, dict) else {}


def recorded(origin: dict[str, Any], key: str, kind: type = str) -> dict[str, Any]:
    """One map of the origin record (node id -> class type, helper owner, dropped inputs), keeping only the
    entries whose value is a `kind`: meta is the file's to write, so it may hold anything."""
    found = origin.get(key)
    return {k: v for k, v in found.items() if isinstance(v, kind)} if isinstance(found, dict) else {}


def export_api(workflow: Workflow) -> dict[str, dict[str, Any]]:
    """The ComfyUI API prompt of a workflow whose node types are all in the mapping table."""
    origin = comfy_origin(workflow)
    class_types: dict[str, str] = recorded(origin, "class_types")
    helpers: dict[str, str] = recorded(origin, "helpers")
    dropped: dict[str, dict[str, Any]] = recorded(origin, "dropped", dict)
    maps: dict[str, NodeMap] = {}
    missing: dict[str, list[str]] = defaultdict(list)
    for node_id, entry in workflow.nodes.items():
        if node_id in helpers or class_types.get(node_id) == LOAD_IMAGE_MASK:
            continue
        mapping = NODE_MAPS.get(class_types.get(node_id, "")) or by_target(entry.type)
        if mapping is None or mapping.target != entry.type:
            missing[entry.type].append(node_id)
        else:
            maps[node_id] = mapping
    if missing:
        names = "; ".join(f"{clipped(t, 60)} (nodes {_some(ids)})" for t, ids in sorted(missing.items())[:SHOWN_TYPES])
        more = f"; and {len(missing) - SHOWN_TYPES:,} more types" if len(missing) > SHOWN_TYPES else ""
        raise ComfyExportError(f"these graphflow node types have no ComfyUI counterpart: {names}{more}")
    prompt: dict[str, dict[str, Any]] = {}
    for node_id, entry in workflow.nodes.items():
        if node_id in helpers:
            continue
        if class_types.get(node_id) == LOAD_IMAGE_MASK:
            prompt[node_id] = _export_load_image_mask(workflow, node_id, entry)
            continue
        mapping = maps[node_id]
        inputs: dict[str, Any] = {}
        for name, value in entry.inputs.items():
            comfy = mapping.comfy_input(name)
            graphflow_only = comfy not in mapping.comfy_inputs
            if name in mapping.derived or (
                graphflow_only and name in mapping.defaults and mapping.defaults[name] == value
            ):
                continue
            value = mapping.values[comfy].to_comfy(value) if comfy in mapping.values else value
            inputs[comfy] = {"__value__": value} if isinstance(value, list) else value
        for name, default in mapping.ignored.items():
            inputs.setdefault(name, default)
        inputs.update(dropped.get(node_id, {}))
        for name, link in entry.links.items():
            inputs[mapping.comfy_input(name)] = _link_to_comfy(workflow, class_types, link.node, link.output)
        prompt[node_id] = {
            "inputs": inputs,
            "class_type": mapping.comfy,
            "_meta": {"title": entry.title or mapping.comfy},
        }
    return prompt


def _link_to_comfy(workflow: Workflow, class_types: dict[str, str], source: str, output: str) -> list[Any]:
    if class_types.get(source) == LOAD_IMAGE_MASK:
        return [source, 0]
    entry = workflow.nodes.get(source)
    mapping = NODE_MAPS.get(class_types.get(source, "")) or (by_target(entry.type) if entry else None)
    return [source, mapping.outputs.index(output) if mapping and output in mapping.outputs else 0]


def _export_load_image_mask(workflow: Workflow, node_id: str, entry: Any) -> dict[str, Any]:
    if entry.type == "graphflow.image.load":
        image, channel = entry.inputs.get("image"), "alpha"
    else:
        link = entry.links.get("image")
        loader = workflow.nodes.get(link.node) if link else None
        image, channel = (loader.inputs.get("image") if loader else None), entry.inputs.get("channel", "red")
    return {
        "inputs": {"image": image, "channel": channel},
        "class_type": LOAD_IMAGE_MASK,
        "_meta": {"title": entry.title or LOAD_IMAGE_MASK},
    }
