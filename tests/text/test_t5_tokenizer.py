"""T5 tokenizer folders: the tiny T5's tokenizer, offline loading, and clear errors for missing files."""

from pathlib import Path

import pytest
from transformers import T5TokenizerFast

from graphflow.models.tiny_t5 import save_t5_tokenizer, save_tiny_t5, tiny_t5
from graphflow.text.t5 import T5PromptTokenizer, find_t5_tokenizer_folder, t5_tokenizer_from_folder


def test_the_tiny_t5_tokenizer_has_t5s_special_ids_and_spells_every_letter(tmp_path: Path):
    tokenizer = t5_tokenizer_from_folder(save_t5_tokenizer(tmp_path))
    assert (tokenizer.bos_id, tokenizer.eos_id, tokenizer.pad_id) == (None, 1, 0)
    text = "a Quick brown fox, 42 jumps!"
    ids = tokenizer.ids(text)
    assert 2 not in ids  # no <unk>
    assert tokenizer.decode(ids) == text


def test_ids_are_what_transformers_gives_without_the_closing_eos(tmp_path: Path):
    folder = save_t5_tokenizer(tmp_path)
    reference = T5TokenizerFast.from_pretrained(str(folder), local_files_only=True)
    tokenizer = t5_tokenizer_from_folder(folder)
    assert [*tokenizer.ids("a red cat on the mat"), 1] == reference("a red cat on the mat").input_ids


def test_the_first_folder_holding_a_tokenizer_is_used(tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    folder = save_t5_tokenizer(tmp_path / "tokenizer_3")
    assert find_t5_tokenizer_folder(empty, folder) == folder
    assert isinstance(t5_tokenizer_from_folder(empty, folder, max_length=256), T5PromptTokenizer)


def test_a_missing_tokenizer_names_every_folder_looked_in(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"no T5 tokenizer .*looked in: .*one, .*two\. Tokenizers are never"):
        t5_tokenizer_from_folder(tmp_path / "one", tmp_path / "two")


def test_the_tiny_t5_saves_and_loads_with_its_tokenizer(tmp_path: Path):
    folder = save_tiny_t5(tmp_path / "t5")
    tokenizer = t5_tokenizer_from_folder(folder)
    model = tiny_t5()
    assert model.config.d_model == 32 and model.config.num_layers == 2 and model.config.num_heads == 2
    assert tokenizer.vocab_size == model.config.vocab_size
