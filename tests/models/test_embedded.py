"""Single-file checkpoints whose metadata carries the configs and tokenizer that weights alone cannot tell."""

import json
from pathlib import Path

import pytest
from safetensors.torch import save_file
from transformers import CLIPTokenizer

from graphflow.cache import ModelCache
from graphflow.demo import DEMO_MODEL_DIR
from graphflow.models.embedded import CONFIGS_KEY, embed
from graphflow.models.files import load_metadata, load_state_dict
from graphflow.models.loader import load_checkpoint

DEMO_TOKENIZER = DEMO_MODEL_DIR / "tokenizer"


def _rewrite(saved_tiny, tmp_path: Path, metadata: dict[str, str]) -> Path:
    source = saved_tiny["sd1"].checkpoint
    path = tmp_path / "described.safetensors"
    save_file(load_state_dict(source), str(path), metadata={**load_metadata(source), **metadata})
    return path


def test_embedded_configs_decide_what_the_weights_cannot_tell(saved_tiny, tmp_path):
    unet = {k: v for k, v in saved_tiny["sd1"].models.unet.config.items() if not k.startswith("_")}
    path = _rewrite(
        saved_tiny,
        tmp_path,
        embed({"unet": {**unet, "attention_head_dim": 2}, "scheduler": {"beta_schedule": "linear", "beta_end": 0.02}}),
    )
    model, _, _ = load_checkpoint(path, device="cpu", cache=ModelCache())
    assert model.unet.config.attention_head_dim == 2
    plain, _, _ = load_checkpoint(saved_tiny["sd1"].checkpoint, device="cpu", cache=ModelCache())
    assert plain.unet.config.attention_head_dim == 8
    assert model.sampling.sigmas[-1] > plain.sampling.sigmas[-1]  # linear betas to 0.02 reach more noise


def test_an_embedded_tokenizer_replaces_clips_own(saved_tiny, tmp_path):
    tokenizer = CLIPTokenizer.from_pretrained(DEMO_TOKENIZER, local_files_only=True)
    path = _rewrite(saved_tiny, tmp_path, embed({}, tokenizer))
    _, clip, _ = load_checkpoint(path, device="cpu", cache=ModelCache())
    assert clip.parts[0].tokenizer.ids("a red circle") == tokenizer("a red circle", add_special_tokens=False).input_ids


def test_unreadable_embedded_configs_name_the_key_and_the_file(saved_tiny, tmp_path):
    path = _rewrite(saved_tiny, tmp_path, {CONFIGS_KEY: "{not json"})
    with pytest.raises(ValueError, match=f"{path}: its '{CONFIGS_KEY}' metadata is not valid JSON"):
        load_checkpoint(path, device="cpu", cache=ModelCache())
    assert json.loads(embed({"unet": {"a": 1}})[CONFIGS_KEY]) == {"unet": {"a": 1}}
