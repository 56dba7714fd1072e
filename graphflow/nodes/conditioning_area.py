"""Where and when a conditioning acts: areas, masks, strength, timestep ranges, and zeroing (ComfyUI's core nodes)."""

import torch

from graphflow.api import CONDITIONING, FLOAT, INT, MASK, Context, Input, Output, enum_type, hookimpl, node
from graphflow.sampling.conditioning import Area, Conditioning

CATEGORY = "conditioning"
MAX_SIZE = 16384
PIXELS_PER_CELL = 8
SET_COND_AREA = enum_type("SET_COND_AREA", ["default", "mask bounds"])


def _strength() -> Input:
    return Input(FLOAT, default=1.0, min=0.0, max=10.0, step=0.01, description="weight against the other entries")


def _pixels(default: int, minimum: int, description: str) -> Input:
    return Input(INT, default=default, min=minimum, max=MAX_SIZE, step=8, description=description)


def _fraction(default: float, description: str) -> Input:
    return Input(FLOAT, default=default, min=0.0, max=1.0, step=0.01, description=description)


@node("graphflow.conditioning.set_area", version="1.0.0", title="Conditioning (Set Area)", category=CATEGORY)
class SetArea:
    """Make the conditioning act on one rectangle of the picture (pixels, rounded down to multiples of 8).

    The prompt is then predicted on that crop of the latent and blended into the rest, its edges fading
    over up to 8 latent cells; combine it with a conditioning for the whole picture or for other areas.
    """

    conditioning = Input(CONDITIONING)
    width = _pixels(64, 64, "the area's width in pixels")
    height = _pixels(64, 64, "the area's height in pixels")
    x = _pixels(0, 0, "the area's left edge in pixels")
    y = _pixels(0, 0, "the area's top edge in pixels")
    strength = _strength()
    result = Output(CONDITIONING)

    def run(
        self, ctx: Context, conditioning: Conditioning, width: int, height: int, x: int, y: int, strength: float
    ) -> Conditioning:
        cell = PIXELS_PER_CELL
        area = Area(height // cell, width // cell, y // cell, x // cell)
        return tuple(entry.replace(area=area, strength=strength, mask_bounds=False) for entry in conditioning)


@node(
    "graphflow.conditioning.set_area_percentage",
    version="1.0.0",
    title="Conditioning (Set Area with Percentage)",
    category=CATEGORY,
)
class SetAreaPercentage:
    """Make the conditioning act on one rectangle given as fractions of the picture's width and height."""

    conditioning = Input(CONDITIONING)
    width = _fraction(1.0, "the area's width, a fraction of the picture's")
    height = _fraction(1.0, "the area's height, a fraction of the picture's")
    x = _fraction(0.0, "the area's left edge, a fraction of the picture's width")
    y = _fraction(0.0, "the area's top edge, a fraction of the picture's height")
    strength = _strength()
    result = Output(CONDITIONING)

    def run(
        self, ctx: Context, conditioning: Conditioning, width: float, height: float, x: float, y: float, strength: float
    ) -> Conditioning:
        area = Area(height, width, y, x, relative=True)
        return tuple(entry.replace(area=area, strength=strength, mask_bounds=False) for entry in conditioning)


@node(
    "graphflow.conditioning.set_area_strength",
    version="1.0.0",
    title="Conditioning (Set Area Strength)",
    category=CATEGORY,
)
class SetAreaStrength:
    """Set how strongly the conditioning weighs against the others it is combined with."""

    conditioning = Input(CONDITIONING)
    strength = _strength()
    result = Output(CONDITIONING)

    def run(self, ctx: Context, conditioning: Conditioning, strength: float) -> Conditioning:
        return tuple(entry.replace(strength=strength) for entry in conditioning)


@node("graphflow.conditioning.set_mask", version="1.0.0", title="Conditioning (Set Mask)", category=CATEGORY)
class SetMask:
    """Make the conditioning act where the mask is set, weighted by the mask (resized to the latent).

    `mask bounds` predicts on the mask's bounding box only (at least 64 pixels a side), which is faster and
    lets the prompt fill that box; `default` predicts on the whole picture.
    """

    conditioning = Input(CONDITIONING)
    mask = Input(MASK)
    strength = _strength()
    set_cond_area = Input(SET_COND_AREA, default="default")
    result = Output(CONDITIONING)

    def run(
        self, ctx: Context, conditioning: Conditioning, mask: torch.Tensor, strength: float, set_cond_area: str
    ) -> Conditioning:
        if mask.ndim == 2:
            mask = mask.unsqueeze(0)
        if mask.ndim != 3:
            raise ValueError(f"mask: expected a MASK [batch, height, width], got shape {tuple(mask.shape)}")
        bounds = set_cond_area != "default"
        return tuple(entry.replace(mask=mask, mask_strength=strength, mask_bounds=bounds) for entry in conditioning)


@node("graphflow.conditioning.zero_out", version="1.0.0", title="Conditioning (Zero Out)", category=CATEGORY)
class ZeroOut:
    """The same conditioning with its text embeddings (and pooled vectors) set to zero, e.g. for SDXL revision."""

    conditioning = Input(CONDITIONING)
    result = Output(CONDITIONING)

    def run(self, ctx: Context, conditioning: Conditioning) -> Conditioning:
        return tuple(
            entry.replace(
                context=torch.zeros_like(entry.context),
                pooled=None if entry.pooled is None else torch.zeros_like(entry.pooled),
            )
            for entry in conditioning
        )


@node(
    "graphflow.conditioning.set_timestep_range",
    version="1.0.0",
    title="Conditioning (Set Timestep Range)",
    category=CATEGORY,
)
class SetTimestepRange:
    """Make the conditioning act only from `start` to `end` of the sampling (0 = the first, noisiest step)."""

    conditioning = Input(CONDITIONING)
    start = Input(FLOAT, default=0.0, min=0.0, max=1.0, step=0.001)
    end = Input(FLOAT, default=1.0, min=0.0, max=1.0, step=0.001)
    result = Output(CONDITIONING)

    def run(self, ctx: Context, conditioning: Conditioning, start: float, end: float) -> Conditioning:
        return tuple(entry.replace(start_percent=start, end_percent=end) for entry in conditioning)


@hookimpl
def register_nodes(register) -> None:
    """Provide the area, mask and timestep-range conditioning nodes."""
    for cls in (SetArea, SetAreaPercentage, SetAreaStrength, SetMask, ZeroOut, SetTimestepRange):
        register(cls)
