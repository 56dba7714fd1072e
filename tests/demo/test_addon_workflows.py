"""The add-on example workflows (lora, embedding_sun, controlnet) run on the demo model and show their add-on."""

from pathlib import Path

import pytest
from PIL import Image

from graphflow.demo.checker import check, find_objects, iou, shape_mask, silhouette
from graphflow.demo.concepts import CHECK_COLOURS
from graphflow.plugins import build_plugins
from graphflow.workflow import load_workflow
from tests.running import executor_for

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "graphflow" / "workflows"


@pytest.fixture(scope="module")
def plugins():
    return build_plugins(entry_points=False)


def picture(plugins, name: str, root: Path) -> Image.Image:
    """Run workflows/NAME.json as shipped; the one picture it saves."""
    executor = executor_for(plugins, root)
    result = executor.run(load_workflow(WORKFLOWS / f"{name}.json"))
    assert result.error is None, result.error
    (saved,) = sorted((root / "output").glob("*.png"))
    return Image.open(saved).convert("RGB")


def test_every_addon_workflow_describes_itself_and_names_builtin_models():
    for name in ("lora", "embedding_sun", "controlnet"):
        workflow = load_workflow(WORKFLOWS / f"{name}.json")
        assert workflow.meta["description"]
        assert set(workflow.ui["nodes"]) == set(workflow.nodes)
        names = [v for node in workflow.nodes.values() for v in node.inputs.values() if isinstance(v, str)]
        assert (
            any(v.startswith("builtin:shapes-") and v != "builtin:shapes-demo" for v in names)
            or name == "embedding_sun"
        )


def test_the_lora_workflow_draws_a_magenta_thing(plugins, tmp_path):
    image = picture(plugins, "lora", tmp_path)
    result = check(image, "a large magenta circle on the left and a small yellow square on the right", CHECK_COLOURS)
    assert result["colour"] and result["position"]


def test_the_embedding_workflow_draws_the_sun_above_the_square(plugins, tmp_path):
    image = picture(plugins, "embedding_sun", tmp_path)
    colours = {(o.colour, o.position) for o in find_objects(image)}
    assert {("yellow", "top"), ("blue", "bottom")} <= colours


def test_the_controlnet_workflow_draws_the_triangle_in_the_hand_drawn_silhouette(plugins, tmp_path):
    image = picture(plugins, "controlnet", tmp_path)
    hint = Image.open(WORKFLOWS / "inputs" / "silhouette.png")
    assert check(image, "a blue triangle")["colour"]
    assert iou(shape_mask(image), silhouette(hint)) > 0.7
