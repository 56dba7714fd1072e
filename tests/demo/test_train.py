import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionPipeline
from transformers import CLIPTokenizer

from graphflow.cache import ModelCache
from graphflow.demo import DEMO_MODEL_DIR
from graphflow.demo.config import DemoConfig, tiny_config
from graphflow.demo.grow import PipelineMismatchError
from graphflow.demo.models import build_unet
from graphflow.demo.train import main
from graphflow.demo.train_denoiser import CaptionIds, build_denoiser, draw_indices, split_by_count, tokenize
from graphflow.demo.world import dataset
from graphflow.models.loader import load_checkpoint


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
    scenes = dataset(400, seed=0).scenes()
    singles, pairs = split_by_count(scenes)
    assert all(len(scenes[int(i)].things) == 2 for i in pairs) and len(singles) + len(pairs) == 400
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


def _tiny_pipeline(tmp_path: Path) -> Path:
    main(["--out", str(tmp_path / "first"), "--tiny"])
    return tmp_path / "first" / "pipeline"


def _write_config(tmp_path: Path, config: DemoConfig) -> str:
    path = tmp_path / "config.json"
    path.write_text(config.to_json())
    return str(path)


def test_a_run_grown_from_a_pipeline_starts_out_drawing_what_the_pipeline_draws(tmp_path):
    pipeline = _tiny_pipeline(tmp_path)
    config = tiny_config()
    grown_config = dataclasses.replace(config, unet=dataclasses.replace(config.unet, attention_from=0))
    out = tmp_path / "grown"
    main(
        [
            "--out",
            str(out),
            "--config",
            _write_config(tmp_path, grown_config),
            "--init-from",
            str(pipeline),
            "--minutes",
            "0",
        ]
    )
    assert torch.load(out / "vae.pt", weights_only=True)["step"] == config.vae.steps
    state = torch.load(out / "denoiser.pt", weights_only=True)
    assert state["step"] == 0
    tokenizer = CLIPTokenizer.from_pretrained(out / "tokenizer")
    grown = build_denoiser(grown_config, tokenizer)
    grown.load_state_dict(state["model"])
    assert grown.unet.config.down_block_types == ("CrossAttnDownBlock2D",) * 2
    original = StableDiffusionPipeline.from_pretrained(pipeline, local_files_only=True)
    ids = tokenize(tokenizer, ["a red circle", "a blue square on the left"])
    noisy, timesteps = torch.randn(2, 4, 8, 8), torch.tensor([100, 700])
    with torch.no_grad():
        expected = original.unet(noisy, timesteps, encoder_hidden_states=original.text_encoder(ids)[0]).sample
        torch.testing.assert_close(grown(noisy, timesteps, ids), expected)
    main(["--out", str(out), "--resume"])
    assert torch.load(out / "denoiser.pt", weights_only=True)["step"] == config.train.steps


def test_a_pipeline_that_does_not_fit_the_config_is_named(tmp_path):
    pipeline = _tiny_pipeline(tmp_path)
    config = tiny_config()
    wider = dataclasses.replace(config, unet=dataclasses.replace(config.unet, channels=(32, 32)))
    with pytest.raises(PipelineMismatchError, match="unet"):
        main(
            ["--out", str(tmp_path / "wider"), "--config", _write_config(tmp_path, wider), "--init-from", str(pipeline)]
        )
    with pytest.raises(FileNotFoundError, match="not a diffusers pipeline"):
        main(["--out", str(tmp_path / "nowhere"), "--tiny", "--init-from", str(tmp_path)])


def test_config_and_init_from_only_apply_to_new_runs(tmp_path):
    out = tmp_path / "run"
    main(["--out", str(out), "--tiny", "--minutes", "0"])
    with pytest.raises(SystemExit, match="only apply to new runs"):
        main(["--out", str(out), "--resume", "--init-from", str(tmp_path)])


def test_caption_ids_match_the_tokenizer_and_are_reused(tmp_path):
    tokenizer = CLIPTokenizer.from_pretrained(DEMO_MODEL_DIR / "tokenizer", local_files_only=True)
    ids = CaptionIds(tokenizer)
    captions = ["a red circle", "", "a red circle", "a blue square and a green triangle"]
    assert torch.equal(ids(captions), tokenize(tokenizer, captions))
    assert len(ids.known) == 3


def test_a_training_run_also_writes_a_single_file_checkpoint_that_loads_like_its_folder(tmp_path):
    pipeline = _tiny_pipeline(tmp_path)
    from_file = load_checkpoint(pipeline.with_suffix(".safetensors"), device="cpu", cache=ModelCache())
    from_folder = load_checkpoint(pipeline, device="cpu", cache=ModelCache())
    (model_a, clip_a, vae_a), (model_b, clip_b, vae_b) = from_file, from_folder
    assert model_a.sampling.prediction_type == model_b.sampling.prediction_type == "v_prediction"
    assert vae_a.scaling_factor == vae_b.scaling_factor != 1.0
    assert clip_a.parts[0].tokenizer.ids("a red circle") == clip_b.parts[0].tokenizer.ids("a red circle")
    context_a, context_b = clip_a.encode("a red circle")[0].context, clip_b.encode("a red circle")[0].context
    torch.testing.assert_close(context_a, context_b)
    noisy = torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(
            model_a.unet(noisy, torch.tensor([300]), encoder_hidden_states=context_a).sample,
            model_b.unet(noisy, torch.tensor([300]), encoder_hidden_states=context_b).sample,
        )
    torch.testing.assert_close(model_a.sampling.sigmas, model_b.sampling.sigmas)
