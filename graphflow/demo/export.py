"""Stage 4: write the EMA weights as a standard diffusers StableDiffusionPipeline folder or as one file.

Command line: `python -m graphflow.demo.export DEST [--source DIR]` writes DEST, a single-file checkpoint
(.safetensors, in the original SD layout, carrying its configs and tokenizer in its metadata) from an
exported pipeline folder (default: the shipped shapes-demo model), or a file or a diffusers folder from a
training run folder (`python -m graphflow.demo.train --out DIR`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from diffusers import StableDiffusionPipeline
from safetensors.torch import save_file
from transformers import CLIPTokenizer

from graphflow.demo.config import DemoConfig
from graphflow.demo.latents import trained_vae
from graphflow.demo.models import build_scheduler
from graphflow.demo.train_denoiser import build_denoiser, load_checkpoint
from graphflow.models.convert import ldm_checkpoint
from graphflow.models.embedded import embed

TOKENIZER_DIR = "tokenizer"
TRAINING_NOTES = "TRAINING.md"
CONFIG_FILE = "demo_config.json"


def export_pipeline(out: Path, dest: Path, config: DemoConfig, spacing: str = "trailing") -> StableDiffusionPipeline:
    """Assemble VAE, EMA UNet/text encoder, tokenizer and Euler scheduler from a run folder and save them to
    dest: a diffusers folder, or one self-describing single-file checkpoint when dest ends in .safetensors."""
    state = load_checkpoint(out)
    if state is None:
        raise FileNotFoundError(f"{out}: no denoiser checkpoint yet; train first (python -m graphflow.demo.train)")
    cache = torch.load(out / "latents.pt", weights_only=True)
    tokenizer = CLIPTokenizer.from_pretrained(out / TOKENIZER_DIR, local_files_only=True)
    model = build_denoiser(config, tokenizer)
    model.load_state_dict(state["ema"])
    pipe = StableDiffusionPipeline(
        vae=trained_vae(out, config, float(cache["scaling_factor"])),
        text_encoder=model.text_encoder.eval(),
        tokenizer=tokenizer,
        unet=model.unet.eval(),
        scheduler=build_scheduler(spacing),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    if dest.suffix == ".safetensors":
        save_single_file(pipe, dest)
        return pipe
    if dest.exists():
        shutil.rmtree(dest)
    pipe.save_pretrained(dest)
    (dest / CONFIG_FILE).write_text(config.to_json())
    write_notes(dest, config, int(state["step"]), float(state["seconds"]))
    return pipe


def save_single_file(pipe: StableDiffusionPipeline, dest: Path) -> None:
    """One original-layout .safetensors file (as SD 1.x files are) carrying its configs and tokenizer."""
    v_prediction = pipe.scheduler.config.get("prediction_type", "v_prediction") == "v_prediction"
    weights = ldm_checkpoint("sd1", pipe.unet, pipe.vae, {"clip_l": pipe.text_encoder}, v_prediction=v_prediction)
    configs = {
        "unet": _public(pipe.unet.config),
        "vae": _public(pipe.vae.config),
        "text": {"clip_l": json.loads(pipe.text_encoder.config.to_json_string())},
        "scheduler": _public(pipe.scheduler.config),
    }
    dest.parent.mkdir(parents=True, exist_ok=True)
    prediction = "v" if v_prediction else "epsilon"
    save_file(weights, str(dest), metadata={"modelspec.prediction_type": prediction, **embed(configs, pipe.tokenizer)})


def _public(config: Mapping[str, Any]) -> dict[str, Any]:
    """A diffusers config without its bookkeeping keys (_class_name, _diffusers_version, ...)."""
    return {k: v for k, v in config.items() if not k.startswith("_")}


def write_notes(dest: Path, config: DemoConfig, steps: int, seconds: float) -> None:
    """TRAINING.md: how these weights were made (scores are appended by the evaluation)."""
    (dest / TRAINING_NOTES).write_text(
        "# graphflow demo model\n\n"
        "A small text-to-image latent diffusion model trained on the procedural shapes world\n"
        "(`graphflow/demo/world.py`): 64x64 images, one or two shapes, captions such as\n"
        '"a small red circle on the left and a large blue square on the right".\n\n'
        "Reproduce (training runs on a CUDA GPU when one is present):\n\n"
        "```\n"
        "python -m graphflow.demo.train --out .demo-train          # resumable: add --resume [--minutes N]\n"
        "python -m graphflow.demo.train --out .demo-train --export graphflow/demo/weights/shapes-demo\n"
        "python -m graphflow.demo.export shapes-demo.safetensors   # the same as one self-describing file\n"
        "python -m graphflow.demo.evaluate --model graphflow/demo/weights/shapes-demo\n"
        "```\n\n"
        f"Seed {config.seed}; denoiser steps trained: {steps} of {config.train.steps}; "
        f"denoiser training time: {seconds / 60:.0f} min.\n"
        f"Full configuration: `{CONFIG_FILE}`. Prediction type: v_prediction; weights: EMA.\n"
    )


def read_config(out: Path) -> DemoConfig:
    """The config a run folder was started with."""
    path = out / CONFIG_FILE
    if not path.exists():
        raise FileNotFoundError(f"{out}: no {CONFIG_FILE}; is this a demo training folder?")
    return DemoConfig.load(path)


def load_pipeline_folder(folder: Path) -> StableDiffusionPipeline:
    """An exported demo pipeline folder (model_index.json naming a StableDiffusionPipeline), loaded offline."""
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        raise FileNotFoundError(f"{folder}: no model_index.json; give an exported pipeline folder or a training run")
    kind = json.loads(index_path.read_text()).get("_class_name")
    if kind != "StableDiffusionPipeline":
        raise ValueError(f"{folder}: a {kind} folder; only text-to-image StableDiffusionPipeline folders are exported")
    unet_config = folder / "unet" / "config.json"
    if unet_config.is_file() and json.loads(unet_config.read_text()).get("num_class_embeds"):
        raise ValueError(
            f"{folder}: its UNet is class-conditional, which the original single-file layout cannot hold; "
            "load the folder itself"
        )
    return StableDiffusionPipeline.from_pretrained(
        folder, local_files_only=True, safety_checker=None, feature_extractor=None, requires_safety_checker=False
    )


def export(source: Path, dest: Path, spacing: str = "trailing") -> None:
    """Write `dest` (a .safetensors file, or a diffusers folder from a run) from a pipeline or run folder."""
    single = dest.suffix == ".safetensors"
    if (source / "model_index.json").is_file():
        if not single:
            raise ValueError(f"{source} already is a diffusers folder; give DEST as a .safetensors file")
        save_single_file(load_pipeline_folder(source), dest)
    elif (source / CONFIG_FILE).is_file():
        export_pipeline(source, dest, read_config(source), spacing)
    else:
        raise FileNotFoundError(
            f"{source}: neither an exported pipeline folder (model_index.json) nor a training run ({CONFIG_FILE})"
        )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    from graphflow.demo import DEMO_MODEL_DIR

    parser = argparse.ArgumentParser(
        prog="python -m graphflow.demo.export",
        description="Write the demo model as one self-describing .safetensors checkpoint (or a run as a folder).",
    )
    parser.add_argument("dest", type=Path, help="a .safetensors file; from a training run also a diffusers folder")
    parser.add_argument(
        "--source",
        type=Path,
        default=DEMO_MODEL_DIR,
        metavar="DIR",
        help="an exported pipeline folder or a training run folder (default: the shipped shapes-demo model)",
    )
    parser.add_argument("--spacing", default="trailing", help="from a run: Euler timestep spacing saved with it")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        export(args.source, args.dest, args.spacing)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"exported {args.source} -> {args.dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
