"""Reading architecture, scale, channel and block counts from an upscale model's weights."""

from __future__ import annotations

from torch import Tensor, nn

from . import compact, rrdb
from .spec import NotAnUpscaleModelError, UpscaleSpec

StateDict = dict[str, Tensor]
_SHOWN_KEYS = 6
_WRAPPER_PREFIX = "module."  # left by torch DataParallel training


def detect(state: StateDict) -> tuple[UpscaleSpec, StateDict]:
    """The spec of an ESRGAN/RRDBNet or Real-ESRGAN compact state dict and its weights under canonical names."""
    if state and all(key.startswith(_WRAPPER_PREFIX) for key in state):
        state = {key[len(_WRAPPER_PREFIX) :]: value for key, value in state.items()}
    layout = rrdb.layout_of(state)
    try:
        if layout is not None:
            return rrdb.read(state, layout)
        if compact.matches(state):
            return compact.read(state)
    except KeyError as exc:
        raise NotAnUpscaleModelError(
            f"looks like an ESRGAN/RRDBNet ({layout} layout) but has no weight {exc}"
        ) from None
    shown = ", ".join(list(state)[:_SHOWN_KEYS])
    raise NotAnUpscaleModelError(
        f"not an ESRGAN/RRDBNet or Real-ESRGAN compact state dict: found keys like {shown} "
        f"({len(state)} keys); put only super-resolution models in models/upscale_models"
    )


def build(spec: UpscaleSpec) -> nn.Module:
    """A randomly initialised network of `spec`'s architecture and sizes."""
    return {"esrgan": rrdb.RRDBNet, "compact": compact.CompactNet}[spec.arch](spec)
