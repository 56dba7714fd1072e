"""What a LoRA costs on an SD1.5-size UNet: patch and unpatch time, and memory beyond the base model.

Run: .venv/bin/python benchmarks/lora_cost.py [--rank 32] [--repeats 3]

In a fresh process (one thread, HF_HUB_OFFLINE=1), a diffusers UNet2DConditionModel with SD1.5's config
(graphflow/models/configs/sd1/unet) gets random fp32 weights on the CPU. A rank-32 kohya-format LoRA on
every attention projection (to_q, to_k, to_v, to_out.0 of self- and cross-attention) is written to a
.safetensors file, then read, matched and applied with graphflow's `applied()`:

- times: reading + parsing the file, matching it to the UNet (name tables, shape checks), patching
  (entering `applied`: back up the patched weights, add the deltas) and unpatching (copying them back);
  best of --repeats;
- memory: the process's peak RSS while patched, over the RSS with the base model loaded (Linux's
  VmHWM, reset through /proc/self/clear_refs just before patching), against the UNet's own size and
  the size of the weights the LoRA touches: the expected overhead is one backup of those weights,
  not a second copy of the UNet;
- the weights after unpatching hash to the same bytes as before.

`lora_cost(rank, repeats)` returns the figures as a dict, for a combined benchmark to call.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "graphflow" / "models" / "configs" / "sd1" / "unet" / "config.json"
ATTENTION = ("to_q", "to_k", "to_v", "to_out.0")
CHILD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
MIB = 1024 * 1024


def lora_cost(rank: int = 32, repeats: int = 3) -> dict[str, Any]:
    """Run the measurement in a fresh process and return its figures (seconds, MiB and ratios)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--rank", str(rank), "--repeats", str(repeats)]
    env = {**os.environ, **CHILD_ENV, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the measuring process failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _rss_kib() -> int:
    return int(re.search(r"VmRSS:\s+(\d+)", Path("/proc/self/status").read_text())[1])


def _peak_kib() -> int:
    return int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text())[1])


class _PeakWatch:
    """Peak RSS over a block: the kernel's high-water mark after a reset, or polling where a reset is refused."""

    def __enter__(self) -> _PeakWatch:
        self.peak_kib = _rss_kib()
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self._thread = None
        except OSError:
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, _rss_kib())
            time.sleep(0.002)

    def __exit__(self, *_: object) -> None:
        if self._thread is None:
            self.peak_kib = max(self.peak_kib, _peak_kib())
        else:
            self._stop.set()
            self._thread.join()


def _random_unet() -> Any:
    """SD1.5's UNet with N(0, 0.02) weights, allocated once (no initialiser pass over 860M parameters)."""
    import torch
    from diffusers import UNet2DConditionModel

    config = {k: v for k, v in json.loads(CONFIG.read_text()).items() if not k.startswith("_")}
    with torch.device("meta"):
        unet = UNet2DConditionModel(**config)
    unet = unet.to_empty(device="cpu").eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for tensor in [*unet.parameters(), *unet.buffers()]:
            tensor.normal_(0, 0.02, generator=generator) if tensor.is_floating_point() else tensor.zero_()
    return unet


def _write_lora(unet: Any, rank: int, path: Path) -> tuple[int, int]:
    """A kohya-format LoRA on every attention projection; returns (layers, bytes of the weights it patches)."""
    import torch
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(1)
    tensors, patched_bytes = {}, 0
    for name, module in unet.named_modules():
        if isinstance(module, torch.nn.Linear) and name.endswith(ATTENTION):
            stem = "lora_unet_" + name.replace(".", "_")
            tensors[f"{stem}.lora_down.weight"] = torch.randn(rank, module.in_features, generator=generator) * 0.01
            tensors[f"{stem}.lora_up.weight"] = torch.randn(module.out_features, rank, generator=generator) * 0.01
            tensors[f"{stem}.alpha"] = torch.tensor(float(rank))
            patched_bytes += module.weight.numel() * module.weight.element_size()
    save_file(tensors, str(path))
    return len(tensors) // 3, patched_bytes


