"""Validation of a workflow against the registry, and the execution plan built from it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from graphflow.declaration import Input, NodeSpec
from graphflow.registry import Registry
from graphflow.settings import Settings
from graphflow.types import can_feed, coerce_literal
from graphflow.workflow import NodeEntry, Workflow

KINDS = (
    "unknown_node_type",
    "version_mismatch",
    "unknown_input",
    "unknown_output",
    "missing_input",
    "missing_node",
    "duplicate_input",
    "type_mismatch",
    "invalid_literal",
    "out_of_bounds",
    "not_in_choices",
    "invalid_value",
    "cycle",
    "no_output_node",
    "unknown_target",
)


@dataclass(frozen=True)
class ValidationIssue:
    """One problem found before running: where (node, input), what kind, and a sentence."""

    node_id: str | None
    input: str | None
    kind: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape the editor and the API report."""
        return {"node_id": self.node_id, "input": self.input, "kind": self.kind, "message": self.message}

    def __str__(self) -> str:
        where = f"node {self.node_id!r}" if self.node_id is not None else "workflow"
        if self.input is not None:
            where += f", input {self.input!r}"
        return f"{where}: {self.message} [{self.kind}]"


class WorkflowInvalid(ValueError):
    """Raised when a workflow cannot run; carries every issue found."""

    def __init__(self, issues: list[ValidationIssue]) -> None:
        self.issues = issues
        super().__init__("workflow is invalid:\n" + "\n".join(f"  - {i}" for i in issues))


@dataclass(frozen=True)
class PlannedNode:
    """A node ready to run: its spec, its literal values (defaults filled) and its links."""

    node_id: str
    spec: NodeSpec
    literals: dict[str, Any]
    links: dict[str, tuple[str, str]]


@dataclass
class Plan:
    """The nodes to run, in topological order, for the requested outputs."""

    order: list[PlannedNode]
    targets: list[str]
    nodes: dict[str, PlannedNode] = field(default_factory=dict)


def validate(
    workflow: Workflow, registry: Registry, settings: Settings, targets: Iterable[str] | None = None
) -> list[ValidationIssue]:
    """Every problem in the workflow, all at once (an empty list means it can run).

    `settings` give the folders that choice lists (model files, input images) are read from.
    """
    return _Checker(workflow, registry, settings).run(targets)[0]


def plan(workflow: Workflow, registry: Registry, settings: Settings, targets: Iterable[str] | None = None) -> Plan:
    """Validate, then order the ancestors of the output nodes (or of `targets`); raise WorkflowInvalid."""
    issues, result = _Checker(workflow, registry, settings).run(targets)
    if issues or result is None:
        raise WorkflowInvalid(issues)
    return result


