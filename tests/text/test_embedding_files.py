"""Embedding files load in the layouts people have, as vectors per text part; pickles are refused."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from graphflow.models.files import UnsafeCheckpointError
from graphflow.text import EmbeddingError, read_embedding
from graphflow.text.embeddings import ANY_PART

VECTORS = torch.arange(2 * 32, dtype=torch.float32).reshape(2, 32) / 64


def write(path: Path, content: object) -> Path:
    if path.suffix == ".safetensors":
        save_file(content, str(path))
    else:
        torch.save(content, path)
    return path


A1111 = {
    "string_to_token": {"*": 265},
    "string_to_param": {"*": VECTORS.clone().requires_grad_()},
    "name": "shiny",
    "step": 3000,
    "sd_checkpoint": "a1b2c3",
    "sd_checkpoint_name": "v1-5-pruned",
}

GENERIC_LAYOUTS = {
    "a1111.pt": A1111,
    "a1111-flat.safetensors": {"string_to_param.*": VECTORS},
    "kohya.safetensors": {"emb_params": VECTORS},
    "single.safetensors": {"anything": VECTORS},
    "bare.pt": VECTORS,
    "diffusers.bin": {"<shiny>": VECTORS[:1].squeeze(0)},
}


@pytest.mark.parametrize("filename", list(GENERIC_LAYOUTS))
def test_each_single_model_layout_loads_as_vectors_for_any_part(tmp_path, filename):
    embedding = read_embedding(write(tmp_path / filename, GENERIC_LAYOUTS[filename]))
    expected = VECTORS[:1] if filename == "diffusers.bin" else VECTORS
    assert list(embedding.vectors) == [ANY_PART]
    assert embedding.length == len(expected)
    assert torch.equal(embedding.for_part("clip_l", 32), expected)
    assert torch.equal(embedding.for_part("clip_h", 32), expected)


def test_an_sdxl_file_gives_clip_l_and_clip_g_their_own_vectors(tmp_path):
    clip_l, clip_g = torch.randn(3, 32), torch.randn(3, 48)
    embedding = read_embedding(write(tmp_path / "xl.safetensors", {"clip_l": clip_l, "clip_g": clip_g}))
    assert embedding.length == 3
    assert torch.equal(embedding.for_part("clip_l", 32), clip_l)
    assert torch.equal(embedding.for_part("clip_g", 48), clip_g)


def test_half_precision_vectors_are_read_as_float32(tmp_path):
    embedding = read_embedding(write(tmp_path / "half.safetensors", {"emb_params": VECTORS.half()}))
    vectors = embedding.for_part("clip_l", 32)
    assert vectors.dtype == torch.float32 and torch.equal(vectors, VECTORS.half().float())


def test_several_string_to_param_entries_follow_one_another(tmp_path):
    content = {"string_to_param": {"*": VECTORS, "other": VECTORS[:1] + 1}}
    embedding = read_embedding(write(tmp_path / "two.pt", content))
    assert torch.equal(embedding.for_part("clip_l", 32), torch.cat([VECTORS, VECTORS[:1] + 1]))


def test_a_vector_of_the_wrong_width_names_the_file_and_the_part(tmp_path):
    path = write(tmp_path / "sd15.safetensors", {"emb_params": VECTORS})
    with pytest.raises(EmbeddingError, match="width 32") as err:
        read_embedding(path).for_part("clip_g", 48)
    assert str(path) in str(err.value) and "clip_g" in str(err.value) and "48" in str(err.value)


def test_an_sdxl_file_has_nothing_for_an_sd2_text_part(tmp_path):
    path = write(tmp_path / "xl.safetensors", {"clip_l": torch.randn(1, 32), "clip_g": torch.randn(1, 48)})
    with pytest.raises(EmbeddingError, match="clip_g, clip_l but none for the text part clip_h"):
        read_embedding(path).for_part("clip_h", 40)


def test_parts_with_different_numbers_of_vectors_are_refused(tmp_path):
    path = write(tmp_path / "odd.safetensors", {"clip_l": torch.randn(2, 32), "clip_g": torch.randn(3, 48)})
    with pytest.raises(EmbeddingError, match=r"different number of vectors per text part \(clip_l: 2, clip_g: 3\)"):
        read_embedding(path)


def test_an_unknown_layout_lists_its_keys(tmp_path):
    path = write(tmp_path / "mystery.safetensors", {"alpha": VECTORS, "beta": VECTORS + 1})
    with pytest.raises(EmbeddingError, match="'alpha', 'beta'"):
        read_embedding(path)


@pytest.mark.parametrize("shape", [(2, 3, 32), (0, 32)])
def test_a_tensor_that_is_not_a_list_of_vectors_is_refused(tmp_path, shape):
    path = write(tmp_path / "odd.safetensors", {"emb_params": torch.zeros(shape)})
    with pytest.raises(EmbeddingError, match=r"expected \[vectors, width\]"):
        read_embedding(path)


class _Payload:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_torch_file_that_needs_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    path = write(tmp_path / "evil.pt", {"string_to_param": {"*": VECTORS}, "payload": _Payload(marker)})
    with pytest.raises(UnsafeCheckpointError, match="NOT loaded"):
        read_embedding(path)
    assert not marker.exists()


def test_other_file_types_and_missing_files_are_clear_errors(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(EmbeddingError, match="not an embedding file type"):
        read_embedding(tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError, match="embedding file not found"):
        read_embedding(tmp_path / "gone.pt")
