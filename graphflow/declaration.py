"""How a node class is declared: fields, the `@node` decorator and the resulting spec."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from graphflow.types import ValueType

Source = Literal["either", "literal", "link"]
_TYPE_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?$")
_FIELD_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_RESERVED = {"ctx", "self"}
_MISSING: Any = object()


class DeclarationError(TypeError):
    """A node class is declared wrongly; the message names the node and the field."""


@dataclass
class Input:
    """A typed input of a node: a literal value, a link from another node's output, or either."""

    type: ValueType
    default: Any = _MISSING
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: tuple[str, ...] | Callable[[], list[str]] | None = None
    multiline: bool = False
    source: Source = "either"
    optional: bool = False
    widget: str | None = None
    description: str = ""
    choices_help: Callable[[], str] | None = None
    name: str = field(default="", init=False)

    @property
    def required(self) -> bool:
        """An input must be given when it has no default and is not optional."""
        return self.default is _MISSING and not self.optional

    @property
    def has_default(self) -> bool:
        """Whether the declaration carries a default value."""
        return self.default is not _MISSING

    def current_choices(self) -> tuple[str, ...] | None:
        """The allowed values now (a callable choice list is asked again each time)."""
        if self.choices is None:
            return self.type.choices or None
        if callable(self.choices):
            return tuple(self.choices())
        return tuple(self.choices)


@dataclass
class Output:
    """A named, typed output of a node."""

    type: ValueType
    description: str = ""
    name: str = field(default="", init=False)


@dataclass(frozen=True)
class NodeSpec:
    """Everything the engine knows about a node type, built once from its class."""

    type_id: str
    version: str
    title: str
    category: str
    description: str
    inputs: dict[str, Input]
    outputs: dict[str, Output]
    is_output: bool
    cacheable: bool
    cls: type
    upgrade: Callable[[str, dict[str, Any], dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]] | None
    fingerprint: Callable[..., Any] | None

    @property
    def major(self) -> int:
        """The major part of the node's semantic version."""
        return int(self.version.split(".", 1)[0])


def node(
    type_id: str,
    *,
    version: str,
    title: str | None = None,
    category: str = "misc",
    output: bool = False,
    cacheable: bool = True,
) -> Callable[[type], type]:
    """Declare a class as a node type with a stable namespaced id and a semver version."""

    def decorate(cls: type) -> type:
        cls.__graphflow_node__ = _build_spec(cls, type_id, version, title, category, output, cacheable)
        return cls

    return decorate


def spec_of(cls: type) -> NodeSpec:
    """The spec of a class declared with `@node`; a clear error for anything else."""
    spec = getattr(cls, "__graphflow_node__", None)
    if not isinstance(spec, NodeSpec) or spec.cls is not cls:
        raise DeclarationError(f"{getattr(cls, '__qualname__', cls)!r} is not declared with @graphflow.api.node")
    return spec


def _build_spec(
    cls: type, type_id: str, version: str, title: str | None, category: str, output: bool, cacheable: bool
) -> NodeSpec:
    where = f"node {type_id!r} ({cls.__module__}.{cls.__qualname__})"
    if not isinstance(type_id, str) or not _TYPE_ID.match(type_id):
        raise DeclarationError(f"{where}: type id must be namespaced lowercase words like 'acme.blur'")
    if not isinstance(version, str) or not _SEMVER.match(version):
        raise DeclarationError(f"{where}: version {version!r} is not semantic (MAJOR.MINOR.PATCH)")
    inputs: dict[str, Input] = {}
    outputs: dict[str, Output] = {}
    for name, value in vars(cls).items():
        if isinstance(value, Input):
            _check_input(where, name, value)
            value.name = name
            inputs[name] = value
        elif isinstance(value, Output):
            _check_name(where, "output", name)
            if not isinstance(value.type, ValueType):
                raise DeclarationError(f"{where}: output {name!r} has no value type")
            value.name = name
            outputs[name] = value
    clash = set(inputs) & set(outputs)
    if clash:
        raise DeclarationError(f"{where}: {sorted(clash)[0]!r} is both an input and an output")
    if not outputs and not output:
        raise DeclarationError(f"{where}: a node needs at least one output or output=True")
    _check_run(where, cls, inputs)
    return NodeSpec(
        type_id=type_id,
        version=version,
        title=title or cls.__name__,
        category=category,
        description=inspect.cleandoc(cls.__doc__ or "").strip(),
        inputs=inputs,
        outputs=outputs,
        is_output=output,
        cacheable=cacheable,
        cls=cls,
        upgrade=getattr(cls, "upgrade", None),
        fingerprint=getattr(cls, "fingerprint", None),
    )


def _check_name(where: str, kind: str, name: str) -> None:
    if not _FIELD_NAME.match(name) or name in _RESERVED:
        raise DeclarationError(f"{where}: {kind} name {name!r} must be a lowercase identifier, not ctx/self")


def _check_input(where: str, name: str, field_: Input) -> None:
    _check_name(where, "input", name)
    at = f"{where}: input {name!r}"
    if not isinstance(field_.type, ValueType):
        raise DeclarationError(f"{at} has no value type")
    if field_.source not in ("either", "literal", "link"):
        raise DeclarationError(f"{at}: source must be 'either', 'literal' or 'link'")
    if not field_.type.literal and field_.source != "link":
        if field_.source == "literal":
            raise DeclarationError(f"{at}: a {field_.type} cannot be typed in as a literal")
        field_.source = "link"
    if not field_.type.literal and field_.has_default and field_.default is not None:
        raise DeclarationError(f"{at}: a {field_.type} input cannot have a default value")
    if field_.min is not None and field_.max is not None and field_.min > field_.max:
        raise DeclarationError(f"{at}: min {field_.min} is above max {field_.max}")
    if field_.step is not None and field_.step <= 0:
        raise DeclarationError(f"{at}: step must be positive")
    if field_.choices is not None and not callable(field_.choices):
        field_.choices = tuple(field_.choices)
        if not field_.choices or not all(isinstance(c, str) for c in field_.choices):
            raise DeclarationError(f"{at}: choices must be a non-empty list of strings")
    if field_.has_default and field_.default is not None and field_.type.literal:
        if not field_.type.accepts_literal(field_.default):
            raise DeclarationError(f"{at}: default {field_.default!r} is not a {field_.type}")
        if field_.min is not None and field_.default < field_.min or (
            field_.max is not None and field_.default > field_.max
        ):
            raise DeclarationError(f"{at}: default {field_.default!r} is outside its bounds")
        static = field_.choices if isinstance(field_.choices, tuple) else field_.type.choices or None
        if static and field_.default not in static:
            raise DeclarationError(f"{at}: default {field_.default!r} is not one of its choices")


def _check_run(where: str, cls: type, inputs: dict[str, Input]) -> None:
    run = getattr(cls, "run", None)
    if not callable(run):
        raise DeclarationError(f"{where}: needs a method run(self, ctx, ...)")
    params = list(inspect.signature(run).parameters.values())[1:]  # drop self
    if not params or params[0].name != "ctx":
        raise DeclarationError(f"{where}: run's first parameter after self must be ctx")
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    names = {p.name for p in params[1:]}
    for name in inputs:
        if name not in names:
            raise DeclarationError(f"{where}: input {name!r} is not a parameter of run()")
    for name in names - set(inputs):
        raise DeclarationError(f"{where}: run() parameter {name!r} is not a declared input")
