"""Train the demo flow model: a small SD3-layout transformer, rectified flow, on the demo VAE's latents.

`python -m graphflow.demo.train_flow --out DIR [--resume] [--minutes N] [--export DEST]`. The shipped demo
model (`--base`) lends its VAE (whose latents are cached once, as the UNet stages cache them), its frozen
text encoder and its tokenizer: context = the CLIP's last hidden state, pooled = its pooler output.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel
from transformers import CLIPTextModel, CLIPTokenizer

from graphflow.demo import DEMO_MODEL_DIR
from graphflow.demo.config import DemoConfig, DenoiserTraining
from graphflow.demo.export import CONFIG_FILE, TOKENIZER_DIR
from graphflow.demo.latents import cache_latents
from graphflow.demo.runlog import Budget, save_atomic
from graphflow.demo.train_denoiser import CaptionIds, draw_indices, split_by_count
from graphflow.demo.train_vae import CHECKPOINT as VAE_CHECKPOINT
from graphflow.demo.trainer import Trainer, flow_matching_loss
from graphflow.demo.world import dataset, random_caption

CHECKPOINT = "flow.pt"
FLOW_CONFIG = "flow_config.json"
MODEL_CLASS = "GraphflowFlowDemo"
TIMESTEP_MULTIPLIER = 1000.0  # the model is called with sigma * 1000, as SD3 is


@dataclass(frozen=True)
class TransformerConfig:
    """SD3Transformer2DModel shape; the width is heads * head_dim."""

    layers: int = 4
    heads: int = 4
    head_dim: int = 32
    patch_size: int = 2


@dataclass(frozen=True)
class FlowConfig:
    """Everything that decides the flow model's weights, apart from wall-clock limits."""

    base: str = str(DEMO_MODEL_DIR)
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    train: DenoiserTraining = field(default_factory=lambda: DenoiserTraining(steps=2800, batch=64, warmup=100))
    # Training sigmas: sigmoid of a normal(logit_mean, logit_std) draw (SD3's logit-normal), then SD3's shift.
    logit_mean: float = 0.0
    logit_std: float = 1.0
    train_shift: float = 1.0
    # The sampling shift saved in the scheduler config (picked by measurement, see TRAINING.md).
    shift: float = 0.5
    images: int | None = None  # dataset size; None: the base model's
    checkpoint_minutes: float = 5.0

    def to_json(self) -> str:
        """The config as indented JSON."""
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def load(cls, path: Path) -> FlowConfig:
        """Read a flow_config.json written by a training run."""
        try:
            data = json.loads(path.read_text())
            parts = {"transformer": TransformerConfig, "train": DenoiserTraining}
            return cls(**{k: parts[k](**v) if k in parts else v for k, v in data.items()})
        except (OSError, ValueError, TypeError) as error:
            raise ValueError(f"{path}: not a readable flow training config ({error})") from error


def tiny_flow_config(base: Path) -> FlowConfig:
    """A seconds-long configuration (for tests): one narrow layer, a few steps."""
    return FlowConfig(
        base=str(base),
        transformer=TransformerConfig(layers=1, heads=2, head_dim=8),
        train=DenoiserTraining(steps=12, batch=8, warmup=1, lr=3e-3),
        images=64,
    )


def base_config(config: FlowConfig) -> DemoConfig:
    """The base demo model's own training config (seed, VAE shape), with this run's dataset size."""
    base = DemoConfig.load(Path(config.base) / CONFIG_FILE)
    return base if config.images is None else dataclasses.replace(base, images=config.images)


def build_transformer(config: FlowConfig, latent_channels: int, latent_size: int, text_width: int) -> Any:
    """A fresh SD3-layout transformer conditioned on the demo CLIP (context and pooled both `text_width` wide)."""
    t = config.transformer
    return SD3Transformer2DModel(
        sample_size=latent_size,
        patch_size=t.patch_size,
        in_channels=latent_channels,
        out_channels=latent_channels,
        num_layers=t.layers,
        attention_head_dim=t.head_dim,
        num_attention_heads=t.heads,
        joint_attention_dim=text_width,
        caption_projection_dim=t.heads * t.head_dim,
        pooled_projection_dim=text_width,
        pos_embed_max_size=latent_size // t.patch_size * 2,
    )


