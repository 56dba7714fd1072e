"""The outpainting example: shapes.png grown by 32 pixels on the right, the new strip drawn from the prompt and
the untouched picture kept pixel for pixel (on the demo model when shipped, else tiny SD1)."""

from pathlib import Path

import numpy as np
import torch

from graphflow.demo.checker import find_objects
from graphflow.imaging.canvas import pad_for_outpaint
from graphflow.interop import load_any
from tests.workflows.conftest import INPUTS, WORKFLOWS, checkpoint_overrides, needs_demo, read_rgb


def _outpaint(graphflow_cli, plugins, output: Path) -> np.ndarray:
    path = WORKFLOWS / "outpaint.json"
    sets = [f"{key}={value}" for key, value in checkpoint_overrides(load_any(path, plugins.registry)).items()]
    args = ["run", "outpaint", "--output", output, "--quiet", *(a for s in sets for a in ("--set", s))]
    result = graphflow_cli(*args)
    assert result.status == 0, result.stderr
    [saved] = result.saved
    return read_rgb(saved)


def test_outpaint_grows_the_picture_keeps_the_original_and_paints_the_new_strip(graphflow_cli, plugins, tmp_path):
    output = _outpaint(graphflow_cli, plugins, tmp_path)
    original = read_rgb(INPUTS / "shapes.png")
    assert output.shape == (64, 96, 3)
    _, mask = pad_for_outpaint(torch.from_numpy(original)[None].float(), 0, 0, 32, 0, 8)
    untouched = (mask[0] == 0).numpy()
    assert untouched[:, :64].mean() > 0.8 and not untouched[:, 64:].any()
    assert np.array_equal(np.round(output[untouched] * 255), np.round(original[untouched[:, :64]] * 255))
    assert np.abs(output[:, 64:] - 0.5).mean() > 0.1  # no longer the grey padding


@needs_demo
def test_outpaint_draws_the_prompted_triangle_in_the_new_strip(graphflow_cli, plugins, tmp_path):
    objects = find_objects(_outpaint(graphflow_cli, plugins, tmp_path))
    assert [(o.shape, o.colour) for o in objects if o.cx > 64] == [("triangle", "green")]
    assert {(o.shape, o.colour) for o in objects if o.cx < 64} == {("circle", "red"), ("square", "blue")}
