"""Peak memory of loading a Flux-size transformer stored in bf16, over the file's size (target <= 1.1).

Builds a random transformer in Flux's original layout at Flux's real widths (3072 wide, 24 heads, T5 width 4096)
with as many blocks as the free memory allows (double and single blocks 1:2, as Flux's 19:38), written tensor by
tensor so building never holds the model; then loads it in a fresh process through graphflow's loader and
prints the peak resident memory the load added (VmHWM minus the resident size after imports) over the file
size, and the load time.

    python benchmarks/flow_memory.py [--gib N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GIB = 1 << 30
FLUX_DOUBLE_TO_SINGLE = 2  # single blocks per double block


def _shapes(double: int, single: int) -> dict[str, tuple[int, ...]]:
    """Original-layout names and shapes of a Flux dev transformer with `double` and `single` blocks."""
    from accelerate import init_empty_weights
    from diffusers import FluxTransformer2DModel

    from graphflow.models.flow_convert import to_original

    with init_empty_weights():
        model = FluxTransformer2DModel(num_layers=double, num_single_layers=single, guidance_embeds=True)
    return {name: tuple(t.shape) for name, t in to_original("flux", model.state_dict()).items()}


def _bytes(shapes: dict[str, tuple[int, ...]]) -> int:
    total = 0
    for shape in shapes.values():
        count = 1
        for size in shape:
            count *= size
        total += 2 * count
    return total


def write_random_bf16(path: Path, shapes: dict[str, tuple[int, ...]]) -> int:
    """A safetensors file of random bf16 tensors, written one tensor at a time; returns its size."""
    import torch

    header: dict[str, object] = {}
    offset = 0
    for name, shape in shapes.items():
        size = 2 * int(torch.Size(shape).numel())
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    generator = torch.Generator().manual_seed(0)
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", len(raw)) + raw)
        for shape in shapes.values():
            tensor = (torch.randn(shape, generator=generator) * 0.02).to(torch.bfloat16)
            handle.write(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return path.stat().st_size


def _status(field: str) -> int:
    """A /proc/self/status memory field in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def load_and_measure(path: Path) -> dict[str, float]:
    """Load `path` through graphflow (run in a fresh process): resident bytes before, peak, and seconds."""
    from graphflow.models.flow_loader import load_flow_transformer

    before = _status("VmRSS")
    start = time.perf_counter()
    model = load_flow_transformer(path, device="cpu")
    seconds = time.perf_counter() - start
    params = sum(p.numel() for p in model.unet.parameters())
    return {"before": before, "peak": _status("VmHWM"), "after": _status("VmRSS"), "seconds": seconds, "params": params}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=float, help="file size to aim for (default: a third of the free memory)")
    parser.add_argument("--keep", type=Path, help="write the file into this folder and keep it")
    parser.add_argument("--load", type=Path, help=argparse.SUPPRESS)  # the measuring child process
    args = parser.parse_args()
    if args.load:
        print(json.dumps(load_and_measure(args.load)))
        return
    available = _meminfo("MemAvailable")
    target = args.gib * GIB if args.gib else available / 3
    one = _bytes(_shapes(1, FLUX_DOUBLE_TO_SINGLE))
    unit = _bytes(_shapes(2, 2 * FLUX_DOUBLE_TO_SINGLE)) - one  # one double and its single blocks
    units = max(1, min(19, 1 + int((target - one) // unit)))
    shapes = _shapes(units, FLUX_DOUBLE_TO_SINGLE * units)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="flow-memory-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "flux-random-bf16.safetensors"
    start = time.perf_counter()
    size = write_random_bf16(path, shapes)
    written = time.perf_counter() - start
    child = subprocess.run(
        [sys.executable, __file__, "--load", str(path)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    result = json.loads(child.stdout.strip().splitlines()[-1])
    added = result["peak"] - result["before"]
    print(f"free memory at start   {available / GIB:.1f} GiB")
    print(
        f"transformer            {units} double + {FLUX_DOUBLE_TO_SINGLE * units} single blocks at Flux's widths, "
        f"{result['params'] / 1e9:.2f} B parameters (Flux: 19 + 38, 11.9 B)"
    )
    print(f"file (bf16)            {size / GIB:.2f} GiB, written in {written:.0f} s")
    print(f"load time              {result['seconds']:.1f} s")
    print(f"resident after imports {result['before'] / GIB:.2f} GiB")
    print(f"peak added by the load {added / GIB:.2f} GiB = {added / size:.3f}x the file (target <= 1.1)")
    print(f"kept after the load    {(result['after'] - result['before']) / GIB:.2f} GiB")
    if not args.keep:
        path.unlink()
        folder.rmdir()


def _meminfo(field: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/meminfo")


if __name__ == "__main__":
    main()
