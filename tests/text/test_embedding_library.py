"""Embedding names resolve in <models>/embeddings (suffix optional), then among the shipped ones by stem."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from graphflow.cache import ModelCache
from graphflow.models import builtin
from graphflow.text import EmbeddingLoader, EmbeddingNotFoundError, embedding_choices
from graphflow.text.embedding_library import find_embedding, missing_embeddings_message


def put(folder: Path, name: str, rows: int = 1, width: int = 32) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {"emb_params": torch.full((rows, width), float(len(name)))}
    if path.suffix == ".safetensors":
        save_file(tensors, str(path))
    else:
        torch.save(tensors, path)
    return path


@pytest.fixture
def models(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    folder = root / "embeddings"
    put(folder, "shiny.safetensors")
    put(folder, "old.pt")
    put(folder, "concept.bin")
    put(folder, "styles/ink.safetensors")
    put(folder, "both.pt")
    put(folder, "both.safetensors")
    (folder / "notes.txt").write_text("not an embedding")
    return root


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    weights = tmp_path / "weights"
    put(weights / "embeddings", "shapes-sun.safetensors")
    put(weights / "embeddings", "shiny.safetensors")
    monkeypatch.setattr(builtin, "_WEIGHTS", weights)
    return weights / "embeddings"


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("shiny", "shiny.safetensors"),
        ("shiny.safetensors", "shiny.safetensors"),
        ("old", "old.pt"),
        ("concept", "concept.bin"),
        ("styles/ink", "styles/ink.safetensors"),
        ("both", "both.safetensors"),
        ("both.pt", "both.pt"),
    ],
)
def test_a_name_finds_its_file_with_or_without_the_suffix(models, name, found):
    assert find_embedding(models, name) == models / "embeddings" / found


@pytest.mark.parametrize("name", ["../embeddings/shiny", "/etc/passwd", "notes", "notes.txt", "ghost", ""])
def test_names_outside_the_folder_or_of_other_files_find_nothing(models, name):
    assert find_embedding(models, name) is None


def test_shipped_embeddings_are_found_by_stem_after_the_folder(models, shipped):
    assert find_embedding(models, "shapes-sun") == shipped / "shapes-sun.safetensors"
    assert find_embedding(models, "builtin:shapes-sun") == shipped / "shapes-sun.safetensors"
    assert find_embedding(models, "shiny") == models / "embeddings" / "shiny.safetensors"
    assert find_embedding(models, "builtin:shiny") == shipped / "shiny.safetensors"


def test_the_choices_are_the_folder_names_without_suffix_then_the_shipped_ones(models, shipped):
    assert embedding_choices(models) == ["both", "concept", "old", "shiny", "styles/ink", "shapes-sun"]


def test_a_missing_embedding_is_named_with_the_folder_and_what_is_available(models, shipped):
    message = missing_embeddings_message(models, ["shiny", "nope", "shiny:1.2"])
    assert message is not None and message.startswith("embedding:nope, embedding:shiny:1.2: no such embedding in ")
    assert str(models / "embeddings") in message
    assert "(to weight an embedding, put it in brackets: (embedding:shiny:1.2))" in message
    assert message.endswith("available: both, concept, old, shiny, styles/ink, shapes-sun")
    assert missing_embeddings_message(models, ["shiny", "shapes-sun"]) is None


def test_the_loader_reads_each_file_once_until_it_changes(models):
    cache = ModelCache()
    load = EmbeddingLoader(models, cache)
    first = load("shiny")
    assert load("shiny.safetensors") is first and (cache.misses, cache.hits) == (1, 1)
    put(models / "embeddings", "shiny.safetensors", rows=3)
    changed = load("shiny")
    assert changed is not first and changed.length == 3


def test_the_loader_says_which_embedding_is_missing(models):
    with pytest.raises(EmbeddingNotFoundError, match="embedding:ghost: no such embedding"):
        EmbeddingLoader(models)("ghost")
