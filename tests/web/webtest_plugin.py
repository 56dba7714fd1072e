"""Nodes used only by the browser tests: a slow node with step previews, an image saver, a required input."""

import json
import time
from pathlib import Path

from PIL import Image

from graphflow.api import FLOAT, INT, Context, Input, Output, hookimpl, node


@node("webtest.slow", version="1.0.0", title="Slow Steps", category="webtest", cacheable=False)
class SlowSteps:
    """Counts steps slowly, reporting progress with a preview picture at each step."""

    steps = Input(INT, default=6, min=1, max=50, widget="slider")
    seed = Input(INT, default=1, min=0, max=2**32 - 1, widget="seed")
    result = Output(FLOAT)

    def run(self, ctx: Context, steps: int, seed: int) -> float:
        for i in range(1, steps + 1):
            ctx.check_cancelled()
            time.sleep(0.25)
            shade = int(255 * i / steps)
            ctx.progress(i, steps, Image.new("RGB", (64, 64), (shade, 80, 255 - shade)))
        return float(steps)


@node("webtest.save_image", version="1.0.0", title="Save Test Image", category="webtest", output=True, cacheable=False)
class SaveTestImage:
    """Saves a small PNG whose colour depends on the value, shown in the node and in the gallery."""

    value = Input(FLOAT, default=0.0)

    def run(self, ctx: Context, value: float) -> None:
        path = ctx.output_file("webtest", ".png")
        Image.new("RGB", (48, 32), (int(value * 20) % 256, 160, 90)).save(path)
        ctx.add_ui("images", ctx.file_ref(path))


@node("webtest.needs_value", version="1.0.0", title="Needs Value", category="webtest")
class NeedsValue:
    """Its input has no default, so leaving it empty is a validation error."""

    value = Input(FLOAT)
    result = Output(FLOAT)

    def run(self, ctx: Context, value: float) -> float:
        return value


@hookimpl
def register_nodes(register):
    for cls in (SlowSteps, SaveTestImage, NeedsValue):
        register(cls)


PAUSE = Path(__file__).with_name("pause.json")  # {"node_id", "step"}: written by a test to hold a run there


@hookimpl(trylast=True)  # after the worker has sent this step's progress and preview
def on_progress(run, node_id, step, total, preview):
    """Hold `node_id` at `step` while PAUSE asks for it: say so in `reached`, go on when `release` appears."""
    if not PAUSE.exists():
        return
    wanted = json.loads(PAUSE.read_text())
    if (node_id, step) != (wanted["node_id"], wanted["step"]):
        return
    PAUSE.with_name("reached").touch()
    deadline = time.monotonic() + 20
    while not PAUSE.with_name("release").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
