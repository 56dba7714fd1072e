"""Weight files: safetensors and weights-only torch files load; anything needing pickle is refused."""

import os
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from graphflow.models.files import CheckpointFormatError, UnsafeCheckpointError, load_state_dict


class _WritesMarker:
    """Unpickling this runs code that creates a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


class _Custom:
    """A harmless custom class: still not a plain tensor, so refused."""

    def __init__(self) -> None:
        self.value = 1


def test_malicious_pickle_checkpoint_is_refused_and_its_code_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "payload": _WritesMarker(marker)}, path)
    with pytest.raises(UnsafeCheckpointError, match="needs full pickle") as error:
        load_state_dict(path)
    assert "NOT loaded" in str(error.value) and str(path) in str(error.value)
    assert not marker.exists()
    torch.load(path, weights_only=False)  # proves the payload is live: full unpickling runs it
    assert marker.exists()


def test_pt_file_with_plain_tensors_loads_and_unwraps_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "plain.pt"
    torch.save({"state_dict": {"a.weight": torch.ones(2, 3)}, "epoch": 3}, path)
    loaded = load_state_dict(path)
    assert list(loaded) == ["a.weight"] and torch.equal(loaded["a.weight"], torch.ones(2, 3))


def test_pt_file_with_a_custom_class_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "custom.pt"
    torch.save({"w": torch.zeros(1), "extra": _Custom()}, path)
    with pytest.raises(UnsafeCheckpointError):
        load_state_dict(path)


def test_safetensors_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    save_file({"x": torch.arange(4.0)}, str(path))
    assert torch.equal(load_state_dict(path)["x"], torch.arange(4.0))


def test_corrupt_or_unknown_files_give_clear_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(os.urandom(64))
    with pytest.raises(CheckpointFormatError, match=re.escape("broken.safetensors")):
        load_state_dict(broken)
    other = tmp_path / "model.onnx"
    other.write_bytes(b"x")
    with pytest.raises(CheckpointFormatError, match="unsupported weight file type"):
        load_state_dict(other)
