"""The merge example on the demo models: a half-and-half model that still follows the prompt, the demo's own
pictures unchanged afterwards, and a saved checkpoint that Load Checkpoint reads back to the same picture."""

from pathlib import Path

import numpy as np

from graphflow.demo.checker import check
from tests.workflows.conftest import WORKFLOWS, needs_demo, read_rgb

PROMPT = "a large red circle on the left and a small blue square on the right"


def _run(graphflow_cli, *args: str) -> list[Path]:
    result = graphflow_cli("run", *args, "--quiet")
    assert result.status == 0, result.stderr
    return result.saved


def _demo_picture(graphflow_cli, output: Path, *extra: str) -> np.ndarray:
    [saved] = _run(graphflow_cli, "txt2img", "--output", output, "--set", f"prompt.text={PROMPT}", *extra)
    return read_rgb(saved)


@needs_demo
def test_merge_example_mixes_the_models_saves_a_checkpoint_and_leaves_the_demo_as_it_was(graphflow_cli, tmp_path):
    before = _demo_picture(graphflow_cli, tmp_path / "before")
    saved = _run(graphflow_cli, str(WORKFLOWS / "merge.json"), "--output", tmp_path / "merge")
    [picture] = [path for path in saved if path.suffix == ".png"]
    [checkpoint] = [path for path in saved if path.suffix == ".safetensors"]
    merged = read_rgb(picture)
    assert check(merged, PROMPT)["all"]
    assert np.abs(merged - before).mean() > 0.001  # the class model's weights changed the picture
    assert np.array_equal(_demo_picture(graphflow_cli, tmp_path / "after"), before)
    assert checkpoint.parent.name == "checkpoints"
    reloaded = _demo_picture(
        graphflow_cli,
        tmp_path / "reloaded",
        "--models",
        str(tmp_path / "merge"),
        "--set",
        f"checkpoint.checkpoint={checkpoint.name}",
    )
    assert np.array_equal(reloaded, merged)
