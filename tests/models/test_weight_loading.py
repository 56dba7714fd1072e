"""Weights read tensor by tensor, converted to their part's dtype as they are read."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from graphflow.cache import ModelCache
from graphflow.models.files import CheckpointFormatError, load_metadata, load_state_dict, open_weights
from graphflow.models.loader import load_checkpoint


def test_the_tensor_by_tensor_reader_gives_exactly_what_safetensors_reads(saved_tiny, tmp_path: Path) -> None:
    mixed = {
        "half": torch.randn(3, 5).half(),
        "brain": torch.randn(7).bfloat16(),
        "ints": torch.arange(6, dtype=torch.int64).reshape(2, 3),
        "flags": torch.tensor([True, False]),
        "empty": torch.zeros(0, 4),
        "scalar": torch.tensor(2.5),
    }
    path = tmp_path / "mixed.safetensors"
    save_file(mixed, str(path), metadata={"a": "b"})
    for file in (path, saved_tiny["sdxl"].checkpoint):
        expected = load_file(str(file))
        got = load_state_dict(file)
        assert got.keys() == expected.keys()
        for key, tensor in expected.items():
            assert got[key].dtype == tensor.dtype and torch.equal(got[key], tensor), key
    assert load_metadata(path) == {"a": "b"}


def test_weights_are_converted_as_they_are_read_and_shapes_need_no_reading(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    save_file({"x": torch.randn(4, 4).half(), "i": torch.arange(3)}, str(path))
    weights = open_weights(path)
    shapes = weights.shapes()
    assert shapes["x"].is_meta and tuple(shapes["x"].shape) == (4, 4) and shapes["x"].dtype == torch.float16
    placed = weights.placed(lambda name: (torch.device("cpu"), torch.float32))
    assert placed["x"].dtype == torch.float32 and torch.equal(placed["x"], weights["x"].float())
    assert placed["i"].dtype == torch.int64  # integer tensors keep their type


def test_converted_tensors_never_share_the_read_buffer_and_named_4d_ones_come_channels_last(tmp_path: Path) -> None:
    stored = {"conv": torch.randn(8, 4, 3, 3), "one_by_one": torch.randn(8, 8, 1, 1), "bias": torch.randn(8)}
    path = tmp_path / "w.safetensors"
    save_file({k: v.half() for k, v in stored.items()}, str(path))
    weights = open_weights(path)
    for dtype in (torch.float32, torch.float16):  # a dtype conversion, or only a layout change
        placed = weights.placed(lambda _name, dtype=dtype: (None, dtype), channels_last=lambda name: name != "bias")
        got = {name: placed[name] for name in stored}
        assert got["conv"].is_contiguous(memory_format=torch.channels_last) and not got["conv"].is_contiguous()
        assert len({t.untyped_storage().data_ptr() for t in got.values()}) == len(stored)
        for name, tensor in stored.items():
            assert got[name].dtype == dtype and torch.equal(got[name], tensor.half().to(dtype)), name


def test_a_checkpoint_stored_in_fp16_loads_each_part_in_its_own_dtype(saved_tiny, tmp_path: Path) -> None:
    half = tmp_path / "half.safetensors"
    save_file(
        {k: v.half() if v.is_floating_point() else v for k, v in load_file(str(saved_tiny["sd1"].checkpoint)).items()},
        str(half),
    )
    model, clip, vae = load_checkpoint(half, device="cpu", cache=ModelCache())
    assert {p.dtype for p in model.unet.parameters()} == {torch.float32}
    assert {p.dtype for p in vae.model.parameters()} == {torch.float32}
    assert vae.model.decoder.conv_in.weight.is_contiguous(memory_format=torch.channels_last)  # as read, no copy
    assert {p.dtype for p in clip.parts[0].model.parameters()} == {torch.float16}


def test_a_truncated_safetensors_file_is_an_error_naming_it(saved_tiny, tmp_path: Path) -> None:
    path = tmp_path / "cut.safetensors"
    path.write_bytes(saved_tiny["sd1"].checkpoint.read_bytes()[:-100])
    with pytest.raises(CheckpointFormatError, match=r"cut\.safetensors"):
        load_state_dict(path)


@pytest.mark.parametrize("zipped", [True, False])
def test_torch_files_load_memory_mapped_or_in_the_legacy_format(tmp_path: Path, zipped: bool) -> None:
    path = tmp_path / "w.ckpt"
    torch.save({"state_dict": {"w": torch.arange(5.0)}}, path, _use_new_zipfile_serialization=zipped)
    assert torch.equal(load_state_dict(path)["w"], torch.arange(5.0))
