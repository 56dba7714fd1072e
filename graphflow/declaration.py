"""How a node class is declared: fields, the `@node` decorator and the resulting spec."""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union

from graphflow.settings import Settings
from graphflow.types import ValueType

Source = Literal["either", "literal", "link"]
Choices = tuple[str, ...] | Callable[[Settings], Iterable[str]] | Callable[[], Iterable[str]]
ChoicesHelp = Callable[[Settings], str] | Callable[[], str]
Upgrade = Callable[[str, dict[str, Any], dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]]
Fingerprint = Callable[[Settings, Mapping[str, Any]], Any]
Check = Callable[[Settings, Any], str | None]
Budget = Literal["width", "height", "batch", "steps"]
BUDGETS: tuple[Budget, ...] = ("width", "height", "batch", "steps")

_TYPE_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?$")
_FIELD_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_RESERVED = {"ctx", "self"}
_MISSING: Any = object()


class DeclarationError(TypeError):
    """A node class is declared wrongly; the message names the node and the field."""


@dataclass(frozen=True)
class Input:
    """A typed input of a node: a literal value, a link from another node's output, or either.

    `choices` is a list, or a function of the run's `Settings` giving the allowed values now (e.g.
    the files in a models folder); `choices_help` likewise says where they come from. `check(settings,
    value)` returns a sentence saying what is wrong with a typed-in value, or None when it is fine.
    `budget` names the server limit a whole number counts against: a node's `width` and `height`
    together against `max_image_pixels`, a `batch` against `max_batch`, `steps` against `max_steps`.
    """

    type: ValueType
    default: Any = _MISSING
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: Choices | None = None
    multiline: bool = False
    source: Source = "either"
    optional: bool = False
    widget: str | None = None
    description: str = ""
    choices_help: ChoicesHelp | None = None
    check: Check | None = None
    budget: Budget | None = None
    name: str = ""

    @property
    def required(self) -> bool:
        """An input must be given when it has no default and is not optional."""
        return self.default is _MISSING and not self.optional

    @property
    def has_default(self) -> bool:
        """Whether the declaration carries a default value."""
        return self.default is not _MISSING

    @property
    def may_be_none(self) -> bool:
        """Whether `run()` may be given None for this input (optional, or None by default)."""
        return self.optional or (self.has_default and self.default is None)

    def current_choices(self, settings: Settings) -> tuple[str, ...] | None:
        """The allowed values now (a function of the settings is asked again each time)."""
        if self.choices is None:
            return self.type.choices or None
        if callable(self.choices):
            return tuple(self.choices(settings))  # type: ignore[call-arg]
        return tuple(self.choices)

    def choices_hint(self, settings: Settings) -> str | None:
        """Where the choices come from, for error messages."""
        return self.choices_help(settings) if self.choices_help is not None else None  # type: ignore[call-arg]


@dataclass(frozen=True)
class Output:
    """A named, typed output of a node."""

    type: ValueType
    description: str = ""
    name: str = ""


@dataclass(frozen=True)
class NodeSpec:
    """Everything the engine knows about a node type, built once from its class.

    Its inputs and outputs are copies of the class's declarations, named; the declarations themselves
    are never changed, so one `Input` may serve several classes.
    """

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
    upgrade: Upgrade | None
    fingerprint: Fingerprint | None

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
        cls.__graphflow_node__ = _build_spec(cls, type_id, version, title, category, output, cacheable)  # type: ignore[attr-defined]
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
            inputs[name] = _declared_input(where, name, value)
        elif isinstance(value, Output):
            _check_name(where, "output", name)
            if not isinstance(value.type, ValueType):
                raise DeclarationError(f"{where}: output {name!r} has no value type")
            outputs[name] = dataclasses.replace(value, name=name)
    clash = set(inputs) & set(outputs)
    if clash:
        raise DeclarationError(f"{where}: {sorted(clash)[0]!r} is both an input and an output")
    if not outputs and not output:
        raise DeclarationError(f"{where}: a node needs at least one output or output=True")
    _check_budgets(where, inputs)
    _check_run(where, cls, inputs, outputs)
    fingerprint = getattr(cls, "fingerprint", None)
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
        fingerprint=_fingerprint_with_settings(fingerprint) if callable(fingerprint) else None,
    )


def _check_name(where: str, kind: str, name: str) -> None:
    if not _FIELD_NAME.match(name) or name in _RESERVED:
        raise DeclarationError(f"{where}: {kind} name {name!r} must be a lowercase identifier, not ctx/self")


