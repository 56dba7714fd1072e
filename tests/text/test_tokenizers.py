"""CLIP BPE tokenization offline, and tokenizers loaded from transformers folders."""

from pathlib import Path

import pytest

from graphflow.text import Tokenizer, clip_bpe_tokenizer, tokenizer_from_folder


def test_clip_bpe_gives_clips_real_ids():
    tokenizer = clip_bpe_tokenizer()
    ids = [tokenizer.bos_id, *tokenizer.ids("a photo of a cat"), tokenizer.eos_id]
    assert ids == [49406, 320, 1125, 539, 320, 2368, 49407]


def test_clip_bpe_lowercases_and_collapses_whitespace():
    tokenizer = clip_bpe_tokenizer()
    assert tokenizer.ids("  A   PHOTO\nof a &amp; cat ") == tokenizer.ids("a photo of a & cat")


def test_clip_bpe_pads_with_end_or_zero():
    assert clip_bpe_tokenizer(pad_with_end=True).pad_id == 49407
    assert clip_bpe_tokenizer(pad_with_end=False).pad_id == 0


def test_clip_bpe_satisfies_the_tokenizer_protocol_with_77_tokens():
    tokenizer = clip_bpe_tokenizer()
    assert isinstance(tokenizer, Tokenizer)
    assert tokenizer.max_length == 77
    assert tokenizer.decode(tokenizer.ids("a photo of a cat")) == "a photo of a cat"


def test_folder_tokenizer_round_trips_words(word_tokenizer_folder: Path):
    tokenizer = tokenizer_from_folder(word_tokenizer_folder)
    ids = tokenizer.ids("a red circle on the left")
    assert len(ids) == 6
    assert tokenizer.decode(ids) == "a red circle on the left"
    assert (tokenizer.bos_id, tokenizer.eos_id, tokenizer.pad_id) == (0, 1, 1)
    assert isinstance(tokenizer, Tokenizer)


def test_missing_tokenizer_folder_is_a_clear_error(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="tokenizer folder not found"):
        tokenizer_from_folder(tmp_path / "nowhere")


def test_folder_without_tokenizer_files_points_to_the_subfolder(tmp_path: Path):
    (tmp_path / "tokenizer").mkdir()
    with pytest.raises(FileNotFoundError, match="'tokenizer' subfolder"):
        tokenizer_from_folder(tmp_path)
