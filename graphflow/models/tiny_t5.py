"""A tiny random T5 encoder (T5-XXL's layout at width 32) and a T5 tokenizer folder, for tests and benchmarks.

The tokenizer is a SentencePiece-style Unigram model (Metaspace "▁" word starts) with T5's special ids:
pad "<pad>" 0, eos "</s>" 1, unk "<unk>" 2. Every letter, digit and common punctuation mark is a piece of
its own, so any ASCII prompt tokenizes without unknowns; a few prompt words are whole pieces.
"""

from __future__ import annotations

import string
from pathlib import Path

import torch
from transformers import T5Config, T5EncoderModel, T5TokenizerFast

T5_SPECIALS = ("<pad>", "</s>", "<unk>")
"""T5's special tokens, at ids 0 (pad), 1 (eos) and 2 (unk)."""

TINY_T5_WIDTH = 32
_WORDS = ("a", "an", "the", "of", "on", "in", "photo", "cat", "dog", "red", "green", "blue", "circle", "square")
_SYMBOLS = string.ascii_letters + string.digits + string.punctuation


def tiny_t5_vocab() -> list[tuple[str, float]]:
    """The Unigram pieces with scores: specials, whole words, then every single symbol with and without '▁'."""
    pieces: list[tuple[str, float]] = [(token, 0.0) for token in T5_SPECIALS]
    pieces += [("▁" + word, -2.0) for word in _WORDS]
    pieces.append(("▁", -4.0))
    pieces += [(symbol, -6.0) for symbol in _SYMBOLS]
    pieces += [("▁" + symbol, -5.0) for symbol in _SYMBOLS if symbol not in _WORDS]
    return pieces


def tiny_t5_tokenizer() -> T5TokenizerFast:
    """A T5TokenizerFast over the tiny vocabulary (no sentinel extra_ids)."""
    return T5TokenizerFast(vocab=tiny_t5_vocab(), extra_ids=0)


def save_t5_tokenizer(folder: str | Path) -> Path:
    """Write the tiny T5 tokenizer (tokenizer.json, tokenizer_config.json) to `folder`; returns the folder."""
    path = Path(folder)
    tiny_t5_tokenizer().save_pretrained(path)
    return path


def tiny_t5(vocab_size: int | None = None, width: int = TINY_T5_WIDTH, seed: int = 0) -> T5EncoderModel:
    """A random T5 v1.1-style encoder (gated GELU, 2 layers, 2 heads), in eval mode."""
    torch.manual_seed(seed)
    config = T5Config(
        vocab_size=vocab_size or len(tiny_t5_vocab()),
        d_model=width,
        d_kv=width // 2,
        d_ff=2 * width,
        num_layers=2,
        num_heads=2,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=32,
        feed_forward_proj="gated-gelu",
        dropout_rate=0.0,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
        is_encoder_decoder=False,
        use_cache=False,
    )
    return T5EncoderModel(config).eval()


def save_tiny_t5(model_folder: str | Path, tokenizer_folder: str | Path | None = None, seed: int = 0) -> Path:
    """Save a tiny T5 encoder (safetensors + config.json) and its tokenizer (into the same folder by default)."""
    path = Path(model_folder)
    tiny_t5(seed=seed).save_pretrained(path)
    save_t5_tokenizer(path if tokenizer_folder is None else tokenizer_folder)
    return path
