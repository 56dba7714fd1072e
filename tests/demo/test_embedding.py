"""Prompts naming embeddings (`embedding:name`), and the textual-inversion trainer."""

import pytest
import torch
from safetensors.torch import load_file

from graphflow.demo import DEMO_MODEL_DIR
from graphflow.demo.addon_base import load_base
from graphflow.demo.concepts import SUN, SUN_MEANING, sun_meaning, sun_prompts
from graphflow.demo.inversion_text import Slot, encode, prompt_ids
from graphflow.demo.train_denoiser import tokenize
from graphflow.demo.train_embedding import main


@pytest.fixture(scope="module")
def pipe():
    return load_base(DEMO_MODEL_DIR)


def test_a_prompt_without_embeddings_gets_the_pipelines_token_ids(pipe):
    prompt = "a small red circle on the left and a blue square"
    ids, slots = prompt_ids(pipe.tokenizer, prompt, {})
    assert ids == tokenize(pipe.tokenizer, [prompt])[0].tolist() and slots == []


def test_an_embedding_takes_one_token_position_per_vector(pipe):
    ids, slots = prompt_ids(pipe.tokenizer, "embedding:sun and a red square", {"sun": 2})
    assert slots == [Slot(1, "sun", 0), Slot(2, "sun", 1)]
    assert ids[3:7] == tokenize(pipe.tokenizer, ["and a red square"])[0].tolist()[1:5]
    with pytest.raises(KeyError, match="'moon'"):
        prompt_ids(pipe.tokenizer, "embedding:moon", {"sun": 2})


def test_vectors_equal_to_words_token_embeddings_encode_as_the_words(pipe):
    table = pipe.text_encoder.get_input_embeddings().weight
    words = pipe.tokenizer("yellow circle", add_special_tokens=False).input_ids
    vectors = {"yc": table[words].detach()}
    with torch.no_grad():
        got = encode(pipe.text_encoder, pipe.tokenizer, ["a large embedding:yc at the top"], vectors)
        expected = encode(pipe.text_encoder, pipe.tokenizer, ["a large yellow circle at the top"], {})
    torch.testing.assert_close(got, expected)


def test_sun_prompts_spell_out_as_world_prompts():
    prompts = sun_prompts(6)
    assert prompts[0] == f"embedding:{SUN}" and sun_meaning(prompts[0]) == SUN_MEANING
    assert all(sun_meaning(p).startswith(SUN_MEANING) for p in prompts)
    assert " and " in prompts[1] and prompts[1].endswith("at the bottom")


def test_tiny_embedding_training_exports_a1111_emb_params(tmp_path):
    out = tmp_path / "run"
    assert main(["--out", str(out), "--tiny"]) == 0
    state = load_file(out / f"{SUN}.safetensors")
    assert list(state) == ["emb_params"] and state["emb_params"].shape == (3, 128)
    assert state["emb_params"].dtype == torch.float32
