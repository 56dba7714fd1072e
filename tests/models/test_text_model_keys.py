"""CLIP text weights with or without the `text_model.` level (transformers 5 writes them without it)."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from graphflow.cache import ModelCache
from graphflow.models.detect import UnknownModelLayoutError
from graphflow.models.files import load_state_dict
from graphflow.models.loader import load_checkpoint

PROMPT = "a photo of a cat"


def _without_text_model_level(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key.replace(".transformer.text_model.", ".transformer."): value for key, value in state.items()}


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
def test_a_checkpoint_without_text_model_keys_loads_and_encodes_as_with_them(
    saved_tiny, tmp_path: Path, family: str
) -> None:
    state = load_state_dict(saved_tiny[family].checkpoint)
    flat = _without_text_model_level(state)
    assert flat.keys() != state.keys()
    path = tmp_path / "flat.safetensors"
    save_file(flat, str(path))
    _, with_level, _ = load_checkpoint(saved_tiny[family].checkpoint, device="cpu", cache=ModelCache())
    _, without_level, _ = load_checkpoint(path, device="cpu", cache=ModelCache())
    torch.testing.assert_close(without_level.encode(PROMPT)[0].context, with_level.encode(PROMPT)[0].context)


def test_a_text_encoder_lacking_a_weight_is_an_error_naming_the_file_and_the_weight(saved_tiny, tmp_path: Path) -> None:
    state = load_state_dict(saved_tiny["sd1"].checkpoint)
    del state["cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"]
    path = tmp_path / "no-tokens.safetensors"
    save_file(state, str(path))
    with pytest.raises(UnknownModelLayoutError) as error:
        load_checkpoint(path, device="cpu", cache=ModelCache())
    assert "no-tokens.safetensors" in str(error.value) and "token_embedding" in str(error.value)
