"""What the diffusion nodes do: clip skip, conditioning ops, tiled decode, image load/save/preview, progress, cancel."""

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from graphflow.api import hookimpl
from graphflow.context import CancelToken
from graphflow.nodes.vae import VaeDecode, VaeDecodeTiled
from graphflow.sampling.latent import Latent
from tests.nodes.conftest import SIZE, WORKFLOWS, checkpoint_name, graph, link, read_pixels, run_graph
from tests.running import context_for

SD1 = checkpoint_name("sd1", "file")
CHECKPOINT = {"checkpoint": {"type": "graphflow.loaders.checkpoint", "inputs": {"checkpoint": SD1}}}


def _encode(node_id: str, text: str, clip: tuple[str, str] = ("checkpoint", "clip")) -> dict[str, Any]:
    return {
        node_id: {"type": "graphflow.conditioning.encode", "inputs": {"text": text}, "links": {"clip": link(*clip)}}
    }


def _conditioning(executor, nodes: dict[str, Any], target: str):
    return run_graph(executor, {**CHECKPOINT, **nodes}, target).outputs[target]["conditioning"]


def _txt2img_nodes(steps: int) -> dict[str, Any]:
    nodes = json.loads((WORKFLOWS / "txt2img.json").read_text())["nodes"]
    nodes["checkpoint"]["inputs"]["checkpoint"] = SD1
    nodes["sampler"]["inputs"]["steps"] = steps
    return nodes


class _Recorder:
    """Records sampler progress events; optionally cancels the run at a given step."""

    def __init__(self, cancel_at: int | None = None) -> None:
        self.events: list[tuple[str, int, int, Any]] = []
        self.token = CancelToken()
        self.cancel_at = cancel_at

    @hookimpl
    def on_progress(self, run, node_id: str, step: int, total: int, preview: Any) -> None:
        self.events.append((node_id, step, total, preview))
        if step == self.cancel_at:
            self.token.cancel()


@pytest.fixture
def recorder(plugins):
    """A factory of progress recorders registered on the plugin manager for this test only."""
    made: list[_Recorder] = []

    def make(cancel_at: int | None = None) -> _Recorder:
        made.append(_Recorder(cancel_at))
        plugins.manager.register(made[-1])
        return made[-1]

    yield make
    for item in made:
        plugins.manager.unregister(item)


def test_clip_skip_changes_the_conditioning_and_minus_one_keeps_it(executor):
    skip = {
        "skip": {
            "type": "graphflow.conditioning.clip_skip",
            "inputs": {"stop_at_clip_layer": -2},
            "links": {"clip": link("checkpoint", "clip")},
        },
        "last": {
            "type": "graphflow.conditioning.clip_skip",
            "inputs": {"stop_at_clip_layer": -1},
            "links": {"clip": link("checkpoint", "clip")},
        },
    }
    nodes = {
        **skip,
        **_encode("plain", "a cat"),
        **_encode("skipped", "a cat", ("skip", "result")),
        **_encode("kept", "a cat", ("last", "result")),
    }
    result = run_graph(executor, {**CHECKPOINT, **nodes}, "plain", "skipped", "kept").outputs
    plain, skipped, kept = (result[n]["conditioning"][0].context for n in ("plain", "skipped", "kept"))
    assert skipped.shape == plain.shape and not torch.allclose(skipped, plain, atol=1e-3)
    assert torch.equal(kept, plain)


def test_combine_keeps_both_entries(executor):
    nodes = {
        **_encode("a", "a cat"),
        **_encode("b", "a dog"),
        "both": {
            "type": "graphflow.conditioning.combine",
            "links": {"first": link("a", "conditioning"), "second": link("b", "conditioning")},
        },
    }
    result = run_graph(executor, {**CHECKPOINT, **nodes}, "a", "b", "both").outputs
    both = result["both"]["conditioning"]
    assert [e.context for e in both] == [result["a"]["conditioning"][0].context, result["b"]["conditioning"][0].context]


def test_average_blends_the_embeddings_by_strength(executor):
    nodes = {
        **_encode("a", "a cat"),
        **_encode("b", "a dog"),
        "mix": {
            "type": "graphflow.conditioning.average",
            "inputs": {"to_strength": 0.25},
            "links": {"to": link("a", "conditioning"), "source": link("b", "conditioning")},
        },
    }
    result = run_graph(executor, {**CHECKPOINT, **nodes}, "a", "b", "mix").outputs
    a, b = result["a"]["conditioning"][0].context, result["b"]["conditioning"][0].context
    assert torch.allclose(result["mix"]["conditioning"][0].context, 0.25 * a + 0.75 * b, atol=1e-6)


