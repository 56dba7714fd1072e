"""The shipped demo weights: a small v-prediction diffusers pipeline (what they draw: test_demo_workflow.py)."""

import json

from graphflow.demo import DEMO_MODEL_DIR


def test_shipped_weights_are_a_small_v_prediction_pipeline():
    size = sum(f.stat().st_size for f in DEMO_MODEL_DIR.rglob("*") if f.is_file())
    assert size < 40 * 2**20
    index = json.loads((DEMO_MODEL_DIR / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline" and index["safety_checker"] == [None, None]
    scheduler = json.loads((DEMO_MODEL_DIR / "scheduler" / "scheduler_config.json").read_text())
    assert scheduler["prediction_type"] == "v_prediction"