def _declared_input(where: str, name: str, declared: Input) -> Input:
    """A checked, named copy of an input declaration, with its choice functions taking the settings."""
    _check_name(where, "input", name)
    at = f"{where}: input {name!r}"
    if not isinstance(declared.type, ValueType):
        raise DeclarationError(f"{at} has no value type")
    if declared.source not in ("either", "literal", "link"):
        raise DeclarationError(f"{at}: source must be 'either', 'literal' or 'link'")
    source = declared.source
    if not declared.type.literal and source != "link":
        if source == "literal":
            raise DeclarationError(f"{at}: a {declared.type} cannot be typed in as a literal")
        source = "link"
    if not declared.type.literal and declared.has_default and declared.default is not None:
        raise DeclarationError(f"{at}: a {declared.type} input cannot have a default value")
    if any(bound is not None and bound != bound for bound in (declared.min, declared.max)):
        raise DeclarationError(f"{at}: min and max must be numbers, not NaN")
    if declared.min is not None and declared.max is not None and declared.min > declared.max:
        raise DeclarationError(f"{at}: min {declared.min} is above max {declared.max}")
    if declared.step is not None and declared.step <= 0:
        raise DeclarationError(f"{at}: step must be positive")
    choices = declared.choices
    if choices is not None and not callable(choices):
        choices = tuple(choices)
        if not choices or not all(isinstance(c, str) for c in choices):
            raise DeclarationError(f"{at}: choices must be a non-empty list of strings")
    elif callable(choices):
        choices = _with_settings(at, "choices", choices)
    choices_help = _with_settings(at, "choices_help", declared.choices_help) if declared.choices_help else None
    if declared.check is not None:
        _check_check(at, declared.check)
    if declared.budget is not None and (declared.budget not in BUDGETS or declared.type.python_types != (int,)):
        raise DeclarationError(f"{at}: budget must be one of {', '.join(BUDGETS)}, on an INT input")
    copy = dataclasses.replace(declared, name=name, source=source, choices=choices, choices_help=choices_help)
    if copy.has_default and copy.default is not None and copy.type.literal:
        _check_default(at, copy)
    return copy


def _check_budgets(where: str, inputs: dict[str, Input]) -> None:
    """A node's sizes come as one `width` and one `height` input, so that their product can be checked."""
    sides = [field.budget for field in inputs.values() if field.budget in ("width", "height")]
    if sorted(sides) not in ([], ["height", "width"]):
        raise DeclarationError(f"{where}: budgets 'width' and 'height' go together, one input each")


def _check_default(at: str, declared: Input) -> None:
    default = declared.default
    if not declared.type.accepts_literal(default):
        raise DeclarationError(f"{at}: default {default!r} is not a {declared.type}")
    if (declared.min is not None and default < declared.min) or (declared.max is not None and default > declared.max):
        raise DeclarationError(f"{at}: default {default!r} is outside its bounds")
    static = declared.choices if isinstance(declared.choices, tuple) else declared.type.choices or None
    if static and default not in static:
        raise DeclarationError(f"{at}: default {default!r} is not one of its choices")


def _required_positionals(function: Callable[..., Any]) -> int:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return 1
    return sum(1 for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty)


def _with_settings(at: str, what: str, function: Callable[..., Any]) -> Callable[[Settings], Any]:
    """`function(settings)`; a function of no arguments (plugins written before settings existed) is wrapped."""
    if not callable(function):
        raise DeclarationError(f"{at}: {what} must be a function of the settings")
    wanted = _required_positionals(function)
    if wanted == 0:
        return lambda settings: function()
    if wanted == 1:
        return function
    raise DeclarationError(f"{at}: {what} must take one argument, the run's settings")


def _check_check(at: str, check: Any) -> None:
    """A value check must be callable as check(settings, value)."""
    try:
        inspect.signature(check).bind(None, None)
    except TypeError:
        raise DeclarationError(f"{at}: check must be a function of the run's settings and the value") from None
    except ValueError:  # a builtin without a signature: trust it
        pass


def _fingerprint_with_settings(function: Callable[..., Any]) -> Fingerprint:
    """`fingerprint(settings, literals)`, whether the node's method takes `settings` first or literals only."""
    try:
        takes_settings = "settings" in inspect.signature(function).parameters
    except (TypeError, ValueError):
        takes_settings = False
    if takes_settings:
        return lambda settings, literals: function(settings, **literals)
    return lambda settings, literals: function(**literals)


def _check_run(where: str, cls: type, inputs: dict[str, Input], outputs: dict[str, Output]) -> None:
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
    hints = _annotations(where, run)
    for name, declared in inputs.items():
        if name in hints:
            _check_annotation(where, declared, hints[name])
    returned = hints.get("return")
    named_tuple = isinstance(returned, type) and issubclass(returned, tuple) and hasattr(returned, "_fields")
    if named_tuple and returned is not None and set(returned._fields) != set(outputs):
        raise DeclarationError(
            f"{where}: run() returns {returned.__name__} with fields {list(returned._fields)}, "
            f"but the outputs are {list(outputs)}"
        )


def _annotations(where: str, run: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(run)
    except Exception as exc:  # a name only imported under TYPE_CHECKING, a typo, ...
        raise DeclarationError(f"{where}: the annotations of run() cannot be resolved: {exc}") from None


def _check_annotation(where: str, declared: Input, annotation: Any) -> None:
    """A run() parameter's annotation must fit the input's value type (and admit None when it may be None)."""
    if annotation is Any:
        return
    expected = declared.type.value_class()
    members = (
        typing.get_args(annotation) if typing.get_origin(annotation) in (Union, types.UnionType) else (annotation,)
    )
    admits_none = type(None) in members or None in members
    concrete = [m for m in members if m is not type(None) and m is not None]
    at = f"{where}: run() parameter {declared.name!r}"
    if declared.may_be_none and not admits_none:
        raise DeclarationError(f"{at} may be None (the input is optional), so annotate it `... | None`")
    if expected is None:
        return
    for member in concrete:
        origin = typing.get_origin(member) or member
        if member is Any or (isinstance(origin, type) and issubclass(origin, expected)):
            continue
        raise DeclarationError(
            f"{at} is annotated {_shown(annotation)}, but a {declared.type} input gives "
            f"{expected.__module__}.{expected.__qualname__}"
        )


def _shown(annotation: Any) -> str:
    return annotation.__name__ if isinstance(annotation, type) else str(annotation)
