"""Class-conditional variant of the demo model: its UNet fine-tuned to draw the shape class it is given.

    python -m graphflow.demo.train_class --init graphflow/demo/weights/shapes-demo --out .demo-train/class
    python -m graphflow.demo.train_class --out .demo-train/class --resume          # continue a stopped run
    python -m graphflow.demo.train_class --out .demo-train/class --export graphflow/demo/weights/shapes-class

The text model's VAE, scheduler and text encoder are kept; the UNet gains a class embedding table
(diffusers `num_class_embeds`) with one entry per shape plus a last, null entry that classifier-free
guidance contrasts against. The cross-attention context is all zeros, as the class-label node sends it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel

from graphflow.demo.checker import score
from graphflow.demo.config import DemoConfig
from graphflow.demo.export import CONFIG_FILE, TRAINING_NOTES
from graphflow.demo.models import build_scheduler
from graphflow.demo.runlog import Budget, save_atomic
from graphflow.demo.train_denoiser import split_by_count
from graphflow.demo.train_vae import image_batch
from graphflow.demo.trainer import Trainer, v_prediction_loss
from graphflow.demo.world import SHAPES, dataset
from graphflow.imaging.images import image_to_pils
from graphflow.models.loader import load_checkpoint
from graphflow.sampling.conditioning import CONTEXT_TOKENS, class_conditioning
from graphflow.sampling.latent import Latent
from graphflow.sampling.sample import sample

CLASS_NAMES: tuple[str, ...] = (*SHAPES, "none")  # the last class is the null class used for guidance
CLASS_CONFIG = "class_config.json"
CHECKPOINT = "class_unet.pt"
CACHE = "class_latents.pt"


@dataclass(frozen=True)
class ClassTraining:
    """Fine-tuning settings; `init` is the text-conditioned pipeline folder the run starts from."""

    init: str = "graphflow/demo/weights/shapes-demo"
    seed: int = 0
    images: int = 12_000  # one-shape scenes encoded for training
    steps: int = 1500
    batch: int = 64
    lr: float = 3e-4
    warmup: int = 50
    weight_decay: float = 0.01
    clip: float = 1.0
    label_dropout: float = 0.1
    # Adam moves each weight about lr per step: the new, zero-started class table needs a far larger lr
    # than the fine-tuned rest to grow to the scale of the time embedding it is added to (norm ~4-10).
    class_lr_scale: float = 30.0
    ema_max: float = 0.998
    final_lr_fraction: float = 0.1
    checkpoint_minutes: float = 5.0

    def save(self, out: Path) -> None:
        """Write the settings as class_config.json in the run folder."""
        out.mkdir(parents=True, exist_ok=True)
        (out / CLASS_CONFIG).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, out: Path) -> ClassTraining:
        """The settings a run folder was started with."""
        path = out / CLASS_CONFIG
        if not path.exists():
            raise FileNotFoundError(f"{out}: no {CLASS_CONFIG}; is this a class-model training folder?")
        return cls(**json.loads(path.read_text()))


def class_unet(init: Path) -> UNet2DConditionModel:
    """The init pipeline's UNet with a class embedding table added (zeros: it starts as the text model)."""
    base = UNet2DConditionModel.from_pretrained(init, subfolder="unet", local_files_only=True)
    unet = UNet2DConditionModel.from_config({**base.config, "num_class_embeds": len(CLASS_NAMES)})
    missing, unexpected = unet.load_state_dict(base.state_dict(), strict=False)
    if unexpected or set(missing) != {"class_embedding.weight"}:
        raise ValueError(f"{init}: unexpected UNet layout (missing {missing}, unexpected {unexpected})")
    torch.nn.init.zeros_(unet.class_embedding.weight)
    unet.register_to_config(class_names=list(CLASS_NAMES))
    return unet


@torch.no_grad()
def encode_scenes(settings: ClassTraining, out: Path, chunk: int = 256) -> dict[str, torch.Tensor]:
    """Scaled posterior means and shape labels of the first `images` one-shape scenes (cached)."""
    path = out / CACHE
    if path.exists():
        return torch.load(path, weights_only=True)
    init = Path(settings.init)
    world = dataclasses.replace(DemoConfig.load(init / CONFIG_FILE), images=2 * settings.images, seed=settings.seed)
    vae = AutoencoderKL.from_pretrained(init, subfolder="vae", local_files_only=True).eval()
    scenes = dataset(world.images, world.seed, world.image_size).scenes()
    singles = split_by_count(scenes)[0][: settings.images]
    latents = []
    for start in range(0, len(singles), chunk):
        pixels = image_batch(world, singles[start : start + chunk])
        latents.append((vae.encode(pixels).latent_dist.mean * vae.config.scaling_factor).half())
        print(f"[latents] {min(start + chunk, len(singles))}/{len(singles)}", flush=True)
    labels = torch.tensor([scenes[int(i)].label for i in singles])
    cache = {"latents": torch.cat(latents), "labels": labels}
    save_atomic(cache, path)
    return cache


