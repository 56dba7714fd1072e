"""A word-level CLIP tokenizer for the shapes world: every vocabulary word is one token."""

from __future__ import annotations

import json
from collections.abc import Iterable

from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import CLIPTokenizer

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
MAX_LENGTH = 77


def build_tokenizer(words: Iterable[str]) -> CLIPTokenizer:
    """Train BPE merges on the word list until each word is one token; every byte stays spellable.

    The result is an ordinary transformers CLIPTokenizer (same normaliser, pre-tokeniser and
    '</w>' word ends as CLIP), so pipelines load it like any Stable Diffusion tokenizer.
    """
    words = sorted(set(words))
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    bpe = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=100_000,
        min_frequency=1,
        special_tokens=[BOS, EOS],
        initial_alphabet=alphabet,
        end_of_word_suffix="</w>",
        show_progress=False,
    )
    bpe.train_from_iterator(words, trainer)
    state = json.loads(bpe.to_str())["model"]  # the trained vocab and merges, via the JSON form
    vocab: dict[str, int] = dict(state["vocab"])
    for char in sorted(alphabet):  # word-final forms of every byte, so no input is unknown
        vocab.setdefault(char + "</w>", len(vocab))
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in state["merges"]]
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges)
    tokenizer.model_max_length = MAX_LENGTH
    return tokenizer
