import json

import torch
from diffusers import StableDiffusionPipeline

from graphflow.demo import DEMO_MODEL_DIR
from graphflow.demo.checker import score
from graphflow.demo.evaluate import generate


def test_shipped_weights_are_a_small_v_prediction_pipeline():
    size = sum(f.stat().st_size for f in DEMO_MODEL_DIR.rglob("*") if f.is_file())
    assert size < 40 * 2**20
    index = json.loads((DEMO_MODEL_DIR / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline" and index["safety_checker"] == [None, None]
    scheduler = json.loads((DEMO_MODEL_DIR / "scheduler" / "scheduler_config.json").read_text())
    assert scheduler["prediction_type"] == "v_prediction"


def test_shipped_weights_draw_what_the_prompt_asks_for():
    pipe = StableDiffusionPipeline.from_pretrained(DEMO_MODEL_DIR, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.unet.dtype == torch.float32
    prompts = [
        "a large red circle on the left",
        "a small blue square at the top",
        "a large yellow triangle in the center",
        "a small green circle at the bottom",
        "a large black square on the right",
        "a large purple triangle at the top",
        "a small orange circle in the center",
        "a large green square at the bottom",
    ]
    result = score(generate(pipe, prompts, steps=20, guidance=4.5), prompts)
    assert result["colour"] >= 7 / 8 and result["position"] >= 7 / 8 and result["size"] >= 7 / 8, result
    assert result["shape"] >= 5 / 8, result
