"""Process-wide folders and device preference, kept in environment variables so child processes inherit them.

The CLI and the server set them once at start-up; node choice lists (model files, input images)
read them whenever the editor or the validator asks.
"""

from __future__ import annotations

import os
from pathlib import Path

MODELS_ENV = "GRAPHFLOW_MODELS_DIR"
INPUT_ENV = "GRAPHFLOW_INPUT_DIR"
DEVICE_ENV = "GRAPHFLOW_DEVICE"


def configure(*, models_dir: str | Path | None = None, input_dir: str | Path | None = None,
              device: str | None = None) -> None:
    """Set the models root, the input-image folder and the device preference for this process."""
    for name, value in ((MODELS_ENV, models_dir), (INPUT_ENV, input_dir), (DEVICE_ENV, device)):
        if value is not None:
            os.environ[name] = str(value)


def input_dir() -> Path:
    """Where input images are read from and uploaded to (default ./input)."""
    return Path(os.environ.get(INPUT_ENV) or "input")


def device_preference() -> str:
    """'auto', 'cpu', 'cuda' or 'mps' (default auto: CUDA or MPS when present, else CPU)."""
    return os.environ.get(DEVICE_ENV) or "auto"
