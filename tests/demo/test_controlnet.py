"""The ControlNet's world (free shapes and silhouette hints) and its trainer."""

import json

import numpy as np
import torch
from diffusers import ControlNetModel

from graphflow.demo import DEMO_MODEL_DIR
from graphflow.demo.addon_base import load_base
from graphflow.demo.checker import iou, shape_mask, silhouette
from graphflow.demo.hints import free_caption, free_scene, hint, silhouette_cases
from graphflow.demo.train_controlnet import build_controlnet, hint_tensor, main, tiny_settings
from graphflow.demo.world import CANVAS, parse_prompt, render


def test_free_things_lie_inside_the_canvas_at_any_place():
    things = [free_scene(np.random.default_rng(i)).things[0] for i in range(300)]
    assert all(t.r + 1 <= t.cx <= CANVAS - t.r - 1 and t.r + 1 <= t.cy <= CANVAS - t.r - 1 for t in things)
    assert np.std([t.cx for t in things]) > 10 and min(t.r for t in things) < 6 < 14 < max(t.r for t in things)


def test_captions_name_neither_place_nor_size():
    rng = np.random.default_rng(0)
    for i in range(50):
        (spec,) = parse_prompt(free_caption(free_scene(np.random.default_rng(i)).things[0], rng))
        assert spec.position is None and spec.size is None and (spec.colour or spec.shape)


def test_a_hint_is_the_white_silhouette_of_the_drawn_shape():
    scene = free_scene(np.random.default_rng(3))
    picture = np.asarray(hint(scene))
    assert picture[0, 0].tolist() == [0, 0, 0] and picture.max() == 255
    assert iou(shape_mask(render(scene)), silhouette(hint(scene))) > 0.85


def test_a_hand_drawn_hint_roughly_covers_the_clean_one():
    overlaps = []
    for i in range(10):
        scene = free_scene(np.random.default_rng(i))
        rough = hint(scene, rng=np.random.default_rng(100 + i), amount=0.04)
        overlaps.append(iou(silhouette(rough), silhouette(hint(scene))))
    assert min(overlaps) > 0.8 and np.mean(overlaps) < 0.97


def test_scoring_cases_are_fixed_by_their_seed():
    first, second = silhouette_cases(3), silhouette_cases(3)
    assert [c[0] for c in first] == [c[0] for c in second]
    assert all(np.array_equal(np.asarray(a[1]), np.asarray(b[1])) for a, b in zip(first, second, strict=True))


def test_a_new_controlnet_leaves_the_unets_prediction_unchanged():
    pipe = load_base(DEMO_MODEL_DIR)
    controlnet = build_controlnet(pipe, tiny_settings())
    noisy, t, context = torch.randn(2, 4, 8, 8), torch.tensor([10, 600]), torch.randn(2, 77, 128)
    hints = hint_tensor(torch.randint(0, 256, (2, 64, 64), dtype=torch.uint8))
    with torch.no_grad():
        down, mid = controlnet(noisy, t, encoder_hidden_states=context, controlnet_cond=hints, return_dict=False)
        assert [d.shape[-1] for d in down][:1] == [8]
        plain = pipe.unet(noisy, t, encoder_hidden_states=context).sample
        guided = pipe.unet(
            noisy,
            t,
            encoder_hidden_states=context,
            down_block_additional_residuals=down,
            mid_block_additional_residual=mid,
        ).sample
    torch.testing.assert_close(guided, plain)


def test_tiny_controlnet_training_exports_a_diffusers_folder_matching_the_demo_unet(tmp_path):
    out = tmp_path / "run"
    assert main(["--out", str(out), "--tiny"]) == 0
    folder = out / "shapes-silhouette"
    controlnet = ControlNetModel.from_pretrained(folder)
    assert controlnet.dtype == torch.float32
    unet = json.loads((DEMO_MODEL_DIR / "unet" / "config.json").read_text())
    config = json.loads((folder / "config.json").read_text())
    for key in ("block_out_channels", "cross_attention_dim", "down_block_types", "in_channels", "layers_per_block"):
        assert config[key] == unet[key], key
    assert len(config["conditioning_embedding_out_channels"]) == 4  # three stride-2 steps: 64 px -> 8x8
