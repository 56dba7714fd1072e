"""The text-to-image acceptance test: build the pipeline on an empty canvas with the mouse, run it on a tiny
model, watch the sampler's progress and step previews, and find the picture in the Save Image node and the gallery."""

from __future__ import annotations

import io
import json
import re
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect

from graphflow.models.builtin import builtin_checkpoints

CHECKPOINT = "tiny-sd1.safetensors"
PROMPT = "a small blue square in a green field"
NEGATIVE = "blurry"
STEPS = 6
PAUSE_STEP = 3
SIZE = 64
PREVIEW_SIDE = 128  # the sampler enlarges previews of tiny latents to this side
DEMO_MODEL = "builtin:shapes-demo"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models root whose checkpoints/ holds one tiny random-weight SD1 checkpoint."""
    from graphflow.models.tiny import build_tiny, save_tiny_checkpoint

    root = tmp_path_factory.mktemp("models")
    save_tiny_checkpoint(build_tiny("sd1"), root / "checkpoints" / CHECKPOINT)
    return root


WIRES = [  # (source role, output, destination role, input)
    ("checkpoint", "model", "sampler", "model"),
    ("checkpoint", "clip", "positive", "clip"),
    ("checkpoint", "clip", "negative", "clip"),
    ("checkpoint", "vae", "decode", "vae"),
    ("positive", "conditioning", "sampler", "positive"),
    ("negative", "conditioning", "sampler", "negative"),
    ("latent", "latent", "sampler", "latent"),
    ("sampler", "result", "decode", "latent"),
    ("decode", "image", "save", "images"),
]


def build_txt2img(editor) -> dict[str, str]:
    """Add the seven nodes from the search menu and wire them by dragging; returns role -> node id."""
    adds = {  # role: (search text, type to pick, x, y on the canvas)
        "checkpoint": ("checkpoint", "graphflow.loaders.checkpoint", 10, 20),
        "positive": ("encode prompt", "graphflow.conditioning.encode", 300, 20),
        "negative": ("encode prompt", "graphflow.conditioning.encode", 300, 200),
        "latent": ("empty latent", "graphflow.latent.empty", 10, 330),
        "sampler": ("sampler", "graphflow.sampling.sample", 580, 20),
        "decode": ("vae decode", "graphflow.vae.decode", 850, 20),
        "save": ("save image", "graphflow.image.save", 850, 150),
    }
    ids = {role: editor.add_node(query, x, y, pick=type_) for role, (query, type_, x, y) in adds.items()}
    assert {role: editor.node_type(ids[role]) for role in adds} == {role: spec[1] for role, spec in adds.items()}
    for src, output, dst, input_ in WIRES:
        editor.wire(ids[src], output, ids[dst], input_)
    return ids


class StepGate:
    """Holds a node at one step until released (through the webtest plugin's `on_progress` hook, in the
    worker), so that the page can be looked at in the middle of sampling however fast the tiny model is."""

    def __init__(self, folder: Path, node_id: str, step: int) -> None:
        self.folder = folder
        for name in ("reached", "release"):
            (folder / name).unlink(missing_ok=True)
        (folder / "pause.json").write_text(json.dumps({"node_id": node_id, "step": step}))

    def reached(self, timeout: float) -> bool:
        """Wait until the node is held; False if it was not within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not (self.folder / "reached").exists():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def release(self) -> None:
        """Let the node go on, and hold nothing any more."""
        (self.folder / "pause.json").unlink(missing_ok=True)
        (self.folder / "release").touch()


@contextmanager
def paused_at(server, node_id: str, step: int) -> Iterator[StepGate]:
    """Hold `node_id` at `step` of the next run while the block runs; it always goes on afterwards."""
    gate = StepGate(server.config.plugins_dir, node_id, step)
    try:
        yield gate
    finally:
        gate.release()


def png_parameters(url: str) -> str:
    """The generation parameters a saved PNG carries, read from the server like any download."""
    with urllib.request.urlopen(url, timeout=10) as reply:
        return Image.open(io.BytesIO(reply.read())).info["parameters"]


def choose_model_and_settings(editor, ids: dict[str, str]) -> None:
    """Pick the tiny checkpoint, type the prompts, set a 64x64 latent and a few steps, as a user would."""
    model = editor.widget(ids["checkpoint"], "checkpoint")
    expect(model).to_have_value("builtin:shapes-demo")  # a new loader starts on the shipped text-to-image model
    model.select_option(CHECKPOINT)
    editor.set_text(ids["positive"], "text", PROMPT)
    editor.set_text(ids["negative"], "text", NEGATIVE)
    editor.set_number(ids["latent"], "width", SIZE)
    editor.set_number(ids["latent"], "height", SIZE)
    editor.set_number(ids["sampler"], "steps", STEPS)
    inputs = {nid: node.get("inputs", {}) for nid, node in editor.workflow()["nodes"].items()}
    assert inputs[ids["checkpoint"]]["checkpoint"] == CHECKPOINT
    assert (inputs[ids["positive"]]["text"], inputs[ids["negative"]]["text"]) == (PROMPT, NEGATIVE)
    assert (inputs[ids["latent"]]["width"], inputs[ids["latent"]]["height"]) == (SIZE, SIZE)
    assert inputs[ids["sampler"]]["steps"] == STEPS