def test_concat_appends_the_source_tokens(executor):
    nodes = {
        **_encode("a", "a cat"),
        **_encode("b", "a dog"),
        "joined": {
            "type": "graphflow.conditioning.concat",
            "links": {"to": link("a", "conditioning"), "source": link("b", "conditioning")},
        },
    }
    result = run_graph(executor, {**CHECKPOINT, **nodes}, "a", "b", "joined").outputs
    a, b = result["a"]["conditioning"][0].context, result["b"]["conditioning"][0].context
    joined = result["joined"]["conditioning"][0].context
    assert joined.shape[1] == 154 and torch.equal(joined[:, :77], a) and torch.equal(joined[:, 77:], b)


def test_tiled_decode_is_close_to_plain_decode(executor, tmp_path):
    vae = run_graph(executor, CHECKPOINT, "checkpoint").outputs["checkpoint"]["vae"]
    ctx = context_for(tmp_path, "decode")
    latent, other = (Latent(torch.randn(1, 4, 32, 32, generator=torch.Generator().manual_seed(s))) for s in (3, 4))
    plain = VaeDecode().run(ctx, latent, vae)
    tiled = VaeDecodeTiled().run(ctx, latent, vae, tile_size=128, overlap=64)
    unrelated = VaeDecode().run(ctx, other, vae)
    assert tiled.shape == plain.shape == (1, 256, 256, 3)
    difference = (tiled - plain).abs().mean()
    # a random-weight VAE normalises each tile with the tile's own statistics, so tiles cannot match exactly
    assert difference < 0.03 and difference < (unrelated - plain).abs().mean() / 4


def test_load_image_gives_pixels_and_transparency_as_mask(executor, folder_settings):
    rgba = np.zeros((16, 24, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2] = 200, 100, 50
    rgba[:, :12, 3] = 255  # left half opaque, right half fully transparent
    rgba[:, 12:, 3] = 0
    rgba[0, 0, 3] = 51
    Image.fromarray(rgba, "RGBA").save(folder_settings / "cut.png")
    out = run_graph(
        executor, {"load": {"type": "graphflow.image.load", "inputs": {"image": "cut.png"}}}, "load"
    ).outputs["load"]
    pixels, mask = out["pixels"], out["mask"]
    assert pixels.shape == (1, 16, 24, 3) and mask.shape == (1, 16, 24)
    assert torch.allclose(pixels[0, 5, 5], torch.tensor([200, 100, 50]) / 255)
    assert mask[0, 5, 5] == 0 and mask[0, 5, 20] == 1
    assert mask[0, 0, 0] == pytest.approx(1 - 51 / 255)


def test_save_image_numbers_files_and_never_overwrites(executor, tmp_path):
    output = tmp_path / "output"
    output.mkdir()
    (output / "txt2img_00002_.png").write_bytes(b"an earlier image")
    nodes = _txt2img_nodes(steps=2)
    for _ in range(2):
        run_graph(executor, nodes)
    assert sorted(p.name for p in output.glob("*.png")) == [
        "txt2img_00002_.png",
        "txt2img_00003_.png",
        "txt2img_00004_.png",
    ]
    assert (output / "txt2img_00002_.png").read_bytes() == b"an earlier image"
    assert np.array_equal(read_pixels(output / "txt2img_00003_.png"), read_pixels(output / "txt2img_00004_.png"))


def test_preview_image_writes_to_the_temp_folder_only(executor, tmp_path):
    nodes = _txt2img_nodes(steps=2)
    del nodes["save"]
    nodes["preview"] = {"type": "graphflow.image.preview", "links": {"images": link("decode", "image")}}
    result = run_graph(executor, nodes)
    [ref] = result.ui["preview"]["images"]
    assert ref["type"] == "temp"
    assert (tmp_path / "temp" / ref["subfolder"] / ref["filename"]).is_file()
    assert not (tmp_path / "output").exists() or not any((tmp_path / "output").rglob("*.png"))


def test_sampler_reports_every_step_with_a_preview_image(executor, recorder):
    seen = recorder()
    run_graph(executor, _txt2img_nodes(steps=5))
    sampler = [event for event in seen.events if event[0] == "sampler"]
    assert [(step, total) for _, step, total, _ in sampler] == [(k, 5) for k in range(1, 6)]
    assert all(isinstance(preview, Image.Image) and preview.width >= SIZE // 8 for *_, preview in sampler)


def test_cancelling_during_sampling_stops_the_run(executor, recorder, tmp_path: Path):
    seen = recorder(cancel_at=2)
    result = executor.run(graph(_txt2img_nodes(steps=8)), cancel=seen.token)
    assert result.status == "cancelled"
    assert [step for node, step, *_ in seen.events if node == "sampler"] == [1, 2]
    assert "sampler" not in result.executed and "save" not in result.executed
    assert not any((tmp_path / "output").rglob("*.png"))
