"""Reading weight files safely: safetensors, or torch files restricted to plain tensors.

`open_weights` reads a file lazily: each tensor is read when asked for and converted to the dtype and
device it will live in as it is read, so loading a model never holds the file and the model at once.
Safetensors are read with plain file reads rather than through a memory map: a mapped page that was
read stays in the process's resident memory until the map closes, which would hold the whole file.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

StateDict = dict[str, torch.Tensor]
# name -> (device, dtype) a tensor is converted to as it is read; None keeps the file's
Placement = Callable[[str], tuple[torch.device | None, torch.dtype | None]]

SAFETENSORS_SUFFIXES = frozenset({".safetensors", ".sft"})
TORCH_SUFFIXES = frozenset({".ckpt", ".pt", ".pth", ".bin"})
_SAFETENSORS_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
}
_MAX_HEADER_BYTES = 100 << 20


class UnsafeCheckpointError(ValueError):
    """A torch file that needs full pickle (arbitrary code) to load; it was not loaded."""


class CheckpointFormatError(ValueError):
    """A weight file that is unreadable or has an unsupported format."""


@dataclass(frozen=True)
class Target:
    """Where a tensor goes as it is read: device and dtype (None keeps the file's), and channels-last if 4-D."""

    device: torch.device | None = None
    dtype: torch.dtype | None = None
    channels_last: bool = False

    def dtype_for(self, stored: torch.dtype) -> torch.dtype:
        """The dtype a tensor stored as `stored` gets: integer buffers (ids, markers) keep their type."""
        return stored if self.dtype is None or not stored.is_floating_point else self.dtype

    def memory_format(self, ndim: int) -> torch.memory_format:
        """The layout a tensor of `ndim` dimensions gets."""
        return torch.channels_last if self.channels_last and ndim == 4 else torch.preserve_format


Reader = Callable[[str, Target], torch.Tensor]  # a tensor read and placed at a target


class WeightFile(Mapping[str, torch.Tensor]):
    """The tensors of one weight file by name, each read (and placed) only when asked for."""

    def __init__(
        self,
        path: Path,
        entries: Mapping[str, tuple[torch.dtype, tuple[int, ...]]],
        read: Reader,
        metadata: Mapping[str, str],
        placement: Placement | None = None,
        channels_last: Callable[[str], bool] | None = None,
    ) -> None:
        self.path = path
        self.metadata = dict(metadata)
        self._entries = entries
        self._read = read
        self._placement = placement
        self._channels_last = channels_last

    def __getitem__(self, name: str) -> torch.Tensor:
        if name not in self._entries:
            raise KeyError(name)
        device, dtype = self._placement(name) if self._placement else (None, None)
        return self._read(name, Target(device, dtype, bool(self._channels_last and self._channels_last(name))))

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def shapes(self) -> dict[str, torch.Tensor]:
        """Name -> a storage-less ("meta") tensor of the weight's shape and dtype: enough to recognise a model."""
        return {name: torch.empty(shape, dtype=dtype, device="meta") for name, (dtype, shape) in self._entries.items()}

    def placed(self, placement: Placement, channels_last: Callable[[str], bool] | None = None) -> WeightFile:
        """The same file, each tensor converted to the (device, dtype) `placement` names as it is read, and the
        4-D ones `channels_last` names laid out channels-last (as the module would convert them, without a copy)."""
        return WeightFile(self.path, self._entries, self._read, self.metadata, placement, channels_last)


def _placed(tensor: torch.Tensor, target: Target, copy: bool = False) -> torch.Tensor:
    return tensor.to(
        device=target.device,
        dtype=target.dtype_for(tensor.dtype),
        memory_format=target.memory_format(tensor.ndim),
        copy=copy,
    )


def open_weights(path: str | os.PathLike[str]) -> WeightFile:
    """A lazy view of a .safetensors or (weights-only) .ckpt/.pt/.pth/.bin file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weight file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in SAFETENSORS_SUFFIXES:
        return _open_safetensors(path)
    if suffix in TORCH_SUFFIXES:
        tensors = _tensors_only(load_torch_weights_only(path), path)
        entries = {name: (t.dtype, tuple(t.shape)) for name, t in tensors.items()}
        return WeightFile(path, entries, lambda name, target: _placed(tensors[name], target), {})
    raise CheckpointFormatError(
        f"{path}: unsupported weight file type {suffix!r}; expected one of "
        f"{', '.join(sorted(SAFETENSORS_SUFFIXES | TORCH_SUFFIXES))}"
    )


def load_state_dict(path: str | os.PathLike[str]) -> StateDict:
    """Load a flat name -> tensor dict from .safetensors or (weights-only) .ckpt/.pt/.pth/.bin."""
    weights = open_weights(path)
    return {name: weights[name] for name in weights}


def load_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The string metadata of a safetensors file (empty for other formats)."""
    path = Path(path)
    if path.suffix.lower() not in SAFETENSORS_SUFFIXES:
        return {}
    return _open_safetensors(path).metadata


def _open_safetensors(path: Path) -> WeightFile:
    header, data_start = _safetensors_header(path)
    entries: dict[str, tuple[torch.dtype, tuple[int, ...]]] = {}
    spans: dict[str, tuple[int, int]] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = _SAFETENSORS_DTYPES[info["dtype"]]
            shape = tuple(int(n) for n in info["shape"])
            begin, end = (int(n) for n in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise CheckpointFormatError(f"{path} is not a valid safetensors file: bad entry for {name!r}") from None
        if end - begin != dtype.itemsize * _numel(shape):
            raise CheckpointFormatError(f"{path} is not a valid safetensors file: {name!r} has the wrong byte length")
        entries[name] = (dtype, shape)
        spans[name] = (data_start + begin, end - begin)

    scratch = torch.empty(0, dtype=torch.uint8)

    def read(name: str, target: Target) -> torch.Tensor:
        nonlocal scratch
        dtype, shape = entries[name]
        offset, length = spans[name]
        device = target.device
        converts = (
            target.dtype_for(dtype) != dtype
            or (device is not None and torch.device(device) != torch.device("cpu"))
            or target.memory_format(len(shape)) != torch.preserve_format
        )
        if converts:
            # Read into one reused buffer: a fresh one per tensor, freed after its conversion, would leave the
            # allocator's heap holed between the placed tensors (~10 % more resident memory after a load).
            if scratch.numel() < length:
                scratch = torch.empty(max(span[1] for span in spans.values()), dtype=torch.uint8)
            tensor = scratch[:length].view(dtype).view(shape)
        else:
            tensor = torch.empty(shape, dtype=dtype)
        if length:
            with path.open("rb") as handle:
                handle.seek(offset)
                bytes_view: Any = tensor.reshape(-1).view(torch.uint8).numpy()  # the tensor's own memory
                got = handle.readinto(bytes_view)
            if got != length:
                raise CheckpointFormatError(f"{path} is truncated: {name!r} lacks {length - got} bytes")
        return _placed(tensor, target, copy=True) if converts else tensor  # never the scratch itself

    metadata = header.get("__metadata__") or {}
    return WeightFile(path, entries, read, {str(k): str(v) for k, v in metadata.items()})


def _safetensors_header(path: Path) -> tuple[dict[str, dict], int]:
    """The parsed JSON header of a safetensors file and where its data starts."""
    with path.open("rb") as handle:
        raw_length = handle.read(8)
        length = struct.unpack("<Q", raw_length)[0] if len(raw_length) == 8 else -1
        if not 0 < length <= _MAX_HEADER_BYTES:
            raise CheckpointFormatError(f"{path} is not a valid safetensors file: no header")
        try:
            header = json.loads(handle.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointFormatError(f"{path} is not a valid safetensors file: {exc}") from None
    if not isinstance(header, dict):
        raise CheckpointFormatError(f"{path} is not a valid safetensors file: its header is not an object")
    return header, 8 + length


def _numel(shape: tuple[int, ...]) -> int:
    count = 1
    for size in shape:
        count *= size
    return count


def load_torch_weights_only(path: Path) -> object:
    """A torch file loaded weights-only (tensors and plain containers); a pickle needing code is refused.

    Zip-format files are memory-mapped, so their tensors are read from disk when used."""
    try:
        try:
            return torch.load(path, weights_only=True, map_location="cpu", mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):
                raise
            return torch.load(path, weights_only=True, map_location="cpu")  # the legacy (pre-zip) format
    except pickle.UnpicklingError:
        raise UnsafeCheckpointError(
            f"{path} needs full pickle to load (it contains objects other than tensors, which could "
            "run code), so it was NOT loaded. Convert it to .safetensors with a tool you trust."
        ) from None
    except Exception as exc:
        raise CheckpointFormatError(f"{path} could not be read as a torch weight file: {exc}") from exc


def _tensors_only(obj: object, path: Path) -> StateDict:
    for wrapper in ("state_dict", "params_ema", "params"):  # Lightning, Real-ESRGAN releases
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
            break
    if not isinstance(obj, dict):
        raise CheckpointFormatError(f"{path} holds a {type(obj).__name__}, not a dict of tensors")
    tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointFormatError(f"{path} contains no tensors")
    return tensors