class _Checker:
    def __init__(self, workflow: Workflow, registry: Registry, settings: Settings) -> None:
        self.workflow = workflow
        self.registry = registry
        self.settings = settings
        self.issues: list[ValidationIssue] = []
        self.specs: dict[str, NodeSpec] = {}
        self.nodes: dict[str, PlannedNode] = {}

    def add(self, node_id: str | None, input_: str | None, kind: str, message: str) -> None:
        self.issues.append(ValidationIssue(node_id, input_, kind, message))

    def run(self, targets: Iterable[str] | None) -> tuple[list[ValidationIssue], Plan | None]:
        entries = {nid: self._upgraded(nid, e) for nid, e in self.workflow.nodes.items()}
        for node_id, entry in entries.items():
            if entry is not None:
                self._check_node(node_id, *entry)
        graph = nx.DiGraph()
        graph.add_nodes_from(self.nodes)
        graph.add_edges_from(
            (src, nid) for nid, n in self.nodes.items() for src, _ in n.links.values() if src in self.nodes
        )
        ordered: list[str] = []
        try:
            ordered = list(nx.topological_sort(graph))
        except nx.NetworkXUnfeasible:
            self._report_cycles(graph)
        wanted = self._targets(targets)
        if self.issues:
            return self.issues, None
        needed = set(wanted)
        for target in wanted:
            needed |= nx.ancestors(graph, target)
        order = [self.nodes[n] for n in ordered if n in needed]
        return [], Plan(order=order, targets=wanted, nodes={n.node_id: n for n in order})

    def _upgraded(
        self, node_id: str, entry: NodeEntry
    ) -> tuple[NodeSpec, dict[str, Any], dict[str, tuple[str, str]]] | None:
        spec = self.registry.get(entry.type)
        if spec is None:
            self.add(node_id, None, "unknown_node_type", self.registry.explain_unknown(entry.type, entry.plugin))
            return None
        inputs = dict(entry.inputs)
        links = {name: {"node": link.node, "output": link.output} for name, link in entry.links.items()}
        file_major = _major(entry.version)
        if file_major is None or file_major > spec.major:
            self.add(
                node_id,
                None,
                "version_mismatch",
                f"saved with {entry.type} version {entry.version}, but the installed one is {spec.version}; "
                "install a newer plugin",
            )
            return None
        if file_major < spec.major:
            if spec.upgrade is None:
                self.add(
                    node_id,
                    None,
                    "version_mismatch",
                    f"saved with {entry.type} version {entry.version}, and version {spec.version} cannot upgrade it",
                )
                return None
            inputs, links = spec.upgrade(entry.version, inputs, links)
        self.specs[node_id] = spec
        return spec, inputs, {name: (link["node"], link["output"]) for name, link in links.items()}

    def _check_node(
        self, node_id: str, spec: NodeSpec, inputs: dict[str, Any], links: dict[str, tuple[str, str]]
    ) -> None:
        before = len(self.issues)
        literals: dict[str, Any] = {}
        for name in inputs.keys() - spec.inputs.keys():
            self.add(node_id, name, "unknown_input", f"{spec.type_id} has no input {name!r}{_known(spec.inputs)}")
        for name in links.keys() - spec.inputs.keys():
            self.add(node_id, name, "unknown_input", f"{spec.type_id} has no input {name!r}{_known(spec.inputs)}")
        for name, field_ in spec.inputs.items():
            if name in inputs and name in links:
                self.add(node_id, name, "duplicate_input", "given both a literal value and a link; keep one")
            elif name in links:
                self._check_link(node_id, field_, *links[name])
            elif name in inputs:
                value = self._check_literal(node_id, field_, inputs[name])
                if value is not _BAD:
                    literals[name] = value
            elif field_.has_default:
                literals[name] = field_.default
            elif field_.required:
                self.add(node_id, name, "missing_input", f"required {field_.type} input is not connected or set")
            else:
                literals[name] = None
        if len(self.issues) == before:
            known_links = {k: v for k, v in links.items() if k in spec.inputs}
            self.nodes[node_id] = PlannedNode(node_id, spec, literals, known_links)

    def _check_link(self, node_id: str, field_: Input, src: str, output: str) -> None:
        name = field_.name
        if field_.source == "literal":
            self.add(node_id, name, "invalid_literal", "this input must be typed in, not linked")
            return
        if src not in self.workflow.nodes:
            self.add(node_id, name, "missing_node", f"linked to node {src!r}, which is not in the workflow")
            return
        src_spec = self.specs.get(src)
        if src_spec is None:
            return  # the source's own problem is already reported
        out = src_spec.outputs.get(output)
        if out is None:
            self.add(
                node_id,
                name,
                "unknown_output",
                f"node {src!r} ({src_spec.type_id}) has no output {output!r}{_known(src_spec.outputs)}",
            )
        elif not can_feed(out.type, field_.type):
            self.add(
                node_id,
                name,
                "type_mismatch",
                f"expects {field_.type} but node {src!r} output {output!r} gives {out.type}",
            )

    def _check_literal(self, node_id: str, field_: Input, value: Any) -> Any:
        name, vtype = field_.name, field_.type
        if field_.source == "link":
            self.add(node_id, name, "invalid_literal", f"a {vtype} comes from a link, not a typed value")
            return _BAD
        if value is None and field_.optional:
            return None
        if not vtype.accepts_literal(value):
            self.add(node_id, name, "invalid_literal", f"expects {vtype}, got {type(value).__name__} {value!r}")
            return _BAD
        if (field_.min is not None and value < field_.min) or (field_.max is not None and value > field_.max):
            self.add(
                node_id,
                name,
                "out_of_bounds",
                f"{value!r} is outside [{_fmt(field_.min, '-inf')}, {_fmt(field_.max, 'inf')}]",
            )
            return _BAD
        choices = field_.current_choices(self.settings)
        if choices is not None and value not in choices:
            shown = ", ".join(repr(c) for c in choices[:20]) + (" ..." if len(choices) > 20 else "")
            hint = field_.choices_hint(self.settings)
            where = f"; {hint}" if hint else ""
            self.add(node_id, name, "not_in_choices", f"{value!r} is not one of: {shown or '(none available)'}{where}")
            return _BAD
        value = coerce_literal(vtype, value)
        problem = self._checked(field_, value)
        if problem is not None:
            self.add(node_id, name, "invalid_value", problem)
            return _BAD
        return value

    def _checked(self, field_: Input, value: Any) -> str | None:
        """What the input's own check says about a value (its failure is reported, never raised)."""
        if field_.check is None:
            return None
        try:
            return field_.check(self.settings, value)
        except Exception as exc:
            return f"the value could not be checked: {type(exc).__name__}: {exc}"

    def _report_cycles(self, graph: nx.DiGraph) -> None:
        for component in nx.strongly_connected_components(graph):
            if len(component) == 1 and not graph.has_edge(next(iter(component)), next(iter(component))):
                continue
            cycle = [u for u, _ in nx.find_cycle(graph.subgraph(component))]
            path = " -> ".join(repr(n) for n in cycle + cycle[:1])
            self.add(cycle[0], None, "cycle", f"nodes form a cycle: {path}")

    def _targets(self, targets: Iterable[str] | None) -> list[str]:
        if targets is not None:
            wanted = list(targets)
            for target in wanted:
                if target not in self.workflow.nodes:
                    self.add(target, None, "unknown_target", f"requested node {target!r} is not in the workflow")
            return [t for t in wanted if t in self.nodes]
        outputs = [nid for nid, spec in self.specs.items() if spec.is_output]
        if not outputs:
            self.add(
                None, None, "no_output_node", "the workflow has no output node (e.g. save image), so nothing would run"
            )
        return [o for o in outputs if o in self.nodes]


_BAD: Any = object()


def _major(version: str) -> int | None:
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else None


def _known(names: dict[str, Any]) -> str:
    return f" (it has: {', '.join(names)})" if names else ""


def _fmt(bound: float | None, unbounded: str) -> str:
    return unbounded if bound is None else f"{bound:g}"
