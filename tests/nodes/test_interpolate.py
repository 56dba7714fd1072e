"""Interpolation: slerp/lerp of latents and conditionings, DDIM invert -> frames, animated saving."""

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from graphflow.context import Context
from graphflow.nodes.animation import SaveAnimation, embedded_workflow
from graphflow.nodes.interpolate import DdimInvert, InterpolateConditioning, InterpolateFrames, InterpolateLatents
from graphflow.sampling.conditioning import CondEntry
from graphflow.sampling.latent import Latent
from graphflow.sampling.slerp import interpolate_conditioning, slerp
from tests.nodes.conftest import checkpoint_name, link, run_graph
from tests.running import context_for
from tests.sampling.helpers import text, tiny_model

WORKFLOW = {"format": "graphflow.workflow", "version": 1, "nodes": {}}


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    return context_for(tmp_path, "n", WORKFLOW, output_dir=tmp_path)


def randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_slerp_of_orthogonal_unit_vectors_at_one_half_has_unit_norm():
    a, b = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 0.0, 1.0])
    middle = slerp(a, b, 0.5)
    assert float(middle.norm()) == pytest.approx(1.0, abs=1e-6)
    assert torch.allclose(middle, torch.tensor([1.0, 0.0, 1.0]) / 2**0.5)


def test_slerp_of_parallel_vectors_falls_back_to_lerp():
    a = torch.tensor([1.0, 2.0])
    assert torch.allclose(slerp(a, 3 * a, 0.5), 2 * a)


@pytest.mark.parametrize("method", ["slerp", "lerp"])
def test_the_ends_of_a_latent_interpolation_are_its_inputs_exactly(ctx, method):
    a, b = randn(2, 4, 4, 4, seed=1), randn(2, 4, 4, 4, seed=2)
    frames = InterpolateLatents().run(ctx, Latent(a), Latent(b), frames=5, method=method).samples
    assert frames.shape == (10, 4, 4, 4)
    assert torch.equal(frames[:2], a) and torch.equal(frames[-2:], b)


def test_slerp_between_two_noises_keeps_their_size_where_lerp_shrinks_it(ctx):
    a, b = randn(1, 4, 16, 16, seed=1), randn(1, 4, 16, 16, seed=2)
    slerped = InterpolateLatents().run(ctx, Latent(a), Latent(b), frames=3, method="slerp").samples[1]
    lerped = InterpolateLatents().run(ctx, Latent(a), Latent(b), frames=3, method="lerp").samples[1]
    assert float(slerped.std()) == pytest.approx(1.0, abs=0.1)
    assert float(lerped.std()) == pytest.approx(0.5**0.5, abs=0.1)


def test_interpolating_latents_of_different_shapes_is_refused(ctx):
    with pytest.raises(ValueError, match="cannot interpolate latents of shapes"):
        InterpolateLatents().run(ctx, Latent(torch.zeros(1, 4, 4, 4)), Latent(torch.zeros(2, 4, 4, 4)), 3, "slerp")


@pytest.mark.parametrize("method", ["slerp", "lerp"])
def test_the_ends_of_a_conditioning_interpolation_are_its_inputs(ctx, method):
    a = (CondEntry(randn(1, 77, 16, seed=1), pooled=randn(1, 8, seed=2)),)
    b = (CondEntry(randn(1, 77, 16, seed=3), pooled=randn(1, 8, seed=4), strength=0.5),)
    start = InterpolateConditioning().run(ctx, a, b, 0.0, method)[0]
    end = InterpolateConditioning().run(ctx, a, b, 1.0, method)[0]
    assert torch.equal(start.context, a[0].context) and torch.equal(start.pooled, a[0].pooled)
    assert torch.equal(end.context, b[0].context) and torch.equal(end.pooled, b[0].pooled) and end.strength == 0.5
    middle = InterpolateConditioning().run(ctx, a, b, 0.5, method)[0]
    assert not torch.allclose(middle.context, a[0].context) and not torch.allclose(middle.pooled, b[0].pooled)


def test_conditionings_of_different_lengths_are_repeated_to_a_common_length():
    short, long = (text(1, tokens=77),), (text(2, tokens=154),)
    start = interpolate_conditioning(short, long, 0.0)[0]
    assert torch.equal(start.context, short[0].context.repeat(1, 2, 1))


def test_conditionings_that_do_not_pair_up_are_refused():
    with pytest.raises(ValueError, match="1 and 2 entries"):
        interpolate_conditioning((text(1),), (text(2), text(3)), 0.5)
    with pytest.raises(ValueError, match="pooled embedding and one without"):
        interpolate_conditioning((text(1, pooled=torch.ones(1, 4)),), (text(2),), 0.5)
    with pytest.raises(ValueError, match="widths 16 and 8"):
        interpolate_conditioning((text(1),), (text(2, width=8),), 0.5)


