"""Run folders, settings files and command lines shared by the add-on trainers (LoRA, embedding, ControlNet).

A run folder holds `addon_config.json` (written when the run starts: its presence marks a started run),
the trainer's checkpoint and any data cache. Every trainer takes the same options:
`--out DIR [--resume] [--steps N] [--minutes M] [--export DEST] [--tiny] [--config FILE] [--base DIR] [--threads T]`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import torch

from graphflow.demo import DEMO_MODEL_DIR
from graphflow.demo.runlog import Budget

CONFIG_FILE = "addon_config.json"


class AddonSettings(Protocol):
    """What every add-on's settings dataclass provides, beyond the trainer's step settings."""

    base: str
    steps: int
    checkpoint_minutes: float


Settings = TypeVar("Settings", bound=AddonSettings)


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The options every add-on trainer takes."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--out", type=Path, required=True, help="run folder: settings, data cache, checkpoint")
    p.add_argument("--resume", action="store_true", help="continue the run already in --out")
    p.add_argument("--steps", type=int, help="total optimisation steps (a new run, or change a resumed one)")
    p.add_argument("--minutes", type=float, help="stop (resumably) after this many minutes")
    p.add_argument("--export", type=Path, metavar="DEST", help="only write the current EMA weights to DEST")
    p.add_argument("--tiny", action="store_true", help="seconds-long settings (for tests)")
    p.add_argument(
        "--config", type=Path, metavar="FILE", help="new runs: settings (JSON; fields left out keep defaults)"
    )
    p.add_argument("--base", type=Path, help=f"new runs: the demo pipeline folder to train against ({DEMO_MODEL_DIR})")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the CPU is shared)")
    return p


def start(args: argparse.Namespace) -> None:
    """Process settings every trainer applies first: offline hub, torch threads."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)


def load_settings(cls: type[Settings], out: Path) -> Settings:
    """The settings a run folder was started with."""
    path = out / CONFIG_FILE
    if not path.exists():
        raise SystemExit(f"{out} holds no add-on training run ({CONFIG_FILE} is missing)")
    return read_settings(cls, path)


def read_settings(cls: type[Settings], path: Path) -> Settings:
    """Settings from a JSON file (lists become tuples); unknown fields are an error naming them."""
    data: dict[str, Any] = json.loads(path.read_text())
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise SystemExit(f"{path}: unknown settings {', '.join(unknown)} (known: {', '.join(sorted(names))})")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def save_settings(settings: AddonSettings, out: Path) -> None:
    """Write the settings as the run folder's addon_config.json."""
    out.mkdir(parents=True, exist_ok=True)
    (out / CONFIG_FILE).write_text(json.dumps(dataclasses.asdict(settings), indent=2))  # type: ignore[call-overload]


def open_run(args: argparse.Namespace, cls: type[Settings], tiny: Settings) -> Settings:
    """Start a run folder from the arguments, or reopen one with --resume; refuses to mix the two up."""
    out: Path = args.out
    started = (out / CONFIG_FILE).exists()
    if started and not args.resume:
        raise SystemExit(f"{out} already holds a training run: pass --resume to continue it, or pick another --out")
    if not started and args.resume:
        raise SystemExit(f"{out} holds no training run to resume: leave out --resume to start one")
    if started:
        if args.tiny or args.base or args.config:
            raise SystemExit(f"{out} is an existing run: --tiny, --config and --base only apply to new runs")
        settings = load_settings(cls, out)
    else:
        settings = tiny if args.tiny else read_settings(cls, args.config) if args.config else cls()
        if args.base:
            settings = dataclasses.replace(settings, base=str(args.base))  # type: ignore[type-var]
        if not (Path(settings.base) / "model_index.json").is_file():
            raise SystemExit(f"--base {settings.base}: not a diffusers pipeline folder (no model_index.json)")
    if args.steps is not None:
        settings = dataclasses.replace(settings, steps=args.steps)  # type: ignore[type-var]
    save_settings(settings, out)
    return settings


@contextmanager
def budget_for(minutes: float | None, checkpoint_minutes: float) -> Iterator[Budget]:
    """A wall-clock budget; `kill PID` (SIGTERM) makes the trainer save a checkpoint and return."""
    budget = Budget(minutes, checkpoint_minutes)
    previous = signal.signal(signal.SIGTERM, budget.stop)
    try:
        yield budget
    finally:
        signal.signal(signal.SIGTERM, previous)


def report(done: bool, prog: str, out: Path, dest: Path) -> None:
    """The line a trainer prints when it returns: where the weights went, or how to continue."""
    if done:
        print(f"[done] exported to {dest}", flush=True)
    else:
        print(f"[stopped] checkpoint saved; continue with: python -m {prog} --out {out} --resume", flush=True)
