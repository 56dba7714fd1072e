"""Plumbing shared by the training stages: deadlines, progress lines, atomic checkpoint files."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import torch


class Budget:
    """A wall-clock allowance for one invocation (None = unlimited) and a checkpoint rhythm."""

    def __init__(self, minutes: float | None, checkpoint_minutes: float) -> None:
        self.deadline = None if minutes is None else time.monotonic() + 60.0 * minutes
        self.every = 60.0 * checkpoint_minutes
        self.last_save = time.monotonic()
        self.stopped = False

    def stop(self, *_: object) -> None:
        """Ask the stages to save and return at the next step (usable as a signal handler)."""
        self.stopped = True

    def expired(self) -> bool:
        """Whether the allowance is used up or a stop was asked for."""
        return self.stopped or (self.deadline is not None and time.monotonic() >= self.deadline)

    def checkpoint_due(self) -> bool:
        """Whether a checkpoint should be written now (resets the timer when it says yes)."""
        if time.monotonic() - self.last_save < self.every:
            return False
        self.last_save = time.monotonic()
        return True


class Progress:
    """Prints one line every few seconds: step, speed, smoothed loss and time left."""

    def __init__(self, stage: str, total: int, start: int, batch: int, every_s: float = 30.0) -> None:
        self.stage, self.total, self.batch, self.every_s = stage, total, batch, every_s
        self.start_step, self.start_time, self.last = start, time.monotonic(), time.monotonic()
        self.loss = math.nan
        self.extra = ""

    def update(self, step: int, loss: float, extra: str = "") -> None:
        """Record a finished step (1-based count) and print when due or at the end."""
        self.loss = loss if math.isnan(self.loss) else 0.98 * self.loss + 0.02 * loss
        self.extra = extra or self.extra
        now = time.monotonic()
        if now - self.last < self.every_s and step < self.total:
            return
        self.last = now
        rate = (step - self.start_step) / max(now - self.start_time, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else math.inf
        eta_text = f"{eta / 60:.1f} min" if math.isfinite(eta) else "?"
        print(
            f"[{self.stage}] step {step}/{self.total}  {rate:.2f} steps/s ({rate * self.batch:.0f} samples/s)"
            f"  loss {self.loss:.4f}{self.extra}  ETA {eta_text}",
            flush=True,
        )


def save_atomic(state: dict[str, Any], path: Path) -> None:
    """torch.save to a temporary name, then rename, so a killed run never leaves half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def lr_factor(step: int, warmup: int, total: int, final: float) -> float:
    """Linear warm-up, then cosine decay from 1 to `final` at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(total - warmup, 1))
    return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * progress))