class TextConditioner:
    """The base model's frozen CLIP: captions -> (context [B, 77, W], pooled [B, W])."""

    def __init__(self, base: Path, device: torch.device | str = "cpu") -> None:
        self.tokenizer = CLIPTokenizer.from_pretrained(base / TOKENIZER_DIR, local_files_only=True)
        self.encoder = CLIPTextModel.from_pretrained(base / "text_encoder", local_files_only=True).to(device).eval()
        self.encoder.requires_grad_(False)
        self.ids = CaptionIds(self.tokenizer)
        self.device = device

    @property
    def width(self) -> int:
        """Width of the context tokens and of the pooled vector."""
        return int(self.encoder.config.hidden_size)

    @torch.no_grad()
    def __call__(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Last hidden state (after the final norm) and pooler output of each caption."""
        output = self.encoder(self.ids(captions).to(self.device))
        return output.last_hidden_state, output.pooler_output


def prepare(out: Path, resume: bool, config: FlowConfig | None) -> FlowConfig:
    """Start a run folder (config + the base VAE as a finished stage 1) or reopen one."""
    started = (out / FLOW_CONFIG).exists()
    if started != resume:
        raise SystemExit(
            f"{out} already holds a flow run: pass --resume" if started else f"{out} holds no flow run to resume"
        )
    if started:
        if config is not None:
            raise SystemExit(f"{out} is an existing run: --tiny only applies to new runs")
        return FlowConfig.load(out / FLOW_CONFIG)
    config = config or FlowConfig()
    out.mkdir(parents=True, exist_ok=True)
    vae = AutoencoderKL.from_pretrained(Path(config.base) / "vae", local_files_only=True)
    save_atomic({"model": vae.state_dict(), "step": base_config(config).vae.steps}, out / VAE_CHECKPOINT)
    (out / FLOW_CONFIG).write_text(config.to_json())  # last: its presence marks a started run
    return config


def build_run_model(config: FlowConfig, text: TextConditioner) -> Any:
    """The run's transformer, seeded by the base config's seed."""
    base = base_config(config)
    torch.manual_seed(base.seed)
    return build_transformer(config, base.vae.latent_channels, base.latent_size, text.width)


def train_flow(out: Path, config: FlowConfig, budget: Budget, device: torch.device | str = "cpu") -> bool:
    """Train (or continue) the transformer; True when all steps are done, False when the budget ran out."""
    base = base_config(config)
    cache = cache_latents(out, base, device)
    text = TextConditioner(Path(config.base), device)
    model = build_run_model(config, text)
    settings = config.train
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    trainer = Trainer(model, optimizer, out / CHECKPOINT, settings, "flow", device)
    scenes = dataset(base.images, base.seed, base.image_size).scenes()
    groups = split_by_count(scenes) if settings.pair_fraction is not None else None
    # The VAE's own scaling factor, the one a loader applies at sampling time.
    scaling = float(AutoencoderKL.load_config(Path(config.base) / "vae")["scaling_factor"])
    mean = cache["mean"]

    def batch_loss(step: int) -> torch.Tensor:
        rng = np.random.default_rng([base.seed, 3, step])
        indices = draw_indices(rng, base.images, settings.batch, groups, settings.pair_fraction or 0.0)
        captions = [
            "" if rng.random() < settings.caption_dropout else random_caption(scenes[int(i)], rng) for i in indices
        ]
        generator = torch.Generator().manual_seed(base.seed * 1_000_003 + step)
        latents = (mean[torch.from_numpy(indices)].float() * scaling).to(device)
        context, pooled = text(captions)

        def predict(noisy: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            return model(noisy, context, pooled, sigma * TIMESTEP_MULTIPLIER).sample

        return flow_matching_loss(predict, latents, generator, config.train_shift, config.logit_mean, config.logit_std)

    return trainer.run(batch_loss, budget)


def export_flow(out: Path, dest: Path, shift: float | None = None) -> Path:
    """Write the run's EMA transformer with the base's VAE, text encoder and tokenizer as a diffusers folder."""
    config = FlowConfig.load(out / FLOW_CONFIG)
    if shift is not None:
        config = dataclasses.replace(config, shift=shift)
    path = out / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(f"{out}: no {CHECKPOINT} yet; train first (python -m graphflow.demo.train_flow)")
    state = torch.load(path, weights_only=True, map_location="cpu")
    base = Path(config.base)
    model = build_run_model(config, TextConditioner(base))
    model.load_state_dict(state["ema"])
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    model.save_pretrained(dest / "transformer")
    for part in ("vae", "text_encoder", TOKENIZER_DIR):
        shutil.copytree(base / part, dest / part)
    FlowMatchEulerDiscreteScheduler(shift=config.shift).save_pretrained(dest / "scheduler")
    index = {
        "_class_name": MODEL_CLASS,
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "transformer": ["diffusers", "SD3Transformer2DModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    (dest / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    shipped = dataclasses.replace(config, base=Path(config.base).name)  # no machine-specific path in the folder
    (dest / CONFIG_FILE).write_text(shipped.to_json() + "\n")
    print(f"exported step {int(state['step'])} ({float(state['seconds']) / 60:.0f} min) -> {dest}", flush=True)
    return dest


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description="Train graphflow's demo flow model on the shapes world.")
    parser.add_argument("--out", type=Path, required=True, help="run folder: checkpoint, latent cache")
    parser.add_argument("--resume", action="store_true", help="continue the run already in --out")
    parser.add_argument("--minutes", type=float, help="stop (resumably) after this many minutes")
    parser.add_argument("--steps", type=int, help="with --resume: change the total step count")
    parser.add_argument("--export", type=Path, metavar="DEST", help="only write the EMA weights as a folder")
    parser.add_argument("--shift", type=float, help="with --export: the sampling shift saved in the scheduler")
    parser.add_argument("--tiny", action="store_true", help="seconds-long configuration (for testing)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the CPU is shared)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    if args.export:
        export_flow(args.out, args.export, args.shift)
        return 0
    config = prepare(
        args.out, args.resume or args.steps is not None, tiny_flow_config(DEMO_MODEL_DIR) if args.tiny else None
    )
    if args.steps is not None:
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, steps=args.steps))
        (args.out / FLOW_CONFIG).write_text(config.to_json())
    budget = Budget(args.minutes, config.checkpoint_minutes)
    signal.signal(signal.SIGTERM, budget.stop)  # `kill PID` saves a checkpoint before exiting
    if train_flow(args.out, config, budget):
        print(f"[done] export with: python -m graphflow.demo.train_flow --out {args.out} --export DEST", flush=True)
    else:
        print(
            f"[stopped] checkpoint saved; continue with: python -m graphflow.demo.train_flow --out {args.out} --resume"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
