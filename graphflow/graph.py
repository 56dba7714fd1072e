"""Validation of a workflow against the registry, and the execution plan built from it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from graphflow.bypass import without_inactive
from graphflow.declaration import Input, NodeSpec
from graphflow.limits import over_limits
from graphflow.problems import ValidationIssue, clipped, shown, summarise
from graphflow.registry import Registry
from graphflow.settings import Settings
from graphflow.types import can_feed, coerce_literal
from graphflow.workflow import NodeEntry, Workflow

__all__ = ["KINDS", "Plan", "PlannedNode", "ValidationIssue", "WorkflowInvalid", "plan", "validate"]

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
    "over_limit",
    "cycle",
    "no_output_node",
    "unknown_target",
)


class WorkflowInvalid(ValueError):
    """Raised when a workflow cannot run; carries every issue found (the message summarises them)."""

    def __init__(self, issues: list[ValidationIssue]) -> None:
        self.issues = issues
        count = f"{len(issues):,} problem{'s' if len(issues) != 1 else ''}"
        super().__init__(f"workflow is invalid ({count}):\n" + "\n".join(f"  - {line}" for line in summarise(issues)))


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

    `settings` give the folders that choice lists (model files, input images) are read from, and the
    server's limits on sizes, batches and steps that typed-in values must keep to.
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
        # muted and bypassed nodes never reach the checks: what they leave unfed is reported instead
        self.workflow, self.issues = without_inactive(workflow, registry.get)
        self.unfed = {(issue.node_id, issue.input) for issue in self.issues}
        self.registry = registry
        self.settings = settings
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
            self.add(
                node_id,
                None,
                "unknown_node_type",
                clipped(self.registry.explain_unknown(entry.type, entry.plugin), 500),
            )
            return None
        inputs = dict(entry.inputs)
        links = {name: (link.node, link.output) for name, link in entry.links.items()}
        saved = f"saved with {entry.type} version {clipped(entry.version, 30)}"
        file_major = _major(entry.version)
        if file_major is None:
            message = f"saved with {entry.type} version {shown(entry.version, 30)}, which is not a version like 1.0.0"
            self.add(node_id, None, "version_mismatch", message)
            return None
        if file_major > spec.major:
            message = f"{saved}, but the installed one is {spec.version}; install a newer plugin"
            self.add(node_id, None, "version_mismatch", message)
            return None
        if file_major < spec.major:
            if spec.upgrade is None:
                self.add(node_id, None, "version_mismatch", f"{saved}, and version {spec.version} cannot upgrade it")
                return None
            upgraded = self._upgrade(node_id, spec, entry.version, inputs, links)
            if upgraded is None:
                return None
            inputs, links = upgraded
        self.specs[node_id] = spec
        return spec, inputs, links

    def _upgrade(
        self, node_id: str, spec: NodeSpec, version: str, inputs: dict[str, Any], links: dict[str, tuple[str, str]]
    ) -> tuple[dict[str, Any], dict[str, tuple[str, str]]] | None:
        """The node's own upgrade of an older version's inputs and links (its failure is reported, never raised)."""
        assert spec.upgrade is not None
        try:
            new_inputs, new_links = spec.upgrade(
                version, inputs, {name: {"node": src, "output": out} for name, (src, out) in links.items()}
            )
            return dict(new_inputs), {str(k): (str(v["node"]), str(v["output"])) for k, v in new_links.items()}
        except Exception as exc:  # the plugin's code: whatever it raises is its node's problem
            message = f"upgrading from version {shown(version, 30)} failed: {_failure(exc)}"
            self.add(node_id, None, "version_mismatch", message)
            return None

    def _check_node(
        self, node_id: str, spec: NodeSpec, inputs: dict[str, Any], links: dict[str, tuple[str, str]]
    ) -> None:
        before = len(self.issues)
        literals: dict[str, Any] = {}
        for name in inputs.keys() - spec.inputs.keys():
            self.add(node_id, name, "unknown_input", f"{spec.type_id} has no input {shown(name)}{_known(spec.inputs)}")
        for name in links.keys() - spec.inputs.keys():
            self.add(node_id, name, "unknown_input", f"{spec.type_id} has no input {shown(name)}{_known(spec.inputs)}")
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
            elif field_.required and (node_id, name) not in self.unfed:
                self.add(node_id, name, "missing_input", f"required {field_.type} input is not connected or set")
            else:
                literals[name] = None
        for name, problem in over_limits(spec, literals, self.settings):
            self.add(node_id, name, "over_limit", problem)
        if len(self.issues) == before:
            known_links = {k: v for k, v in links.items() if k in spec.inputs}
            self.nodes[node_id] = PlannedNode(node_id, spec, literals, known_links)

    def _check_link(self, node_id: str, field_: Input, src: str, output: str) -> None:
        name = field_.name
        if field_.source == "literal":
            self.add(node_id, name, "invalid_literal", "this input must be typed in, not linked")
            return
        if src not in self.workflow.nodes:
            self.add(node_id, name, "missing_node", f"linked to node {shown(src)}, which is not in the workflow")
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
                f"node {shown(src)} ({src_spec.type_id}) has no output {shown(output)}{_known(src_spec.outputs)}",
            )
        elif not can_feed(out.type, field_.type):
            self.add(
                node_id,
                name,
                "type_mismatch",
                f"expects {field_.type} but node {shown(src)} output {shown(output)} gives {out.type}",
            )

    def _check_literal(self, node_id: str, field_: Input, value: Any) -> Any:
        name, vtype = field_.name, field_.type
        if field_.source == "link":
            self.add(node_id, name, "invalid_literal", f"a {vtype} comes from a link, not a typed value")
            return _BAD
        if value is None and field_.optional:
            return None
        problem = vtype.literal_problem(value)
        if problem is not None:
            self.add(node_id, name, "invalid_literal", problem)
            return _BAD
        if (field_.min is not None and value < field_.min) or (field_.max is not None and value > field_.max):
            self.add(
                node_id,
                name,
                "out_of_bounds",
                f"{shown(value)} is outside [{_fmt(field_.min, '-inf')}, {_fmt(field_.max, 'inf')}]",
            )
            return _BAD
        try:
            choices = field_.current_choices(self.settings)
            hint = field_.choices_hint(self.settings) if choices is not None and value not in choices else None
        except Exception as exc:  # the plugin's choice function: its failure is this input's problem
            self.add(node_id, name, "invalid_value", f"the choices could not be listed: {_failure(exc)}")
            return _BAD
        if choices is not None and value not in choices:
            listed = ", ".join(shown(c) for c in choices[:20]) + (" ..." if len(choices) > 20 else "")
            where = f"; {clipped(hint)}" if hint else ""
            message = f"{shown(value)} is not one of: {listed or '(none available)'}{where}"
            self.add(node_id, name, "not_in_choices", message)
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
            problem = field_.check(self.settings, value)
        except Exception as exc:
            return f"the value could not be checked: {_failure(exc)}"
        return None if problem is None else clipped(str(problem), 500)

    def _report_cycles(self, graph: nx.DiGraph) -> None:
        for component in nx.strongly_connected_components(graph):
            if len(component) == 1 and not graph.has_edge(next(iter(component)), next(iter(component))):
                continue
            cycle = [u for u, _ in nx.find_cycle(graph.subgraph(component))]
            self.add(cycle[0], None, "cycle", _cycle_message(cycle))

    def _targets(self, targets: Iterable[str] | None) -> list[str]:
        if targets is not None:
            wanted = list(targets)
            for target in wanted:
                if target not in self.workflow.nodes:
                    self.add(target, None, "unknown_target", f"requested node {shown(target)} is not in the workflow")
            return [t for t in wanted if t in self.nodes]
        outputs = [nid for nid, spec in self.specs.items() if spec.is_output]
        if not outputs:
            self.add(
                None, None, "no_output_node", "the workflow has no output node (e.g. save image), so nothing would run"
            )
        return [o for o in outputs if o in self.nodes]


_BAD: Any = object()


_VERSION = re.compile(r"(0|[1-9][0-9]{0,8})(\.[0-9A-Za-z.+-]*)?", re.ASCII)
_CYCLE_SHOWN = 5


def _major(version: str) -> int | None:
    """The major part of a version like 1.2.3 (ASCII digits only: "²" is no digit here), else None."""
    match = _VERSION.fullmatch(version)
    return int(match.group(1)) if match else None


def _cycle_message(cycle: list[str]) -> str:
    """The cycle named by its first few nodes and its length."""
    shown_nodes = " -> ".join(shown(n, 40) for n in cycle[:_CYCLE_SHOWN])
    if len(cycle) <= _CYCLE_SHOWN:
        return f"nodes form a cycle: {shown_nodes} -> {shown(cycle[0], 40)}"
    return f"nodes form a cycle of {len(cycle):,} nodes: {shown_nodes} -> ... -> {shown(cycle[0], 40)}"


def _failure(exc: Exception) -> str:
    return f"{type(exc).__name__}: {clipped(str(exc), 160)}"


def _known(names: dict[str, Any]) -> str:
    return f" (it has: {', '.join(names)})" if names else ""


def _fmt(bound: float | None, unbounded: str) -> str:
    return unbounded if bound is None else f"{bound:g}"
