"""Save an IMAGE batch as one animated WebP or GIF that carries its workflow."""

import json
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from graphflow.api import BOOLEAN, FLOAT, IMAGE, INT, STRING, Context, Input, enum_type, hookimpl, node
from graphflow.imaging.images import image_to_pils
from graphflow.workflow import PNG_KEY

FORMAT = enum_type("ANIMATION_FORMAT", ("webp", "gif"))
EXIF_DESCRIPTION = 0x010E  # ImageDescription: the WebP's workflow
WORKFLOW_PREFIX = PNG_KEY + ":"


def _workflow_text(workflow: dict[str, Any]) -> str:
    return WORKFLOW_PREFIX + json.dumps(workflow, separators=(",", ":"))


def save_animation(
    frames: list[Image.Image],
    path: Path,
    fps: float,
    loop: int,
    lossless: bool,
    quality: int,
    workflow: dict[str, Any] | None,
) -> None:
    """Write frames as an animated WebP or GIF (by suffix); `loop` = times to play, 0 = forever."""
    duration = max(1, round(1000 / fps))
    first, rest = frames[0], frames[1:]
    if path.suffix == ".webp":
        options: dict[str, Any] = {"lossless": lossless, "quality": quality, "loop": loop, "method": 4}
        if workflow:
            exif = Image.Exif()
            exif[EXIF_DESCRIPTION] = _workflow_text(workflow)
            options["exif"] = exif.tobytes()
        first.save(path, save_all=True, append_images=rest, duration=duration, **options)
        return
    options = {"optimize": False, "disposal": 1}
    if loop != 1:  # a GIF without the looping extension plays once; otherwise it counts repeats
        options["loop"] = 0 if loop == 0 else loop - 1
    if workflow:
        options["comment"] = _workflow_text(workflow).encode()
    first.save(path, save_all=True, append_images=rest, duration=duration, **options)


def embedded_workflow(path: str | Path) -> dict[str, Any] | None:
    """The workflow saved inside an animated WebP (EXIF) or GIF (comment) by this node, or None."""
    with Image.open(path) as picture:
        if picture.format == "GIF":
            text = picture.info.get("comment", b"").decode("utf-8", errors="replace")
        else:
            text = str(picture.getexif().get(EXIF_DESCRIPTION, ""))
    if not text.startswith(WORKFLOW_PREFIX):
        return None
    return json.loads(text[len(WORKFLOW_PREFIX) :])


@node(
    "graphflow.image.save_animated",
    version="1.0.0",
    title="Save Animation",
    category="image",
    output=True,
    cacheable=False,
)
class SaveAnimation:
    """Save an image batch as one animated WebP or GIF (numbered, never overwriting) carrying its workflow.

    `loop` is how many times it plays (0 = forever); `lossless` and `quality` apply to WebP only.
    """

    images = Input(IMAGE)
    filename_prefix = Input(STRING, default="graphflow", source="literal")
    fps = Input(FLOAT, default=6.0, min=0.1, max=120.0, step=0.1)
    loop = Input(INT, default=0, min=0, max=65535)
    format = Input(FORMAT, default="webp")
    lossless = Input(BOOLEAN, default=False)
    quality = Input(INT, default=90, min=0, max=100)

    def run(
        self,
        ctx: Context,
        images: torch.Tensor,
        filename_prefix: str,
        fps: float,
        loop: int,
        format: str,
        lossless: bool,
        quality: int,
    ) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be above 0, got {fps}")
        frames = image_to_pils(images)
        path = ctx.output_file(filename_prefix, f".{format}")
        save_animation(frames, path, fps, loop, lossless, quality, ctx.workflow)
        ctx.add_ui("images", ctx.file_ref(path))
        ctx.add_ui("animated", True)


@hookimpl
def register_nodes(register) -> None:
    """Provide the animation saver."""
    register(SaveAnimation)
