"""The value types that travel on edges, the Python values they carry, and which may feed which."""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field
from typing import Any

from graphflow.problems import shown

WHOLE_MIN, WHOLE_MAX = -(2**63), 2**64 - 1  # signed 64-bit below zero, unsigned above (seeds)


@dataclass(frozen=True)
class ValueType:
    """A named edge type; `literal` types may also be typed into a node as plain values.

    `python_class` names the class of the values ("module:QualifiedName"); it is imported only when a
    node's annotations or outputs are checked, so the engine itself never imports torch.
    """

    name: str
    literal: bool = False
    python_types: tuple[type, ...] = ()
    choices: tuple[str, ...] = field(default=(), compare=False)
    description: str = field(default="", compare=False)
    python_class: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return self.name

    def accepts_literal(self, value: Any) -> bool:
        """Whether a plain value from a workflow file is of this type."""
        return self.literal and self.literal_problem(value) is None

    def literal_problem(self, value: Any) -> str | None:
        """Why a plain value is not of this (literal) type, as a sentence; None when it is."""
        if not isinstance(value, self.python_types) or (isinstance(value, bool) and bool not in self.python_types):
            return f"expects {self}, got {type(value).__name__} {shown(value)}"  # JSON true must not pass as 1
        return number_problem(value)

    def value_class(self) -> type | None:
        """The class every value of this type is an instance of, when the type says (None: anything)."""
        if self.literal:
            return self.python_types[0] if self.python_types else None
        if self.python_class is None:
            return None
        return _import_class(self.python_class)

    def accepts_value(self, value: Any) -> bool:
        """Whether a value a node returned may travel on an edge of this type."""
        if self.literal:
            return self.accepts_literal(value)
        cls = self.value_class()
        return cls is None or isinstance(value, cls)


def number_problem(value: Any) -> str | None:
    """Why a number is no value on an edge: NaN and infinities are not, and whole numbers fit in 64 bits."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{shown(value)} is not a finite number"
    if isinstance(value, int) and not isinstance(value, bool) and not WHOLE_MIN <= value <= WHOLE_MAX:
        return f"{shown(value)} is too large: whole numbers must fit in 64 bits"
    return None


_CLASSES: dict[str, type] = {}


def _import_class(reference: str) -> type:
    if reference not in _CLASSES:
        module, _, qualname = reference.partition(":")
        target: Any = importlib.import_module(module)
        for part in qualname.split("."):
            target = getattr(target, part)
        _CLASSES[reference] = target
    return _CLASSES[reference]


INT = ValueType("INT", literal=True, python_types=(int,), description="whole number")
FLOAT = ValueType("FLOAT", literal=True, python_types=(float, int), description="real number")
STRING = ValueType("STRING", literal=True, python_types=(str,), description="text")
BOOLEAN = ValueType("BOOLEAN", literal=True, python_types=(bool,), description="true or false")

LATENT = ValueType(
    "LATENT",
    description="latent samples, optionally with a noise mask",
    python_class="graphflow.sampling.latent:Latent",
)
IMAGE = ValueType("IMAGE", description="batch of RGB images, float [B, H, W, 3] in 0..1", python_class="torch:Tensor")
MASK = ValueType("MASK", description="batch of masks, float [B, H, W] in 0..1", python_class="torch:Tensor")
CONDITIONING = ValueType(
    "CONDITIONING", description="text or class conditioning for a sampler", python_class="builtins:tuple"
)
MODEL = ValueType(
    "MODEL",
    description="a diffusion model (denoising U-Net and its noise schedule)",
    python_class="graphflow.sampling.model:DiffusionModel",
)
VAE = ValueType("VAE", description="an autoencoder between images and latents", python_class="graphflow.models.vae:Vae")
CLIP = ValueType(
    "CLIP", description="a text encoder with its tokenizer", python_class="graphflow.text.encoder:TextEncoder"
)
UPSCALE_MODEL = ValueType(
    "UPSCALE_MODEL",
    description="an image super-resolution network",
    python_class="graphflow.upscale.model:UpscaleModel",
)
CONTROL_NET = ValueType(
    "CONTROL_NET",
    description="a ControlNet or T2I-Adapter that steers sampling with a hint picture",
    python_class="graphflow.control.model:ControlModel",
)

SAMPLER = ValueType(
    "SAMPLER",
    description="a sampling method (for the custom sampler)",
    python_class="graphflow.sampling.samplers:SamplerSpec",
)
SIGMAS = ValueType(
    "SIGMAS", description="a noise schedule: sigmas from high to 0, float [steps + 1]", python_class="torch:Tensor"
)
CLIP_VISION = ValueType(
    "CLIP_VISION", description="a CLIP image encoder", python_class="graphflow.models.clip_vision:ClipVision"
)
CLIP_VISION_OUTPUT = ValueType(
    "CLIP_VISION_OUTPUT",
    description="a picture encoded by a CLIP image encoder",
    python_class="graphflow.models.clip_vision:ClipVisionOutput",
)
GLIGEN = ValueType(
    "GLIGEN", description="a GLIGEN box-grounding model", python_class="graphflow.models.gligen:GligenModel"
)
GUIDER = ValueType(
    "GUIDER",
    description="what guides sampling: a model, its prompts and the guidance scale (for the advanced custom sampler)",
    python_class="graphflow.sampling.denoiser:Guider",
)
NOISE = ValueType(
    "NOISE",
    description="the start noise of a sampling run: a seed, or none (for the advanced custom sampler)",
    python_class="graphflow.sampling.denoiser:StartNoise",
)

_LINKED = (
    LATENT,
    IMAGE,
    MASK,
    CONDITIONING,
    MODEL,
    VAE,
    CLIP,
    UPSCALE_MODEL,
    CONTROL_NET,
    SAMPLER,
    SIGMAS,
    CLIP_VISION,
    CLIP_VISION_OUTPUT,
    GLIGEN,
    GUIDER,
    NOISE,
)
BUILTIN_TYPES: dict[str, ValueType] = {t.name: t for t in (INT, FLOAT, STRING, BOOLEAN, *_LINKED)}

# The only implicit conversions; every other pair must match exactly.
_IMPLICIT: frozenset[tuple[str, str]] = frozenset({("INT", "FLOAT")})


def enum_type(name: str, choices: tuple[str, ...] | list[str]) -> ValueType:
    """An enumeration: a string restricted to `choices`, compatible only with the same-named enum."""
    if not choices:
        raise ValueError(f"enumeration {name!r} needs at least one choice")
    return ValueType(name, literal=True, python_types=(str,), choices=tuple(choices))


def can_feed(source: ValueType, target: ValueType) -> bool:
    """Whether an output of type `source` may be linked into an input of type `target`."""
    return source.name == target.name or (source.name, target.name) in _IMPLICIT


def coerce_literal(value_type: ValueType, value: Any) -> Any:
    """Convert a literal to the input's Python type (INT into FLOAT becomes a float)."""
    if value_type.name == "FLOAT" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value
