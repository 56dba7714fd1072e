import numpy as np
import pytest

from graphflow.demo.world import (
    COLOURS,
    ThingSpec,
    caption,
    dataset,
    full_spec,
    parse_prompt,
    random_caption,
    render,
    sample_scene,
)


def test_same_seed_draws_the_same_scenes_and_pixels():
    first, second = dataset(20, seed=3), dataset(20, seed=3)
    for i in range(20):
        assert first.scene(i) == second.scene(i)
        assert np.array_equal(np.asarray(first[i][1]), np.asarray(second[i][1]))


def test_different_seeds_draw_different_scenes():
    assert [dataset(10, 1).scene(i) for i in range(10)] != [dataset(10, 2).scene(i) for i in range(10)]


def test_render_gives_an_rgb_image_of_the_requested_size_with_a_light_border():
    image = np.asarray(render(sample_scene(np.random.default_rng(0)), size=32))
    assert image.shape == (32, 32, 3)
    assert image[0].min() >= 220


def test_a_thing_is_drawn_in_its_colour_at_its_place():
    scene = dataset(50, 0).scene(0)
    thing = scene.things[0]
    pixel = np.asarray(render(scene))[round(thing.cy), round(thing.cx)]
    assert tuple(pixel) == COLOURS[thing.colour]


def test_full_captions_parse_back_to_every_attribute():
    for i in range(200):
        scene = dataset(200, 5).scene(i)
        assert parse_prompt(caption(scene)) == tuple(full_spec(t) for t in scene.things)


def test_partial_captions_never_contradict_the_scene():
    rng = np.random.default_rng(0)
    for i in range(200):
        scene = dataset(200, 6).scene(i)
        specs = parse_prompt(random_caption(scene, rng))
        assert len(specs) == len(scene.things)
        for spec in specs:
            attributes = ("shape", "colour", "position", "size")
            assert any(
                all(getattr(spec, a) in (None, getattr(full_spec(t), a)) for a in attributes) for t in scene.things
            )


def test_caption_reads_like_the_documented_grammar():
    assert parse_prompt("a blue square and a yellow triangle") == (
        ThingSpec(shape="square", colour="blue"),
        ThingSpec(shape="triangle", colour="yellow"),
    )
    assert parse_prompt("a small red circle on the left") == (ThingSpec("circle", "red", "left", "small"),)


def test_parse_prompt_names_an_unknown_word():
    with pytest.raises(ValueError, match="'zebra'"):
        parse_prompt("a red zebra")


def test_two_thing_scenes_sit_on_opposite_sides_without_overlap():
    for i in range(300):
        things = dataset(300, 9).scene(i).things
        if len(things) == 2:
            a, b = things
            assert {a.position, b.position} in ({"left", "right"}, {"top", "bottom"})
            assert max(abs(a.cx - b.cx), abs(a.cy - b.cy)) > a.r + b.r


def test_label_is_the_first_things_shape_class():
    scene = dataset(10, 0).scene(3)
    assert ("circle", "square", "triangle")[scene.label] == scene.things[0].shape


def test_the_world_is_frozen_because_the_shipped_weights_were_trained_on_it():
    # The latent cache and resumed runs regenerate captions from dataset(...).scene(i): sampling must not drift.
    data = dataset(40_000, 0)
    first, last = data.scene(0), data.scene(39_999)
    assert first.background == (230, 234, 237)
    assert [(t.shape, t.colour, t.position, t.size) for t in first.things] == [
        ("circle", "red", "left", "small"),
        ("triangle", "purple", "right", "large"),
    ]
    assert first.things[0].cx == pytest.approx(19.0637779, abs=1e-6)
    assert [(t.shape, t.colour, t.position, t.size) for t in last.things] == [("triangle", "black", "top", "small")]
    assert last.things[0].r == pytest.approx(6.9043826, abs=1e-6)
