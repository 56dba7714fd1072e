"""The checker's measures for the add-ons: an added colour, the drawn shape's pixels, overlap with a hint."""

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL
from PIL import Image, ImageDraw

from graphflow.demo import DEMO_MODEL_DIR
from graphflow.demo.addon_base import encode_pictures
from graphflow.demo.checker import check, find_objects, iou, shape_mask, silhouette
from graphflow.demo.concepts import CHECK_COLOURS, MAGENTA, MAGENTA_BLEND, MAGENTA_RGB
from graphflow.demo.hints import hint
from graphflow.demo.train_lora import recolour
from graphflow.demo.world import Scene, Thing, dataset, render


def _disc(colour: tuple[int, int, int], box: tuple[int, int, int, int] = (10, 10, 40, 40)) -> Image.Image:
    picture = Image.new("RGB", (64, 64), (238, 236, 232))
    ImageDraw.Draw(picture).ellipse(box, fill=colour)
    return picture


def test_an_added_colour_is_read_only_when_the_palette_has_it():
    picture = _disc(MAGENTA_RGB)
    assert [f.colour for f in find_objects(picture, CHECK_COLOURS)] == [MAGENTA]
    assert MAGENTA not in {f.colour for f in find_objects(picture)}
    assert check(picture, "a large magenta circle at the top", CHECK_COLOURS)["colour"]
    assert not check(_disc((220, 40, 40)), "a magenta circle", CHECK_COLOURS)["colour"]
    assert not check(_disc((140, 55, 180)), "a magenta circle", CHECK_COLOURS)["colour"]


def test_the_world_palette_still_reads_every_world_colour_with_magenta_added():
    data = dataset(60, seed=21)
    for scene, picture in data:
        assert [o.colour for o in find_objects(picture, CHECK_COLOURS)] != []
        assert {o.colour for o in find_objects(picture, CHECK_COLOURS)} == {t.colour for t in scene.things}


def test_the_demo_vae_decodes_the_red_purple_midpoint_as_magenta():
    vae = AutoencoderKL.from_pretrained(DEMO_MODEL_DIR / "vae", local_files_only=True).eval()
    scenes = [s for s, _ in dataset(16, seed=3)]
    pictures = {c: encode_pictures(vae, [render(recolour_all(s, c)) for s in scenes]) for c in MAGENTA_BLEND}
    latents = (pictures[MAGENTA_BLEND[0]] + pictures[MAGENTA_BLEND[1]]) / 2
    with torch.no_grad():
        decoded = (vae.decode(latents / vae.config.scaling_factor).sample.clamp(-1, 1) + 1) / 2
    for picture, scene in zip(decoded.permute(0, 2, 3, 1).numpy(), scenes, strict=True):
        found = find_objects(picture, CHECK_COLOURS)[: len(scene.things)]  # the objects a prompt's things pair with
        assert [o.colour for o in found] == [MAGENTA] * len(scene.things), scene


def recolour_all(scene: Scene, colour: str) -> Scene:
    return Scene(scene.background, tuple(recolour(scene, colour, i).things[i] for i in range(len(scene.things))))


def test_the_shape_mask_is_the_largest_objects_pixels():
    scene = Scene(
        (240, 240, 240),
        (
            Thing("square", "blue", "left", "large", 17.0, 32.0, 12.0),
            Thing("circle", "red", "right", "small", 47.0, 32.0, 6.5),
        ),
    )
    mask = shape_mask(render(scene))
    assert mask[32, 17] and not mask[32, 47] and not mask[2, 2]
    assert mask.sum() == pytest.approx((2 * 0.9 * 12) ** 2, rel=0.1)
    assert not shape_mask(np.full((64, 64, 3), 0.9, dtype=np.float32)).any()


def test_overlap_with_the_hint_is_high_in_place_and_low_elsewhere():
    thing = Thing("triangle", "green", "center", "large", 30.0, 36.0, 11.0)
    moved = Thing("triangle", "green", "center", "large", 44.0, 20.0, 11.0)
    picture = render(Scene((240, 240, 240), (thing,)))
    assert iou(shape_mask(picture), silhouette(hint(Scene((0, 0, 0), (thing,))))) > 0.9
    assert iou(shape_mask(picture), silhouette(hint(Scene((0, 0, 0), (moved,))))) < 0.2


def test_iou_of_masks():
    a, b = np.zeros((4, 4), bool), np.zeros((4, 4), bool)
    assert iou(a, b) == 0.0
    a[:2], b[1:3] = True, True
    assert iou(a, b) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="different sizes"):
        iou(a, np.zeros((3, 3), bool))
