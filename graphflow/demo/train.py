"""Train the demo model: `python -m graphflow.demo.train --out DIR [--resume] [--minutes N] [--export DEST]`.

A new run takes its settings from `--config FILE` (default: DemoConfig()) and may start from an exported
pipeline (`--init-from DIR`) instead of from scratch; `--device cuda` trains on a GPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import time
from pathlib import Path

import torch
from transformers import CLIPTokenizer

from graphflow.demo.config import DemoConfig, tiny_config
from graphflow.demo.export import CONFIG_FILE, TOKENIZER_DIR, export_pipeline, read_config, save_single_file
from graphflow.demo.grow import start_from_pipeline
from graphflow.demo.latents import cache_latents
from graphflow.demo.runlog import Budget
from graphflow.demo.tokenizer import build_tokenizer
from graphflow.demo.train_denoiser import train_denoiser
from graphflow.demo.train_vae import train_vae
from graphflow.demo.world import VOCABULARY
from graphflow.models.device import pick_device

PIPELINE_DIR = "pipeline"
SINGLE_FILE = "pipeline.safetensors"


def prepare(out: Path, resume: bool, config: DemoConfig | None, init_from: Path | None = None) -> DemoConfig:
    """Start a run folder (config + tokenizer, or a pipeline's weights) or reopen one; refuses to mix them up."""
    started = (out / CONFIG_FILE).exists()
    if started and not resume:
        raise SystemExit(f"{out} already holds a training run: pass --resume to continue it, or pick another --out")
    if not started and resume:
        raise SystemExit(f"{out} holds no training run to resume: leave out --resume to start one")
    if started:
        if config is not None or init_from is not None:
            raise SystemExit(f"{out} is an existing run: --config and --init-from only apply to new runs")
        return read_config(out)
    config = config or DemoConfig()
    out.mkdir(parents=True, exist_ok=True)
    build_tokenizer(VOCABULARY).save_pretrained(out / TOKENIZER_DIR)
    if init_from is not None:
        start_from_pipeline(out, config, init_from)
    (out / CONFIG_FILE).write_text(config.to_json())  # last: its presence marks a started run
    return config


def run(
    out: Path,
    config: DemoConfig,
    minutes: float | None = None,
    spacing: str = "trailing",
    device: torch.device | str = "cpu",
) -> bool:
    """Run (or continue) every stage; True when finished and exported to out/pipeline (+ .safetensors)."""
    budget = Budget(minutes, config.checkpoint_minutes)
    previous = signal.signal(signal.SIGTERM, budget.stop)  # `kill PID` saves a checkpoint before exiting
    begun = time.monotonic()
    try:
        if not train_vae(out, config, budget, device):
            return False
        cache = cache_latents(out, config, device)
        tokenizer = CLIPTokenizer.from_pretrained(out / TOKENIZER_DIR, local_files_only=True)
        if not train_denoiser(out, config, tokenizer, cache, budget, device):
            return False
    finally:
        signal.signal(signal.SIGTERM, previous)
    save_single_file(export_pipeline(out, out / PIPELINE_DIR, config, spacing), out / SINGLE_FILE)
    print(
        f"[done] pipeline saved to {out / PIPELINE_DIR} and {out / SINGLE_FILE} "
        f"({(time.monotonic() - begun) / 60:.1f} min)",
        flush=True,
    )
    return True


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description="Train graphflow's built-in demo model on the shapes world.")
    parser.add_argument("--out", type=Path, required=True, help="run folder: checkpoints, caches, final pipeline")
    parser.add_argument("--resume", action="store_true", help="continue the run already in --out")
    parser.add_argument("--minutes", type=float, help="stop (resumably) after this many minutes")
    parser.add_argument("--steps", type=int, help="with --resume: change the denoiser's total step count")
    parser.add_argument(
        "--export",
        type=Path,
        metavar="DEST",
        help="only write the current EMA weights to DEST (a folder, or a single .safetensors file)",
    )
    parser.add_argument("--spacing", default="trailing", help="Euler timestep spacing saved with the pipeline")
    parser.add_argument("--tiny", action="store_true", help="seconds-long configuration (for testing)")
    parser.add_argument("--config", type=Path, metavar="FILE", help="new runs: settings (a demo_config.json)")
    parser.add_argument("--init-from", type=Path, metavar="DIR", help="new runs: start from this exported pipeline")
    parser.add_argument("--device", default="auto", help="auto (a CUDA GPU when present), cpu or cuda")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the CPU is shared)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    if args.export:
        export_pipeline(args.out, args.export, read_config(args.out), args.spacing)
        print(f"exported {args.out} -> {args.export}")
        return 0
    device, _ = pick_device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = True  # GPU matmuls in TF32, as cuDNN's convolutions already are
    config = tiny_config() if args.tiny else DemoConfig.load(args.config) if args.config else None
    config = prepare(args.out, args.resume or args.steps is not None, config, args.init_from)
    if args.steps is not None:
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, steps=args.steps))
        (args.out / CONFIG_FILE).write_text(config.to_json())
    if not run(args.out, config, args.minutes, args.spacing, device):
        print(f"[stopped] checkpoint saved; continue with: python -m graphflow.demo.train --out {args.out} --resume")
    return 0


if __name__ == "__main__":
    sys.exit(main())
