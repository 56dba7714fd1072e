"""Muted and bypassed nodes (a node entry's `mode`) taken out of a workflow before it is checked and planned.

A muted node does not run: an input linked to it is left unset, which is a problem when the input is required.
A bypassed node does not run either: each of its outputs is fed from its first linked input of the same type,
as ComfyUI's bypass does; an output with no such input is a problem for the inputs it feeds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from graphflow.declaration import NodeSpec
from graphflow.problems import ValidationIssue, shown
from graphflow.workflow import Link, NodeEntry, Workflow

__all__ = ["MODES", "pass_through", "without_inactive"]

MODES = ("bypass", "mute")
T = TypeVar("T")


def pass_through(inputs: Iterable[tuple[str, T | None]], type_name: str) -> T | None:
    """What feeds a bypassed node's output of type `type_name`: the link of its first linked input of that type."""
    return next((link for kind, link in inputs if kind == type_name and link is not None), None)


def without_inactive(
    workflow: Workflow, spec_of: Callable[[str], NodeSpec | None]
) -> tuple[Workflow, list[ValidationIssue]]:
    """The workflow without its muted and bypassed nodes, links rewired past them, and the problems that leaves.

    `spec_of(type_id)` gives a node type's spec (None when unknown). An optional input (or one with a default)
    linked to a muted node is simply left unlinked, as ComfyUI does; a required one is a `missing_input` problem
    naming both nodes.
    """
    inactive = {node_id: entry for node_id, entry in workflow.nodes.items() if entry.mode is not None}
    if not inactive:
        return workflow, []
    resolver = _Resolver(inactive, spec_of)
    nodes: dict[str, NodeEntry] = {}
    issues: list[ValidationIssue] = []
    for node_id, entry in workflow.nodes.items():
        if node_id in inactive:
            continue
        spec = spec_of(entry.type)
        links: dict[str, Link] = {}
        for name, link in entry.links.items():
            source, reason = resolver.source(link)
            field = spec.inputs.get(name) if spec else None
            if source is not None:
                links[name] = source
            elif field is None or field.required:
                issues.append(ValidationIssue(node_id, name, "missing_input", f"its value would come from {reason}"))
        nodes[node_id] = entry.model_copy(update={"links": links})
    return workflow.model_copy(update={"nodes": nodes}), issues


class _Resolver:
    """Follows a link through bypassed nodes to the active output that feeds it."""

    def __init__(self, inactive: dict[str, NodeEntry], spec_of: Callable[[str], NodeSpec | None]) -> None:
        self.inactive = inactive
        self.spec_of = spec_of

    def source(self, link: Link) -> tuple[Link | None, str]:
        """The active output feeding `link`, or None and why none does."""
        seen: set[str] = set()
        while link.node in self.inactive:
            node_id, entry = link.node, self.inactive[link.node]
            name = f"node {shown(node_id)}"
            if entry.mode == "mute":
                return None, f"{name}, which is muted"
            if node_id in seen:
                return None, f"{name}, whose bypass loops back on itself"
            seen.add(node_id)
            spec = self.spec_of(entry.type)
            output = spec.outputs.get(link.output) if spec else None
            if spec is None or output is None:
                return None, f"{name}, which is bypassed and has no output {shown(link.output)}"
            inputs = [(field.type.name, entry.links.get(field_name)) for field_name, field in spec.inputs.items()]
            fed = pass_through(inputs, output.type.name)
            if fed is None:
                return None, (
                    f"{name}, which is bypassed and has no linked {output.type.name} input to pass to its output "
                    f"{shown(link.output)}"
                )
            link = fed
        return link, ""