def check_sampler_mid_run(editor, page, sampler: str, save: str) -> None:
    """While the sampler is held at PAUSE_STEP: it is running, its bar is part full, its preview is inside it."""
    node = editor.node(sampler)
    expect(node).to_have_class(re.compile(r"\brunning\b"))
    expect(node.locator(".node-progress-fill")).to_have_attribute(
        "style", re.compile(rf"width: {round(100 * PAUSE_STEP / STEPS)}%")
    )
    preview = page.get_by_test_id(f"preview-{sampler}")
    expect(preview).to_be_visible()
    assert preview.evaluate("img => img.decode().then(() => img.naturalWidth)") == PREVIEW_SIDE
    assert node.bounding_box()["height"] > preview.bounding_box()["height"] > 100
    expect(page.get_by_test_id("overall-progress")).to_have_attribute("data-state", "running")
    expect(page.get_by_test_id(f"image-{save}")).to_have_count(0)


def test_txt2img_built_from_an_empty_canvas_shows_progress_previews_and_the_image(editor, page, screenshot, server):
    assert editor.node_ids() == []
    ids = build_txt2img(editor)
    expected = {ids[role]: {} for role in ("checkpoint", "latent")}
    for src, output, dst, input_ in WIRES:
        expected.setdefault(ids[dst], {})[input_] = {"node": ids[src], "output": output}
    assert editor.links() == expected
    for _, _, dst, input_ in WIRES:
        expect(page.get_by_test_id(f"wire-{ids[dst]}-{input_}")).to_have_count(1)
    choose_model_and_settings(editor, ids)
    screenshot("txt2img-built")

    sampler, save = ids["sampler"], ids["save"]
    editor.watch_progress(sampler)
    with paused_at(server, sampler, PAUSE_STEP) as gate:
        page.keyboard.press("Control+Enter")
        assert gate.reached(20), "the sampler did not reach the paused step"
        check_sampler_mid_run(editor, page, sampler, save)
        screenshot("txt2img-sampling")

    image = page.get_by_test_id(f"image-{save}")
    expect(image).to_be_visible(timeout=30000)
    expect(page.get_by_test_id("status")).to_contain_text("Finished")
    screenshot("txt2img-finished")
    seen = editor.progress_seen(sampler)
    assert seen["widths"] == [round(100 * step / STEPS) for step in range(1, STEPS + 1)], "bar should fill step by step"
    assert len(seen["previews"]) == STEPS, "each step should show its preview inside the sampler node"
    assert editor.image_size(seen["previews"][-1]) == [PREVIEW_SIDE, PREVIEW_SIDE]
    expect(page.get_by_test_id(f"preview-{sampler}")).to_have_count(0)  # the preview gives way to the result
    expect(editor.node(sampler)).not_to_have_class(re.compile(r"\b(running|has-progress)\b"))

    assert image.evaluate("img => img.decode().then(() => [img.naturalWidth, img.naturalHeight])") == [SIZE, SIZE]
    parameters = png_parameters(image.evaluate("img => img.src"))
    assert parameters.startswith(f"{PROMPT}\nNegative prompt: {NEGATIVE}\n")
    assert f"Steps: {STEPS}," in parameters and f"Model: {CHECKPOINT}" in parameters

    page.get_by_test_id("tab-gallery").click()
    shown = page.get_by_test_id("gallery-item").locator("img")
    expect(shown).to_have_count(1)
    expect(shown).to_have_attribute("src", image.get_attribute("src"))
    expect(shown).to_be_visible()
    assert shown.evaluate("img => img.decode().then(() => img.naturalWidth)") == SIZE
    expect(page.get_by_test_id("gallery-item")).to_contain_text(save)


@pytest.mark.skipif(DEMO_MODEL in builtin_checkpoints(), reason="the demo model is installed: the example runs")
def test_txt2img_example_without_the_demo_model_shows_the_error_on_the_checkpoint_node(editor, page):
    page.get_by_test_id("examples").select_option(label="Example: txt2img.json")
    expect(page.get_by_test_id("node-checkpoint")).to_be_visible()
    expect(editor.widget("checkpoint", "checkpoint").locator("option:checked")).to_have_text(DEMO_MODEL)
    page.get_by_test_id("btn-queue").click()

    expect(editor.node("checkpoint")).to_have_class(re.compile(r"\bhas-error\b"))
    error = page.get_by_test_id("node-error-checkpoint")
    expect(error).to_contain_text(DEMO_MODEL)
    expect(error).to_contain_text(CHECKPOINT)  # what could be chosen instead
    expect(editor.node("checkpoint").locator(".widget-row.input-error")).to_have_attribute("data-input", "checkpoint")
    expect(page.get_by_test_id("status")).to_contain_text("Cannot run: 1 problem")
    for other in ("prompt", "negative", "latent", "sampler", "decode", "save"):
        expect(editor.node(other)).not_to_have_class(re.compile(r"\bhas-error\b"))


@pytest.mark.skipif(DEMO_MODEL not in builtin_checkpoints(), reason="the demo model is not installed")
def test_txt2img_example_with_the_demo_model_runs_to_an_image(editor, page):
    page.get_by_test_id("examples").select_option(label="Example: txt2img.json")
    expect(page.get_by_test_id("node-checkpoint")).to_be_visible()
    page.get_by_test_id("btn-queue").click()

    image = page.get_by_test_id("image-save")
    expect(image).to_be_visible(timeout=60000)
    expect(page.get_by_test_id("status")).to_contain_text("Finished")
    assert image.evaluate("img => img.complete && img.naturalWidth") == SIZE
