import dataclasses
import json

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionPipeline

from graphflow.demo.config import DemoConfig, tiny_config
from graphflow.demo.models import build_unet
from graphflow.demo.train import main
from graphflow.demo.train_denoiser import draw_indices, split_by_count
from graphflow.demo.world import dataset


def test_tiny_training_run_produces_a_pipeline_that_reloads_offline(tmp_path):
    out = tmp_path / "run"
    assert main(["--out", str(out), "--tiny"]) == 0
    pipe = StableDiffusionPipeline.from_pretrained(out / "pipeline", local_files_only=True)
    assert pipe.scheduler.config.prediction_type == "v_prediction"
    assert pipe.safety_checker is None and pipe.unet.dtype == torch.float32
    assert pipe.vae.config.scaling_factor != 1.0  # measured from the latents
    image = pipe("a red circle", num_inference_steps=2, height=16, width=16, output_type="np").images
    assert image.shape == (1, 16, 16, 3)
    assert DemoConfig.from_dict(json.loads((out / "pipeline" / "demo_config.json").read_text())) == tiny_config()
    assert "v_prediction" in (out / "pipeline" / "TRAINING.md").read_text()


def test_a_stopped_run_resumes_where_it_left_off(tmp_path, capsys):
    out = tmp_path / "run"
    main(["--out", str(out), "--tiny", "--minutes", "0"])
    assert "continue with" in capsys.readouterr().out
    assert torch.load(out / "vae.pt", weights_only=True)["step"] == 0
    main(["--out", str(out), "--resume"])
    assert torch.load(out / "denoiser.pt", weights_only=True)["step"] == tiny_config().train.steps
    assert (out / "pipeline" / "model_index.json").exists()


def test_starting_over_an_existing_run_is_refused(tmp_path):
    out = tmp_path / "run"
    main(["--out", str(out), "--tiny", "--minutes", "0"])
    with pytest.raises(SystemExit, match="--resume"):
        main(["--out", str(out), "--tiny"])


def test_resuming_nothing_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="no training run"):
        main(["--out", str(tmp_path / "empty"), "--resume"])


def test_pair_fraction_sets_the_share_of_two_shape_scenes_in_a_batch():
    scenes = dataset(400, seed=0)
    singles, pairs = split_by_count(scenes)
    assert all(len(scenes.scene(int(i)).things) == 2 for i in pairs) and len(singles) + len(pairs) == 400
    rng = np.random.default_rng(0)
    batch = draw_indices(rng, 400, 1000, (singles, pairs), pair_fraction=0.6)
    share = np.isin(batch, pairs).mean()
    assert 0.55 < share < 0.65
    assert np.isin(draw_indices(rng, 400, 50, (singles, pairs), pair_fraction=1.0), pairs).all()


def test_attention_from_sets_the_first_unet_level_with_cross_attention():
    config = tiny_config()
    default = build_unet(config).config
    assert default.down_block_types == ("DownBlock2D", "CrossAttnDownBlock2D")
    assert default.up_block_types == ("CrossAttnUpBlock2D", "UpBlock2D")
    everywhere = build_unet(dataclasses.replace(config, unet=dataclasses.replace(config.unet, attention_from=0))).config
    assert everywhere.down_block_types == ("CrossAttnDownBlock2D",) * 2
    assert everywhere.up_block_types == ("CrossAttnUpBlock2D",) * 2
