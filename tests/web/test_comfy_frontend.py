"""ComfyUI's own web frontend (PyPI `comfyui-frontend-package`, unchanged) on `graphflow serve --frontend comfyui`:
it opens, loads ComfyUI's classic default workflow, queues it, shows its progress and the picture."""

from __future__ import annotations

import copy
import json
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.web.conftest import ARTIFACTS, ServerThread

pytest.importorskip("comfyui_frontend_package", reason="needs ComfyUI's frontend: pip install comfyui-frontend-package")

# ComfyUI's classic default graph (ComfyUI_frontend src/scripts/defaultGraph.ts, the SD1.5 text-to-image graph
# every ComfyUI user knows, with `true` in KSampler's control-after-generate slot). Frontend 1.58's own default
# graph is a Z-Image Turbo one (UNETLoader, CLIPLoader lumina2, ModelSamplingAuraFlow), which graphflow cannot run.
CLASSIC_DEFAULT = {
    "last_node_id": 9,
    "last_link_id": 9,
    "nodes": [
        {
            "id": 7,
            "type": "CLIPTextEncode",
            "pos": [413, 389],
            "size": [425.27801513671875, 180.6060791015625],
            "flags": {},
            "order": 3,
            "mode": 0,
            "inputs": [{"name": "clip", "type": "CLIP", "link": 5}],
            "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING", "links": [6], "slot_index": 0}],
            "properties": {},
            "widgets_values": ["text, watermark"],
        },
        {
            "id": 6,
            "type": "CLIPTextEncode",
            "pos": [415, 186],
            "size": [422.84503173828125, 164.31304931640625],
            "flags": {},
            "order": 2,
            "mode": 0,
            "inputs": [{"name": "clip", "type": "CLIP", "link": 3}],
            "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING", "links": [4], "slot_index": 0}],
            "properties": {},
            "widgets_values": ["beautiful scenery nature glass bottle landscape, , purple galaxy bottle,"],
        },
        {
            "id": 5,
            "type": "EmptyLatentImage",
            "pos": [473, 609],
            "size": [315, 106],
            "flags": {},
            "order": 1,
            "mode": 0,
            "outputs": [{"name": "LATENT", "type": "LATENT", "links": [2], "slot_index": 0}],
            "properties": {},
            "widgets_values": [512, 512, 1],
        },
        {
            "id": 3,
            "type": "KSampler",
            "pos": [863, 186],
            "size": [315, 262],
            "flags": {},
            "order": 4,
            "mode": 0,
            "inputs": [
                {"name": "model", "type": "MODEL", "link": 1},
                {"name": "positive", "type": "CONDITIONING", "link": 4},
                {"name": "negative", "type": "CONDITIONING", "link": 6},
                {"name": "latent_image", "type": "LATENT", "link": 2},
            ],
            "outputs": [{"name": "LATENT", "type": "LATENT", "links": [7], "slot_index": 0}],
            "properties": {},
            "widgets_values": [156680208700286, True, 20, 8, "euler", "normal", 1],
        },
        {
            "id": 8,
            "type": "VAEDecode",
            "pos": [1209, 188],
            "size": [210, 46],
            "flags": {},
            "order": 5,
            "mode": 0,
            "inputs": [{"name": "samples", "type": "LATENT", "link": 7}, {"name": "vae", "type": "VAE", "link": 8}],
            "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [9], "slot_index": 0}],
            "properties": {},
        },
        {
            "id": 9,
            "type": "SaveImage",
            "pos": [1451, 189],
            "size": [210, 26],
            "flags": {},
            "order": 6,
            "mode": 0,
            "inputs": [{"name": "images", "type": "IMAGE", "link": 9}],
            "properties": {},
        },
        {
            "id": 4,
            "type": "CheckpointLoaderSimple",
            "pos": [26, 474],
            "size": [315, 98],
            "flags": {},
            "order": 0,
            "mode": 0,
            "outputs": [
                {"name": "MODEL", "type": "MODEL", "links": [1], "slot_index": 0},
                {"name": "CLIP", "type": "CLIP", "links": [3, 5], "slot_index": 1},
                {"name": "VAE", "type": "VAE", "links": [8], "slot_index": 2},
            ],
            "properties": {},
            "widgets_values": ["v1-5-pruned-emaonly.ckpt"],
        },
    ],
    "links": [
        [1, 4, 0, 3, 0, "MODEL"],
        [2, 5, 0, 3, 3, "LATENT"],
        [3, 4, 1, 6, 0, "CLIP"],
        [4, 6, 0, 3, 1, "CONDITIONING"],
        [5, 4, 1, 7, 0, "CLIP"],
        [6, 7, 0, 3, 2, "CONDITIONING"],
        [7, 3, 0, 8, 0, "LATENT"],
        [8, 4, 2, 8, 1, "VAE"],
        [9, 8, 0, 9, 0, "IMAGE"],
    ],
    "groups": [],
    "config": {},
    "extra": {},
    "version": 0.4,
}
STEPS = 4
SIZE = 64
SHOWN = "window.app.graph.getNodeById(9).imgs?.[0]"  # the picture the Save Image node shows
# Records every title the tab shows (ComfyUI writes "[NN%]..." there while a prompt runs) and the run's events.
WATCH = """() => {
    window.seenTitles = [];
    new MutationObserver(() => window.seenTitles.push(document.title))
        .observe(document.querySelector('title'), {childList: true, characterData: true, subtree: true});
    window.runEvents = [];
    const api = window.comfyAPI.api.api;
    for (const kind of ['execution_start', 'progress', 'executed', 'execution_success', 'execution_error'])
        api.addEventListener(kind, (e) => window.runEvents.push({kind, detail: e.detail}));
}"""


