"""Prompts become 77-token chunks: BOS, up to 75 tokens, EOS, padding; weights follow tokens."""

import pytest

from graphflow.text import clip_bpe_tokenizer, tokenize_weighted

CAT = 2368  # "cat" in CLIP's vocabulary


@pytest.fixture(scope="module")
def tokenizer():
    return clip_bpe_tokenizer(pad_with_end=False)


def test_short_prompt_is_one_padded_chunk(tokenizer):
    (chunk,) = tokenize_weighted("a cat", tokenizer)
    assert chunk.ids[:4] == (49406, 320, CAT, 49407)
    assert chunk.ids[4:] == (0,) * 73
    assert chunk.weights == (1.0,) * 77


def test_empty_prompt_is_bos_eos_padding(tokenizer):
    (chunk,) = tokenize_weighted("", tokenizer)
    assert chunk.ids == (49406, 49407) + (0,) * 75


def test_weights_land_on_their_tokens(tokenizer):
    (chunk,) = tokenize_weighted("a (cat:1.5)", tokenizer)
    assert chunk.ids[2] == CAT
    assert chunk.weights[:4] == (1.0, 1.0, 1.5, 1.0)
    assert chunk.weighted


def test_hundred_tokens_make_two_chunks_of_75_and_25(tokenizer):
    chunks = tokenize_weighted("cat " * 100, tokenizer)
    assert [len(c.ids) for c in chunks] == [77, 77]
    assert chunks[0].ids.count(CAT) == 75 and chunks[1].ids.count(CAT) == 25
    assert chunks[0].ids[-1] == 49407


def test_a_short_word_that_does_not_fit_moves_whole_to_the_next_chunk(tokenizer):
    word = "photosynthesis"  # several tokens
    pieces = len(tokenizer.ids(word))
    assert 1 < pieces < 8
    chunks = tokenize_weighted("cat " * 74 + word, tokenizer)
    assert chunks[0].ids.count(CAT) == 74 and chunks[0].ids[75] == 49407
    assert list(chunks[1].ids[1 : 1 + pieces]) == tokenizer.ids(word)


def test_break_starts_a_new_chunk(tokenizer):
    chunks = tokenize_weighted("a cat BREAK a dog", tokenizer)
    assert len(chunks) == 2
    assert chunks[0].ids[:4] == (49406, 320, CAT, 49407)
    assert chunks[1].ids[:2] == (49406, 320)


def test_a_word_of_eight_or_more_tokens_is_split_across_chunks(tokenizer):
    word = "xqzjvkwpyxqzjvkwpy"
    pieces = tokenizer.ids(word)
    assert len(pieces) >= 8
    chunks = tokenize_weighted("cat " * 70 + word, tokenizer)
    assert list(chunks[0].ids[71:76]) == pieces[:5] and chunks[0].ids[76] == 49407
    assert list(chunks[1].ids[1 : 1 + len(pieces) - 5]) == pieces[5:]
