"""Tiny models built once per test session and saved in both layouts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from graphflow.models.tiny import TinyModels, build_tiny, save_tiny_checkpoint, save_tiny_diffusers


@dataclass
class SavedTiny:
    """A tiny model with its single-file checkpoint and its diffusers folder."""

    models: TinyModels
    checkpoint: Path
    folder: Path


@pytest.fixture(scope="session")
def saved_tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SavedTiny]:
    """sd1, sd2 (v-prediction) and sdxl tiny models, each saved as .safetensors and as a diffusers folder."""
    root = tmp_path_factory.mktemp("tiny-models")
    saved = {}
    for family in ("sd1", "sd2", "sdxl"):
        models = build_tiny(family, seed=0)
        saved[family] = SavedTiny(
            models,
            save_tiny_checkpoint(models, root / f"{family}.safetensors"),
            save_tiny_diffusers(models, root / family),
        )
    return saved
