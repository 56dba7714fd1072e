"""Tiny random CLIP text models and tokenizers shared by the text tests."""

from pathlib import Path

import pytest
import torch
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from graphflow.text import ClipPart, clip_bpe_tokenizer

DEMO_WORDS = ["a", "red", "green", "blue", "circle", "square", "on", "the", "left", "right"]


def tiny_clip(width: int, layers: int = 3, vocab: int = 49408, projection: int | None = None):
    """A random CLIP text model, small enough to build and run in milliseconds."""
    torch.manual_seed(width * 10 + layers)
    config = CLIPTextConfig(
        vocab_size=vocab,
        hidden_size=width,
        intermediate_size=2 * width,
        num_hidden_layers=layers,
        num_attention_heads=4,
        max_position_embeddings=77,
        projection_dim=projection or width,
    )
    model_class = CLIPTextModel if projection is None else CLIPTextModelWithProjection
    return model_class(config).eval()


@pytest.fixture(scope="session")
def make_clip():
    """The tiny_clip factory, for tests that need a model of their own shape."""
    return tiny_clip


@pytest.fixture(scope="session")
def sd1_part() -> ClipPart:
    return ClipPart("clip_l", tiny_clip(32), clip_bpe_tokenizer(pad_with_end=True))


@pytest.fixture(scope="session")
def sd2_part() -> ClipPart:
    return ClipPart("clip_h", tiny_clip(40), clip_bpe_tokenizer(pad_with_end=False))


@pytest.fixture(scope="session")
def sdxl_parts() -> tuple[ClipPart, ClipPart]:
    clip_l = ClipPart("clip_l", tiny_clip(32, layers=2), clip_bpe_tokenizer(pad_with_end=True))
    clip_g = ClipPart("clip_g", tiny_clip(48, projection=24), clip_bpe_tokenizer(pad_with_end=False))
    return clip_l, clip_g


def save_word_tokenizer(folder: Path, words: list[str]) -> Path:
    """Write a word-level tokenizer folder the way the demo model's is made (tokenizers + transformers)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|startoftext|>", "<|endoftext|>", "<unk>"]
    vocab = {token: i for i, token in enumerate(specials + words)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<|startoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<unk>",
        pad_token="<|endoftext|>",
    ).save_pretrained(folder)
    return folder


@pytest.fixture
def word_tokenizer_folder(tmp_path: Path) -> Path:
    return save_word_tokenizer(tmp_path / "tokenizer", DEMO_WORDS)