def classic_default_on_the_demo_model() -> dict:
    """The classic default graph with the checkpoint set to graphflow's demo model, a small latent and few steps."""
    graph = copy.deepcopy(CLASSIC_DEFAULT)
    values = {node["id"]: node.get("widgets_values") for node in graph["nodes"]}
    values[4][0] = "builtin:shapes-demo"
    values[5][:2] = [SIZE, SIZE]
    values[3][2] = STEPS
    return graph


@pytest.fixture(scope="module")
def comfy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """`graphflow serve --frontend comfyui` on loopback, in fresh folders."""
    from graphflow.server.app import create_app

    running = ServerThread(tmp_path_factory.mktemp("comfy-frontend"))
    running.config = replace(running.config, frontend="comfyui")
    running.app = create_app(running.config)
    with running:
        yield running


def test_comfyuis_frontend_runs_the_classic_default_workflow_with_progress_and_picture(browser, comfy_server):
    # A returning user: the first visit's template browser would cover the canvas.
    request = urllib.request.Request(
        f"{comfy_server.url}api/settings", data=json.dumps({"Comfy.TutorialCompleted": True}).encode(), method="POST"
    )
    urllib.request.urlopen(request, timeout=10).close()
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    # Nothing outside this machine is reachable; ComfyUI's release check and telemetry go nowhere at once.
    context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
    page = context.new_page()
    answers: list[tuple[int, str, str]] = []
    errors: list[str] = []
    page.on("response", lambda r: answers.append((r.status, r.request.method, r.url)))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(comfy_server.url)
        page.wait_for_function("window.app?.graph && window.comfyAPI?.api?.api?.clientId", timeout=60000)
        page.evaluate(
            "async (graph) => { await window.app.loadGraphData(graph); }", classic_default_on_the_demo_model()
        )
        types = page.evaluate("window.app.graph.nodes.map(n => n.type).sort()")
        assert types == sorted(n["type"] for n in CLASSIC_DEFAULT["nodes"])
        widgets = page.evaluate(
            "Object.fromEntries(window.app.graph.getNodeById(3).widgets.map(w => [w.name, w.value]))"
        )
        assert (widgets["steps"], widgets["sampler_name"], widgets["scheduler"]) == (STEPS, "euler", "normal")
        page.evaluate(WATCH)

        page.get_by_test_id("queue-button").click()  # "Run"
        page.wait_for_function(
            "window.runEvents.some(e => ['execution_success', 'execution_error'].includes(e.kind))", timeout=120000
        )
        events = page.evaluate("window.runEvents")
        assert [e["kind"] for e in events if e["kind"].startswith("execution_")] == [
            "execution_start",
            "execution_success",
        ], events
        steps = [(e["detail"]["value"], e["detail"]["max"]) for e in events if e["kind"] == "progress"]
        assert steps[-1] == (STEPS, STEPS) and len(steps) >= STEPS
        page.wait_for_function("window.seenTitles.some(t => /\\[\\d+%\\]/.test(t))", timeout=10000)

        page.wait_for_function(f"{SHOWN}?.complete && {SHOWN}.naturalWidth", timeout=30000)
        picture = page.evaluate(f"[{SHOWN}.naturalWidth, {SHOWN}.naturalHeight, {SHOWN}.src]")
        assert picture[:2] == [SIZE, SIZE] and "/view?filename=ComfyUI_" in picture[2]
        saved = list((Path(comfy_server.config.settings.output_dir)).glob("ComfyUI_*.png"))
        assert len(saved) == 1
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "comfy_frontend_classic_default.png"))
        context.close()
    ours = [a for a in answers if a[2].startswith(comfy_server.url)]
    assert not [a for a in ours if a[0] == 404], [a for a in ours if a[0] == 404]
    assert not [a for a in ours if a[0] >= 500]
    assert {(m, u.split("?")[0].removeprefix(comfy_server.url)) for _, m, u in ours} >= {
        ("GET", "api/extensions"),
        ("GET", "api/settings"),
        ("GET", "api/users"),
        ("GET", "api/object_info"),
        ("GET", "api/jobs"),
        ("POST", "api/prompt"),
        ("GET", "api/view"),
    }
    assert not errors, errors
