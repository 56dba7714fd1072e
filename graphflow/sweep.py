"""Fan-out: one workflow expanded over seeds or a grid of input values (an XY(Z) plot) into child workflows."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from graphflow.declaration import NodeSpec
from graphflow.graph import ValidationIssue
from graphflow.registry import Registry
from graphflow.workflow import NodeEntry, Workflow

MAX_AXES = 3
MAX_CHILDREN = 256
MAX_INT = 2**64  # sweep integers stay below this in size: seeds and counts, not numbers too long to print
LABEL_LIMIT = 100
INVALID = "invalid_sweep"
AXIS_NAMES = ("X axis", "Y axis", "Z axis")
_SHOWN_ISSUES = 10


class SweepInvalid(ValueError):
    """A sweep that cannot expand a workflow; `issues` name the axis, node and input (or the body's field) at fault."""

    def __init__(self, issues: list[ValidationIssue]) -> None:
        self.issues = issues
        more = len(issues) - _SHOWN_ISSUES
        listed = "; ".join(issue.message for issue in issues[:_SHOWN_ISSUES])
        super().__init__(f"sweep is invalid: {listed}" + (f"; and {more:,} more" if more > 0 else ""))


@dataclass(frozen=True)
class Axis:
    """One input of one node and the values it takes along one side of the grid; `label` titles the axis."""

    node_id: str
    input: str
    values: Sequence[Any]
    label: str | None = None

    @property
    def title(self) -> str:
        """The axis's name on the picture: its label, or the input's name."""
        return self.label or self.input

    def value_label(self, value: Any) -> str:
        """How one value reads on the grid, e.g. "steps: 20"."""
        text = value if isinstance(value, str) else json.dumps(value)
        if len(text) > LABEL_LIMIT:
            text = text[: LABEL_LIMIT - 3] + "..."
        return f"{self.title}: {text}"

    def labels(self) -> list[str]:
        """The label of every value, in order (a row or column of headings)."""
        return [self.value_label(value) for value in self.values]


@dataclass(frozen=True)
class Sweep:
    """The axes of a fan-out, X first (then Y, then Z for pages): one child per point of their product."""

    axes: tuple[Axis, ...]

    @classmethod
    def seeds(cls, node_id: str, input: str = "seed", count: int = 4, start: int = 0) -> Sweep:
        """`count` children whose `input` of `node_id` takes the seeds start, start + 1, ..."""
        return cls((Axis(node_id, input, range(start, start + count), label="seed"),))

    @property
    def size(self) -> int:
        """How many children the sweep makes."""
        return math.prod(len(axis.values) for axis in self.axes)


@dataclass(frozen=True)
class Child:
    """One child prompt: its workflow, its place on the grid (an index per axis, X first) and its labels."""

    workflow: Workflow
    coords: tuple[int, ...]
    labels: tuple[str, ...]


def check(
    sweep: Sweep, workflow: Workflow, registry: Registry | None = None, limit: int = MAX_CHILDREN
) -> list[ValidationIssue]:
    """Every reason the sweep cannot expand the workflow (none means it can); with a registry, inputs the
    node type declares may be swept even when the workflow leaves them at their defaults."""
    issues: list[ValidationIssue] = []
    if not 1 <= len(sweep.axes) <= MAX_AXES:
        message = f"a sweep has 1 to {MAX_AXES} axes (X, Y and Z), not {len(sweep.axes)}"
        issues.append(ValidationIssue(None, None, INVALID, message))
    swept: dict[tuple[str, str], str] = {}
    for index, axis in enumerate(sweep.axes):
        name = _axis_name(index)
        issues += _axis_issues(name, axis, workflow, registry, limit)
        earlier = swept.setdefault((axis.node_id, axis.input), name)
        if earlier != name:
            message = f"{name} sweeps node {axis.node_id!r}, input {axis.input!r} again (the {earlier} does already)"
            issues.append(ValidationIssue(axis.node_id, axis.input, INVALID, message))
    if sweep.size > limit:
        sides = " x ".join(f"{len(axis.values):,}" for axis in sweep.axes)
        message = f"the sweep makes {sides} = {sweep.size:,} children, more than the limit of {limit:,}"
        issues.append(ValidationIssue(None, None, INVALID, message))
    return issues


def expand(
    workflow: Workflow, sweep: Sweep, registry: Registry | None = None, limit: int = MAX_CHILDREN
) -> list[Child]:
    """The children of a sweep, X varying fastest, then Y, then Z: each a deep copy of the workflow with the
    swept inputs set (a swept input that was linked loses its link); raise SweepInvalid if it cannot expand."""
    issues = check(sweep, workflow, registry, limit)
    if issues:
        raise SweepInvalid(issues)
    children: list[Child] = []
    for point in itertools.product(*(range(len(axis.values)) for axis in reversed(sweep.axes))):
        coords = tuple(reversed(point))
        child = workflow.model_copy(deep=True)
        for axis, index in zip(sweep.axes, coords, strict=True):
            entry = child.nodes[axis.node_id]
            entry.inputs[axis.input] = axis.values[index]
            entry.links.pop(axis.input, None)
        labels = tuple(axis.value_label(axis.values[i]) for axis, i in zip(sweep.axes, coords, strict=True))
        children.append(Child(child, coords, labels))
    return children


def parse_sweep(body: Any, limit: int = MAX_CHILDREN) -> Sweep:
    """A sweep from its JSON body, `{"axes": [{"node", "input", "values", "label"?}, ...]}` or `{"seeds":
    {"node", "input"?: "seed", "count", "start"?: 0}}`; SweepInvalid names every field at fault."""
    reader = _Reader()
    fields = reader.object(body, "sweep", required=(), optional=("axes", "seeds"))
    sweep: Sweep | None = None
    if fields is not None:
        if ("axes" in fields) == ("seeds" in fields):
            reader.fail("sweep", "give either 'axes' (a grid of values) or 'seeds' (a run of seeds)")
        elif "axes" in fields:
            sweep = _parse_axes(reader, fields["axes"])
        else:
            sweep = _parse_seeds(reader, fields["seeds"], limit)
    if reader.issues or sweep is None:
        raise SweepInvalid(reader.issues)
    return sweep


def _parse_axes(reader: _Reader, axes: Any) -> Sweep | None:
    if not isinstance(axes, list) or not 1 <= len(axes) <= MAX_AXES:
        reader.fail("axes", f"must be a list of 1 to {MAX_AXES} axes (X, Y and Z)")
        return None
    parsed: list[Axis] = []
    for index, item in enumerate(axes):
        where = f"axes[{index}]"
        fields = reader.object(item, where, required=("node", "input", "values"), optional=("label",))
        if fields is None:
            continue
        node, input_ = reader.text(fields, "node", where), reader.text(fields, "input", where)
        label = reader.text(fields, "label", where) if "label" in fields else None
        values = fields["values"]
        if not isinstance(values, list) or not values:
            reader.fail(f"{where}.values", "must be a non-empty list of values")
        elif node is not None and input_ is not None:
            parsed.append(Axis(node, input_, tuple(values), label))
    return Sweep(tuple(parsed)) if len(parsed) == len(axes) else None


def _parse_seeds(reader: _Reader, seeds: Any, limit: int) -> Sweep | None:
    fields = reader.object(seeds, "seeds", required=("node", "count"), optional=("input", "start"))
    if fields is None:
        return None
    node = reader.text(fields, "node", "seeds")
    input_ = reader.text(fields, "input", "seeds") if "input" in fields else "seed"
    count = reader.integer(fields, "count", "seeds", 1, limit)
    start = reader.integer(fields, "start", "seeds", 1 - MAX_INT, MAX_INT - 1) if "start" in fields else 0
    if node is None or input_ is None or count is None or start is None:
        return None
    return Sweep.seeds(node, input_, count, start)


class _Reader:
    """Reads a JSON body field by field, collecting one issue per field at fault."""

    def __init__(self) -> None:
        self.issues: list[ValidationIssue] = []

    def fail(self, field: str, message: str) -> None:
        self.issues.append(ValidationIssue(None, None, INVALID, f"{field}: {message}"))

    def object(
        self, value: Any, where: str, required: tuple[str, ...], optional: tuple[str, ...]
    ) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.fail(where, f"must be a JSON object, not {_json_type(value)}")
            return None
        before = len(self.issues)
        for key in value.keys() - {*required, *optional}:
            self.fail(f"{where}.{key}"[:200], f"is not a field here (known: {', '.join((*required, *optional))})")
        for key in required:
            if key not in value:
                self.fail(f"{where}.{key}", "is missing")
        return value if len(self.issues) == before else None

    def text(self, fields: dict[str, Any], key: str, where: str) -> str | None:
        value = fields[key]
        if not isinstance(value, str) or not value:
            self.fail(f"{where}.{key}", f"must be non-empty text, not {_json_type(value)}")
            return None
        return value

    def integer(self, fields: dict[str, Any], key: str, where: str, low: int, high: int) -> int | None:
        value = fields[key]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            self.fail(f"{where}.{key}", f"must be a whole number from {low:,} to {high:,}")
            return None
        return value


def _axis_name(index: int) -> str:
    return AXIS_NAMES[index] if index < len(AXIS_NAMES) else f"axis {index + 1}"


def _axis_issues(
    name: str, axis: Axis, workflow: Workflow, registry: Registry | None, limit: int
) -> list[ValidationIssue]:
    node_id, input_ = axis.node_id, axis.input
    where = f"{name} (node {node_id!r}, input {input_!r})"
    issues: list[ValidationIssue] = []
    entry = workflow.nodes.get(node_id)
    if entry is None:
        issues.append(ValidationIssue(node_id, input_, "missing_node", f"{where}: the node is not in the workflow"))
    else:
        spec = registry.get(entry.type) if registry is not None else None
        problem = _input_problem(entry, input_, spec)
        if problem is not None:
            kind, message = problem
            issues.append(ValidationIssue(node_id, input_, kind, f"{where}: {message}"))
    if not axis.values:
        issues.append(ValidationIssue(node_id, input_, INVALID, f"{where}: the axis has no values"))
    elif len(axis.values) <= limit:  # a longer axis is already too big; its values need not be read
        for index, value in enumerate(axis.values):
            value_problem = _scalar_problem(value)
            if value_problem is not None:
                message = f"{where}: values[{index}] {value_problem}"
                issues.append(ValidationIssue(node_id, input_, "invalid_literal", message))
    return issues


def _input_problem(entry: NodeEntry, input_: str, spec: NodeSpec | None) -> tuple[str, str] | None:
    """The issue kind and sentence when a sweep cannot set this input of this node; the node type's
    declaration decides when it is known, else the inputs the node's entry sets or links."""
    if spec is None:
        if input_ in entry.inputs or input_ in entry.links:
            return None
        known = ", ".join(repr(n) for n in sorted({*entry.inputs, *entry.links})) or "none"
        return "unknown_input", f"the node sets or links no such input (it has: {known})"
    declared = spec.inputs.get(input_)
    if declared is None:
        known = ", ".join(repr(n) for n in spec.inputs) or "none"
        return "unknown_input", f"{entry.type} has no such input (it has: {known})"
    if declared.source == "link":
        return "invalid_literal", f"the input takes only a link ({declared.type.name}), not a value"
    return None


def _scalar_problem(value: Any) -> str | None:
    """Why a value cannot be swept, or None: sweep values are JSON scalars (text, number, true/false, null)."""
    if value is None or isinstance(value, str | bool):
        return None
    if isinstance(value, int):
        return None if abs(value) < MAX_INT else "is an integer of more than 64 bits"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"is {value}, which JSON cannot carry"
    return f"is {_json_type(value)}, not a JSON scalar (text, number, true/false or null)"


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", tuple: "a list", str: "text", bool: "true/false", type(None): "null"}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), f"a Python {type(value).__name__}")
