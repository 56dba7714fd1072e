from transformers import CLIPTokenizer

from graphflow.demo.tokenizer import MAX_LENGTH, build_tokenizer
from graphflow.demo.world import VOCABULARY


def test_every_world_word_is_a_single_token():
    tokenizer = build_tokenizer(VOCABULARY)
    for word in VOCABULARY:
        assert tokenizer.tokenize(word) == [word + "</w>"]


def test_unknown_text_is_spelled_out_rather_than_lost():
    tokenizer = build_tokenizer(VOCABULARY)
    ids = tokenizer("a zebra!").input_ids
    assert tokenizer.unk_token_id not in ids[1:-1]
    assert len(ids) > 4


def test_saved_tokenizer_reloads_as_a_clip_tokenizer_with_the_same_ids(tmp_path):
    tokenizer = build_tokenizer(VOCABULARY)
    tokenizer.save_pretrained(tmp_path)
    again = CLIPTokenizer.from_pretrained(tmp_path)
    text = "a large green triangle at the top and a small black square at the bottom"
    assert again(text).input_ids == tokenizer(text).input_ids
    assert again.model_max_length == MAX_LENGTH
    padded = again("", padding="max_length", max_length=MAX_LENGTH).input_ids
    assert padded[:2] == [again.bos_token_id, again.eos_token_id] and len(padded) == MAX_LENGTH
