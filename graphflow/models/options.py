"""The command-line options for where models are read from and how they run, shared by `run` and `serve`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from graphflow.settings import PRECISIONS, Settings


def add_model_folder_arguments(parser: argparse.ArgumentParser) -> None:
    """--extra-model-paths: more places to read models from."""
    parser.add_argument(
        "--extra-model-paths",
        action="append",
        type=_model_source,
        metavar="PATH",
        help="also read models from a ComfyUI extra_model_paths.yaml, an AUTOMATIC1111 or ComfyUI installation "
        "or another models folder (repeatable; default: GRAPHFLOW_EXTRA_MODEL_PATHS, separated by "
        "the system's path separator)",
    )


def add_model_speed_arguments(parser: argparse.ArgumentParser) -> None:
    """--precision, --compile and --vram-budget."""
    from graphflow.server.cli import parse_size

    group = parser.add_argument_group("model speed and memory", "see docs/models.md")
    group.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="dtype of the U-Net and VAE: auto (on the CPU fp32, with a bf16 VAE where the CPU has bf16 units; "
        "fp16 on a GPU, fp32 for a VAE that needs it), fp32, bf16 or fp16 (default: GRAPHFLOW_PRECISION or auto)",
    )
    group.add_argument(
        "--compile",
        action="store_true",
        help="run the U-Net through torch.compile: slow first prompt, faster after (kernels are kept between runs)",
    )
    group.add_argument(
        "--vram-budget",
        type=parse_size,
        metavar="SIZE",
        help="low-VRAM mode: keep the U-Net in CPU memory and at most SIZE of it (e.g. 2G) on the GPU at once",
    )


def model_settings(args: argparse.Namespace, compile_cache_dir: Path | None = None) -> dict[str, Any]:
    """The Settings keywords the model options in `args` give (None where an option was not given)."""
    extra = getattr(args, "extra_model_paths", None)
    return {
        "extra_model_paths": tuple(extra) if extra else None,
        "precision": getattr(args, "precision", None),
        "compile_unet": getattr(args, "compile", False) or None,
        "vram_budget_bytes": getattr(args, "vram_budget", None),
        "compile_cache_dir": compile_cache_dir,
    }


def _model_source(text: str) -> Path:
    from graphflow.models.extra_paths import ExtraModelPathsError, check_source

    try:
        check_source(Path(text))
    except ExtraModelPathsError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return Path(text)


def load_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of `graphflow.models.loader.load_checkpoint` that `settings` ask for."""
    from graphflow.models.speed import Speed

    speed = Speed(
        compile=settings.compile_unet,
        vram_budget_bytes=settings.vram_budget_bytes,
        compile_cache_dir=settings.compile_cache_dir,
    )
    return {"precision": settings.precision, "speed": speed}