def test_inverted_images_interpolate_into_frames_that_start_and_end_on_them(ctx):
    model = tiny_model("v_prediction")
    image_a, image_b = randn(1, 4, 8, 8, seed=1), randn(1, 4, 8, 8, seed=2)
    prompt_a, prompt_b = (text(1),), (text(2),)
    noise_a = DdimInvert().run(ctx, model, prompt_a, Latent(image_a), steps=12, cfg=1.0, scheduler="normal", refine=3)
    noise_b = DdimInvert().run(ctx, model, prompt_b, Latent(image_b), steps=12, cfg=1.0, scheduler="normal", refine=3)
    steps_seen = []
    ctx._progress = lambda node, step, total, preview: steps_seen.append((step, total))
    frames = (
        InterpolateFrames()
        .run(
            ctx,
            model,
            noise_a,
            noise_b,
            prompt_a,
            prompt_b,
            frames=3,
            steps=12,
            cfg=1.0,
            scheduler="normal",
            method="slerp",
            conditioning_method="lerp",
        )
        .samples
    )
    distance = float((image_a - image_b).norm())
    assert float((frames[0] - image_a).norm()) < 0.05 * distance  # measured 0.018 (inversion at 12 steps)
    assert float((frames[2] - image_b).norm()) < 0.05 * distance
    assert min(float((frames[1] - image).norm()) for image in (image_a, image_b)) > 0.2 * distance
    assert steps_seen[-1] == (36, 36)


@pytest.mark.parametrize("fmt", ["webp", "gif"])
def test_an_animation_keeps_every_frame_and_its_workflow_and_never_overwrites(ctx, tmp_path, fmt):
    images = torch.linspace(0, 1, 4).reshape(4, 1, 1, 1).expand(4, 16, 16, 3).contiguous()
    for _ in range(2):
        SaveAnimation().run(ctx, images, "anim", fps=5.0, loop=0, format=fmt, lossless=True, quality=90)
    paths = sorted(tmp_path.glob(f"anim_*.{fmt}"))
    assert [p.name for p in paths] == [f"anim_00001_.{fmt}", f"anim_00002_.{fmt}"]
    with Image.open(paths[0]) as picture:
        picture.seek(3)
        picture.load()
        assert picture.n_frames == 4 and picture.info["duration"] == 200 and picture.info.get("loop") == 0
        assert picture.convert("RGB").getpixel((8, 8)) == (255, 255, 255)
    assert embedded_workflow(paths[0]) == WORKFLOW
    assert ctx.ui["images"][0] == {"filename": f"anim_00001_.{fmt}", "subfolder": "", "type": "output"}


def test_a_gif_played_once_has_no_loop_extension(ctx, tmp_path):
    SaveAnimation().run(
        ctx, torch.zeros(2, 8, 8, 3), "once", fps=10.0, loop=1, format="gif", lossless=False, quality=90
    )
    with Image.open(tmp_path / "once_00001_.gif") as picture:
        assert "loop" not in picture.info
        assert json.loads(picture.info["comment"].decode().split(":", 1)[1]) == WORKFLOW


def test_an_interpolation_workflow_runs_from_checkpoint_to_animation(executor, tmp_path):
    def node(type_id: str, inputs: dict | None = None, **links: tuple[str, str]) -> dict:
        return {"type": type_id, "inputs": inputs or {}, "links": {k: link(*v) for k, v in links.items()}}

    model, clip = ("checkpoint", "model"), ("checkpoint", "clip")
    steps = {"steps": 4, "cfg": 1.0, "scheduler": "normal"}
    nodes = {
        "checkpoint": node("graphflow.loaders.checkpoint", {"checkpoint": checkpoint_name("sd1", "file")}),
        "red": node("graphflow.conditioning.encode", {"text": "a red square"}, clip=clip),
        "blue": node("graphflow.conditioning.encode", {"text": "a blue circle"}, clip=clip),
        "empty": node("graphflow.latent.empty", {"width": 64, "height": 64, "batch_size": 2}),
        "sample": node(
            "graphflow.sampling.sample",
            {"seed": 1, "steps": 4, "cfg": 1.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0},
            model=model,
            positive=("red", "conditioning"),
            negative=("blue", "conditioning"),
            latent=("empty", "latent"),
        ),
        "first": node("graphflow.latent.from_batch", {"batch_index": 0, "length": 1}, latent=("sample", "result")),
        "second": node("graphflow.latent.from_batch", {"batch_index": 1, "length": 1}, latent=("sample", "result")),
        "invert_a": node(
            "graphflow.interpolate.invert",
            {**steps, "refine": 1},
            model=model,
            positive=("red", "conditioning"),
            latent=("first", "result"),
        ),
        "invert_b": node(
            "graphflow.interpolate.invert",
            {**steps, "refine": 1},
            model=model,
            positive=("blue", "conditioning"),
            latent=("second", "result"),
        ),
        "frames": node(
            "graphflow.interpolate.frames",
            {**steps, "frames": 3, "method": "slerp", "conditioning_method": "lerp"},
            model=model,
            noise_a=("invert_a", "noise"),
            noise_b=("invert_b", "noise"),
            positive_a=("red", "conditioning"),
            positive_b=("blue", "conditioning"),
        ),
        "decode": node("graphflow.vae.decode", latent=("frames", "result"), vae=("checkpoint", "vae")),
        "save": node(
            "graphflow.image.save_animated", {"filename_prefix": "morph", "format": "gif"}, images=("decode", "image")
        ),
    }
    result = run_graph(executor, nodes)
    saved = tmp_path / "output" / result.ui["save"]["images"][0]["filename"]
    with Image.open(saved) as picture:
        assert picture.n_frames == 3 and picture.size == (64, 64)
    assert set(embedded_workflow(saved)["nodes"]) == set(nodes)