def _digest(unet: Any) -> str:
    digest = hashlib.sha256()
    for name, tensor in unet.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def _child(rank: int, repeats: int) -> dict[str, Any]:
    import torch

    from graphflow.patches import applied
    from graphflow.patches.lora import match_lora, read_lora

    torch.set_num_threads(1)
    before_model = _rss_kib()
    unet = _random_unet()
    model_rss_mib = (_rss_kib() - before_model) / 1024
    unet_bytes = sum(t.numel() * t.element_size() for t in [*unet.parameters(), *unet.buffers()])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "lora.safetensors"
        layers, patched_bytes = _write_lora(unet, rank, path)
        file_bytes = path.stat().st_size
        digest = _digest(unet)
        times: dict[str, list[float]] = {"read": [], "match": [], "patch": [], "unpatch": []}
        peak_over_base = 0.0
        for _ in range(repeats):
            start = time.perf_counter()
            lora = read_lora(path)
            times["read"].append(time.perf_counter() - start)
            start = time.perf_counter()
            patches = match_lora(lora, unet=unet, strength_model=0.8).unet
            times["match"].append(time.perf_counter() - start)
            base_rss = _rss_kib()
            with _PeakWatch() as watch:
                block = applied(unet, patches)
                start = time.perf_counter()
                block.__enter__()
                times["patch"].append(time.perf_counter() - start)
                start = time.perf_counter()
                block.__exit__(None, None, None)
                times["unpatch"].append(time.perf_counter() - start)
            peak_over_base = max(peak_over_base, (watch.peak_kib - base_rss) * 1024 / MIB)
            del lora, patches
        restored = _digest(unet) == digest
    unet_mib = unet_bytes / MIB
    return {
        "rank": rank,
        "lora_layers": layers,
        "lora_file_mib": file_bytes / MIB,
        "unet_parameters_m": sum(p.numel() for p in unet.parameters()) / 1e6,
        "unet_mib": unet_mib,
        "base_model_rss_mib": model_rss_mib,
        "patched_weights_mib": patched_bytes / MIB,
        "read_s": min(times["read"]),
        "match_s": min(times["match"]),
        "patch_s": min(times["patch"]),
        "unpatch_s": min(times["unpatch"]),
        "peak_rss_over_base_mib": peak_over_base,
        "peak_over_base_per_unet": peak_over_base / unet_mib,
        "peak_over_base_per_patched_weights": peak_over_base / (patched_bytes / MIB),
        "restored_bit_identical": restored,
    }


def _report(figures: dict[str, Any]) -> str:
    f = figures
    return "\n".join(
        [
            f"SD1.5-size UNet: {f['unet_parameters_m']:.0f} M parameters, {f['unet_mib']:.0f} MiB fp32 "
            f"(RSS {f['base_model_rss_mib']:.0f} MiB)",
            f"LoRA: rank {f['rank']} on {f['lora_layers']} attention projections, file {f['lora_file_mib']:.1f} MiB; "
            f"the weights it patches: {f['patched_weights_mib']:.0f} MiB",
            f"read + parse   {f['read_s'] * 1000:8.1f} ms",
            f"match          {f['match_s'] * 1000:8.1f} ms",
            f"patch          {f['patch_s'] * 1000:8.1f} ms",
            f"unpatch        {f['unpatch_s'] * 1000:8.1f} ms",
            f"peak RSS over the base model while patched: {f['peak_rss_over_base_mib']:.0f} MiB = "
            f"{f['peak_over_base_per_unet']:.2f} x the UNet, {f['peak_over_base_per_patched_weights']:.2f} x "
            "the patched weights (one backup of them; no second copy of the UNet)",
            f"weights restored bit for bit: {f['restored_bit_identical']}",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    """Measure and print the figures (the child process prints them as JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.rank, args.repeats)))
        return
    figures = lora_cost(args.rank, args.repeats)
    print(json.dumps(figures, indent=2) if args.json else _report(figures))


if __name__ == "__main__":
    main()
