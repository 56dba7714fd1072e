"""Every example workflow file loads (graphflow or ComfyUI format) and validates against the installed nodes."""

from pathlib import Path

import pytest

from graphflow.cli import apply_overrides
from graphflow.graph import validate
from graphflow.interop import load_any
from graphflow.settings import Settings
from tests.workflows.conftest import WORKFLOWS, checkpoint_overrides

EXAMPLES = sorted(p for p in WORKFLOWS.rglob("*.json"))


def test_the_examples_include_the_image_editing_workflows():
    names = {p.stem for p in EXAMPLES}
    editing = {
        "img2img",
        "sketch_to_image",
        "inpaint",
        "hires_fix",
        "upscale_model",
        "interpolate",
        "class_conditional",
    }
    assert editing <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.relative_to(WORKFLOWS).as_posix())
def test_example_workflow_validates(path: Path, plugins, example_models: Path, example_inputs: Path):
    workflow = load_any(path, plugins.registry)
    sets = [f"{key}={value}" for key, value in checkpoint_overrides(workflow).items()]
    workflow = apply_overrides(workflow, sets, plugins.registry)
    assert validate(workflow, plugins.registry, Settings(models_dir=example_models, input_dir=example_inputs)) == []


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.json")), ids=lambda p: p.name)
def test_example_workflow_lays_out_every_node(path: Path, plugins):
    workflow = load_any(path, plugins.registry)
    positions = {node_id: entry["pos"] for node_id, entry in workflow.ui.get("nodes", {}).items()}
    assert set(positions) == set(workflow.nodes)
    assert len({tuple(pos) for pos in positions.values()}) == len(positions), "two nodes share a position"
