"""Preprocessor nodes: hint pictures for ControlNets made with plain image maths (no model to download)."""

import torch

from graphflow.api import BOOLEAN, FLOAT, IMAGE, INT, Context, Input, Output, hookimpl, node
from graphflow.control import preprocess


@node("graphflow.preprocess.canny", version="1.0.0", title="Canny", category="image/preprocessors")
class Canny:
    """Edge map of an image (Canny edge detection, as in ComfyUI): white edges on black, for canny ControlNets.

    Edges weaker than `low_threshold` are dropped, stronger than `high_threshold` kept, and those in
    between kept where they touch a strong edge.
    """

    image = Input(IMAGE)
    low_threshold = Input(FLOAT, default=0.4, min=0.01, max=0.99, step=0.01)
    high_threshold = Input(FLOAT, default=0.8, min=0.01, max=0.99, step=0.01)
    result = Output(IMAGE)

    def run(self, ctx: Context, image: torch.Tensor, low_threshold: float, high_threshold: float) -> torch.Tensor:
        if low_threshold > high_threshold:
            raise ValueError(f"low_threshold {low_threshold} is above high_threshold {high_threshold}")
        return preprocess.canny(image, low_threshold, high_threshold)


@node("graphflow.preprocess.lineart", version="1.0.0", title="Image to Lineart", category="image/preprocessors")
class ImageToLineart:
    """Turn a line drawing into a lineart hint: its lines become white on black, the paper black.

    A pixel counts as line when its brightness is below `threshold` (above it, for light lines on a
    dark ground with `dark_lines` off). Meant for drawings; for photos use Canny or Image to Scribble.
    """

    image = Input(IMAGE)
    threshold = Input(FLOAT, default=0.5, min=0.0, max=1.0, step=0.01, widget="slider")
    dark_lines = Input(BOOLEAN, default=True, description="the drawing's lines are darker than its ground")
    result = Output(IMAGE)

    def run(self, ctx: Context, image: torch.Tensor, threshold: float, dark_lines: bool) -> torch.Tensor:
        return preprocess.lineart(image, threshold, dark_lines)


@node("graphflow.preprocess.scribble", version="1.0.0", title="Image to Scribble", category="image/preprocessors")
class ImageToScribble:
    """Turn any picture into scribble strokes (white on black) for scribble ControlNets.

    Strokes are where the picture is darker than its blurred surroundings by more than `threshold`
    (a difference of Gaussians), thickened to `thickness` pixels like a hand-drawn scribble.
    """

    image = Input(IMAGE)
    threshold = Input(FLOAT, default=0.06, min=0.0, max=1.0, step=0.01)
    thickness = Input(INT, default=3, min=1, max=64, description="stroke width in pixels")
    result = Output(IMAGE)

    def run(self, ctx: Context, image: torch.Tensor, threshold: float, thickness: int) -> torch.Tensor:
        return preprocess.scribble(image, threshold, thickness)


@hookimpl
def register_nodes(register) -> None:
    """Provide the preprocessor nodes."""
    register(Canny)
    register(ImageToLineart)
    register(ImageToScribble)
