"""The building blocks of the ComfyUI mapping table: how one ComfyUI node type becomes one graphflow node.

`NodeMap` describes one node type; `ValueMap` converts the values of one input both ways; `CONTROL`
and `UPLOAD` stand for UI-only widgets in the UI format's `widgets_values`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphflow.problems import shown

# UI-only widgets that take a slot in `widgets_values` but never reach the server.
CONTROL = "<control_after_generate>"
UPLOAD = "<upload>"
UI_ONLY = frozenset({CONTROL, UPLOAD})
CONTROL_VALUES = frozenset({"fixed", "increment", "decrement", "randomize"})
OUTPUT_HIDDEN = {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}  # what SaveImage/PreviewImage declare


class ValueMapError(ValueError):
    """A ComfyUI value has no graphflow counterpart."""


@dataclass(frozen=True)
class ValueMap:
    """A two-way conversion of the values of one input (ComfyUI value -> graphflow value)."""

    forward: Mapping[Any, Any]
    strict: bool = True  # values outside `forward` are refused (else passed through unchanged)

    def to_graphflow(self, value: Any) -> Any:
        """The graphflow value of a ComfyUI value."""
        if not isinstance(value, list | dict) and value in self.forward:  # JSON's lists and objects: no hash
            return self.forward[value]
        if self.strict:
            raise ValueMapError(f"{shown(value)} is not one of: {', '.join(map(str, self.forward))}")
        return value

    def to_comfy(self, value: Any) -> Any:
        """The ComfyUI value of a graphflow value."""
        for comfy, ours in self.forward.items():
            if type(ours) is type(value) and ours == value:  # True must not match 1
                return comfy
        return value

    @property
    def choices(self) -> list[Any]:
        """The ComfyUI values, in order (a combo list in /object_info)."""
        return list(self.forward)


ENABLE = ValueMap({"enable": True, "disable": False})
DISABLE_FIRST = ValueMap({"disable": False, "enable": True})  # ComfyUI lists "disable" first for this input
IMAGE_METHOD = ValueMap(
    {"nearest-exact": "nearest", "bilinear": "bilinear", "area": "area", "bicubic": "bicubic", "lanczos": "lanczos"}
)
LATENT_METHOD = ValueMap({"nearest-exact": "nearest", "bilinear": "bilinear", "bislerp": "bislerp"})


@dataclass(frozen=True)
class NodeMap:
    """How one ComfyUI node type becomes one graphflow node, and how ComfyUI describes it.

    `defaults` holds, by graphflow input name, the value a ComfyUI prompt means when it leaves an input
    out: ComfyUI's own default where graphflow's differs, and the value graphflow-only inputs need to
    behave like ComfyUI (e.g. whole timesteps). `/object_info` shows them as the defaults.
    """

    comfy: str
    target: str
    outputs: tuple[str, ...] = ()  # graphflow output name of each ComfyUI output index
    inputs: tuple[str, ...] = ()  # ComfyUI's required inputs, in its INPUT_TYPES order
    optional: tuple[str, ...] = ()  # ComfyUI's optional inputs, in order
    widgets: tuple[str, ...] = ()  # the UI format's widgets_values order, with UI-only entries
    renames: Mapping[str, str] = field(default_factory=dict)  # ComfyUI input -> graphflow input
    values: Mapping[str, ValueMap] = field(default_factory=dict)
    ignored: Mapping[str, Any] = field(default_factory=dict)  # ComfyUI-only INT inputs -> ComfyUI default
    defaults: Mapping[str, Any] = field(default_factory=dict)  # graphflow input -> ComfyUI's value, see below
    derive: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None  # graphflow inputs computed from ComfyUI's
    category: str = ""
    display_name: str = ""  # "" : ComfyUI shows the class name
    description: str = ""
    python_module: str = "nodes"
    output_names: tuple[str, ...] = ()  # ComfyUI's RETURN_NAMES; () : the output types
    hidden: Mapping[str, str] = field(default_factory=dict)
    deprecated: bool = False

    def graphflow_input(self, name: str) -> str:
        """The graphflow name of a ComfyUI input."""
        return self.renames.get(name, name)

    def comfy_input(self, name: str) -> str:
        """The ComfyUI name of a graphflow input."""
        for comfy, ours in self.renames.items():
            if ours == name:
                return comfy
        return name

    @property
    def comfy_inputs(self) -> tuple[str, ...]:
        """Every ComfyUI input, required then optional, in ComfyUI's order."""
        return self.inputs + self.optional

    @property
    def derived(self) -> frozenset[str]:
        """graphflow inputs set by `derive`, which do not exist in ComfyUI."""
        return frozenset(self.derive({}) if self.derive else ())

    def widget_option(self, name: str) -> str | None:
        """The UI-only widget (CONTROL or UPLOAD) that follows widget `name`, if any."""
        if name not in self.widgets:
            return None
        index = self.widgets.index(name) + 1
        return self.widgets[index] if index < len(self.widgets) and self.widgets[index] in UI_ONLY else None
