"""The issue's hostile cases end in a clear answer: huge sizes are refused before running (or, when only
known at run time, before the pixels are made), and integer maths cannot grow numbers past 64 bits."""

import re
from pathlib import Path

import pytest
import torch
from PIL import Image

from graphflow.graph import WorkflowInvalid
from graphflow.nodes import image_ops, images, latent_ops
from graphflow.nodes.math import FloatMath
from graphflow.nodes.upscale import UpscaleWithModel
from graphflow.sampling.latent import Latent
from graphflow.upscale import UpscaleModel
from tests.nodes.conftest import graph, link
from tests.running import context_for
from tests.upscale.tiny import compact_spec, tiny_network


def over(size: str) -> str:
    """The pattern of the message saying `size` is over a limit of 1,000 pixels."""
    return re.escape(
        f"{size} is over this server's limit of 1,000 (setting max_image_pixels, graphflow serve --max-pixels)"
    )


def squarings(start: int, times: int = 40) -> dict:
    """Integer Math nodes squaring `start` `times` times: n1 = start², n2 = n1², ..."""
    nodes = {"n0": {"type": "graphflow.math.int", "inputs": {"a": start, "b": 0}}}
    for i in range(1, times + 1):
        previous = link(f"n{i - 1}", "result")
        nodes[f"n{i}"] = {
            "type": "graphflow.math.int",
            "inputs": {"operation": "multiply"},
            "links": {"a": previous, "b": previous},
        }
    return nodes


def test_squaring_a_10_to_the_100_integer_forty_times_is_refused_before_running(executor):
    with pytest.raises(WorkflowInvalid) as caught:
        executor.run(graph(squarings(10**100)), targets=["n40"])
    (issue,) = caught.value.issues
    assert (issue.node_id, issue.input, issue.kind) == ("n0", "a", "invalid_literal")
    assert issue.message == "<integer of about 101 digits> is too large: whole numbers must fit in 64 bits"


def test_squaring_a_small_integer_forty_times_stops_at_the_node_that_passes_64_bits(executor):
    result = executor.run(graph(squarings(3)), targets=["n40"])
    assert result.status == "error" and result.error.node_id == "n6"  # 3 ** 64 is the first past 64 bits
    assert "whole numbers must fit in 64 bits" in str(result.error)
    assert result.executed == [f"n{i}" for i in range(6)]


def test_a_16384_square_empty_latent_never_runs(executor):
    nodes = {"latent": {"type": "graphflow.latent.empty", "inputs": {"width": 16384, "height": 16384}}}
    with pytest.raises(WorkflowInvalid, match=r"node 'latent', input 'width': 16,384 x 16,384 = 268,435,456 pixels"):
        executor.run(graph(nodes), targets=["latent"])


def test_a_float_power_too_large_for_a_float_says_so(tmp_path):
    with pytest.raises(ValueError, match=r"power\(1e\+300, 2.0\) has no finite real result"):
        FloatMath().run(context_for(tmp_path), a=1e300, b=2.0, operation="power")


@pytest.fixture
def small(tmp_path: Path):
    """A node context on a server whose limit is 1,000 pixels."""
    return context_for(tmp_path, max_image_pixels=1000)


def picture(height: int, width: int) -> torch.Tensor:
    return torch.zeros(1, height, width, 3)


def test_scaling_an_image_past_the_limit_is_refused_before_it_is_resized(small):
    with pytest.raises(ValueError, match=over("32 x 32 = 1,024 pixels")):
        image_ops.ScaleImageBy().run(small, image=picture(8, 8), method="nearest", factor=4.0)
    with pytest.raises(ValueError, match=over("40 x 40 = 1,600 pixels")):
        image_ops.ScaleImageTo().run(small, image=picture(8, 8), method="nearest", width=40, height=0, crop="disabled")
    assert image_ops.ScaleImageBy().run(small, image=picture(8, 8), method="nearest", factor=3.0).shape == (
        1,
        24,
        24,
        3,
    )


def test_padding_an_image_past_the_limit_is_refused(small):
    with pytest.raises(ValueError, match=over("48 x 24 = 1,152 pixels")):
        image_ops.PadImageForOutpaint().run(small, picture(8, 8), left=16, top=8, right=24, bottom=8, feathering=0)


def test_upscaling_a_latent_past_the_limit_counts_image_pixels(small):
    latent = Latent(torch.zeros(1, 4, 4, 4))  # a 32 x 32 picture
    with pytest.raises(ValueError, match=over("64 x 64 = 4,096 pixels")):
        latent_ops.UpscaleLatentBy().run(small, latent=latent, method="nearest", scale_by=2.0)
    with pytest.raises(ValueError, match=over("32 x 40 = 1,280 pixels")):
        latent_ops.UpscaleLatent().run(small, latent=latent, method="nearest", width=32, height=40, crop="disabled")


def test_loading_an_input_picture_over_the_limit_is_refused_from_its_header(small):
    Image.new("RGB", (40, 30)).save(small.settings.input_dir / "big.png")
    with pytest.raises(ValueError, match=over("40 x 30 = 1,200 pixels")):
        images.LoadImage().run(small, image="big.png")


def test_an_upscale_model_that_would_pass_the_limit_is_refused_before_it_runs(small):
    spec = compact_spec(4)
    model = UpscaleModel(tiny_network(spec), spec)
    with pytest.raises(ValueError, match=over("40 x 32 = 1,280 pixels")):
        UpscaleWithModel().run(small, upscale_model=model, image=picture(8, 10), tile_size=32, overlap=0)