def train_class(out: Path, settings: ClassTraining, budget: Budget) -> bool:
    """Fine-tune (or continue); True when all steps are done, False when the budget ran out."""
    cache = encode_scenes(settings, out)
    unet = class_unet(Path(settings.init))
    table = unet.class_embedding.weight
    groups = [
        {"params": [p for p in unet.parameters() if p is not table], "lr_scale": 1.0},
        {"params": [table], "lr_scale": settings.class_lr_scale},
    ]
    optimizer = torch.optim.AdamW(groups, lr=settings.lr, weight_decay=settings.weight_decay)
    trainer = Trainer(unet, optimizer, out / CHECKPOINT, settings, "class unet")
    alphas = build_scheduler().alphas_cumprod
    null = len(CLASS_NAMES) - 1
    context = torch.zeros(settings.batch, CONTEXT_TOKENS, unet.config.cross_attention_dim)

    def batch_loss(step: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(settings.seed * 1_000_003 + step)
        index = torch.randint(0, len(cache["labels"]), (settings.batch,), generator=generator)
        labels = cache["labels"][index].clone()
        labels[torch.rand(settings.batch, generator=generator) < settings.label_dropout] = null

        def predict(noisy: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return unet(noisy, t, encoder_hidden_states=context, class_labels=labels).sample

        return v_prediction_loss(predict, cache["latents"][index].float(), alphas, generator)

    return trainer.run(batch_loss, budget)


def export_class_model(out: Path, dest: Path) -> None:
    """Write the init pipeline with the EMA class UNet in place of its UNet, plus training notes."""
    settings = ClassTraining.load(out)
    if not (out / CHECKPOINT).exists():
        raise FileNotFoundError(f"{out}: no {CHECKPOINT} yet; train first")
    state = torch.load(out / CHECKPOINT, weights_only=True)
    unet = class_unet(Path(settings.init))
    unet.load_state_dict(state["ema"])
    if dest.exists():
        shutil.rmtree(dest)
    keep = shutil.ignore_patterns("unet", TRAINING_NOTES, CONFIG_FILE)
    shutil.copytree(settings.init, dest, ignore=keep)
    unet.eval().save_pretrained(dest / "unet")
    (dest / CLASS_CONFIG).write_text(json.dumps(asdict(settings), indent=2))
    (dest / TRAINING_NOTES).write_text(
        "# graphflow class-conditional demo model\n\n"
        f"The text demo model (`{settings.init}`) with its UNet fine-tuned to draw a shape class:\n"
        f"class labels {', '.join(f'{i} = {n}' for i, n in enumerate(CLASS_NAMES))} (the null class, for guidance).\n"
        "Colour, size and position are left to chance. Drive it with the Class Conditioning node.\n\n"
        "Reproduce (CPU, one thread):\n\n```\n"
        f"python -m graphflow.demo.train_class --init {settings.init} --out .demo-train/class\n"
        f"python -m graphflow.demo.train_class --out .demo-train/class --export {dest}\n```\n\n"
        f"Steps trained: {int(state['step'])} of {settings.steps}; "
        f"training time {float(state['seconds']) / 60:.0f} min. "
        f"Settings: `{CLASS_CONFIG}`.\n"
    )


@torch.no_grad()
def shape_accuracy(model_dir: Path, per_class: int = 50, steps: int = 20, cfg: float = 3.0) -> dict[str, float]:
    """Share of pictures the checker reads as the requested shape, per class, through graphflow's sampler."""
    model, _, vae = load_checkpoint(model_dir, device="cpu")
    negative = class_conditioning(model, len(CLASS_NAMES) - 1)
    side = int(model.unet.config.sample_size)
    accuracy = {}
    for index, name in enumerate(SHAPES):
        latent = Latent(torch.zeros(per_class, model.latent_format.channels, side, side))
        samples = sample(
            model,
            positive=class_conditioning(model, index),
            negative=negative,
            latent=latent,
            seed=index,
            steps=steps,
            cfg=cfg,
            sampler_name="euler",
            scheduler="normal",
        )
        accuracy[name] = score(image_to_pils(vae.decode(samples)), [f"a {name}"] * per_class)["shape"]
    return accuracy


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description="Fine-tune the class-conditional variant of the demo model.")
    parser.add_argument("--out", type=Path, help="run folder: latent cache, checkpoint (needed unless --evaluate)")
    parser.add_argument("--init", help="text-conditioned pipeline folder to start from (new runs)")
    parser.add_argument("--resume", action="store_true", help="continue the run already in --out")
    parser.add_argument("--steps", type=int, help="total fine-tuning steps (new runs)")
    parser.add_argument("--images", type=int, help="one-shape scenes to train on (new runs)")
    parser.add_argument("--minutes", type=float, help="stop (resumably) after this many minutes")
    parser.add_argument("--export", type=Path, metavar="DEST", help="only write the current EMA model to DEST")
    parser.add_argument("--evaluate", type=Path, metavar="MODEL", help="only print a model's shape accuracy")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the CPU is shared)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    if args.evaluate:
        print(json.dumps(shape_accuracy(args.evaluate), indent=2))
        return 0
    if args.out is None:
        parser.error("--out is required to train or export")
    if args.export:
        export_class_model(args.out, args.export)
        print(f"exported {args.out} -> {args.export}")
        return 0
    started = (args.out / CLASS_CONFIG).exists()
    if started != args.resume:
        raise SystemExit(f"{args.out}: " + ("holds a run: pass --resume" if started else "no run to resume"))
    if started:
        settings = ClassTraining.load(args.out)
    else:
        defaults = ClassTraining()
        init = Path(args.init or defaults.init)
        if not (init / "unet" / "config.json").is_file() or not (init / CONFIG_FILE).is_file():
            raise SystemExit(
                f"--init {init}: not a demo pipeline folder (needs unet/ and {CONFIG_FILE}), "
                "e.g. graphflow/demo/weights/shapes-demo"
            )
        settings = ClassTraining(
            init=args.init or defaults.init, steps=args.steps or defaults.steps, images=args.images or defaults.images
        )
        settings.save(args.out)
    budget = Budget(args.minutes, settings.checkpoint_minutes)
    if train_class(args.out, settings, budget):
        print(f"[done] continue with: python -m graphflow.demo.train_class --out {args.out} --export DEST")
    else:
        print(
            f"[stopped] checkpoint saved; continue with: python -m graphflow.demo.train_class --out {args.out} --resume"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
