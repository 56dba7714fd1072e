"""Train the demo model's ControlNet `shapes-silhouette`: draw "a <colour> <shape>" inside a silhouette hint.

    python -m graphflow.demo.train_controlnet --out RUN       # resumable: --resume [--minutes N]
    python -m graphflow.demo.train_controlnet --out RUN --export graphflow/demo/weights/controlnet/shapes-silhouette

The ControlNet starts as diffusers' `ControlNetModel.from_unet(demo unet)`: a copy of the UNet's encoder
half whose zero-initialised output convolutions leave the UNet's prediction unchanged at first; its
conditioning embedding takes the 64 px hint down to the 8x8 latent in three stride-2 steps. It learns on
one shape at any place and size (`graphflow.demo.hints`), captions without place or size words, with the
UNet and text encoder frozen. Saved as a diffusers folder (config.json + fp16 safetensors).
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers import ControlNetModel, StableDiffusionPipeline
from safetensors.torch import load_file, save_file

from graphflow.demo import DEMO_MODEL_DIR, WEIGHTS_DIR
from graphflow.demo.addon_base import batch_rng, encode_pictures, load_base, trained_state
from graphflow.demo.addon_run import budget_for, load_settings, open_run, parser, report, start
from graphflow.demo.hints import free_caption, free_scene, hint
from graphflow.demo.models import build_scheduler
from graphflow.demo.runlog import Budget, save_atomic
from graphflow.demo.train_denoiser import CaptionIds
from graphflow.demo.trainer import Trainer, v_prediction_loss
from graphflow.demo.world import Scene, render

PROG = "graphflow.demo.train_controlnet"
NAME = "shapes-silhouette"
CHECKPOINT, CACHE = "controlnet.pt", "controlnet_data.pt"
DEFAULT_DEST = WEIGHTS_DIR / "controlnet" / NAME
NOTES = "TRAINING.md"
WEIGHTS_FILE = "diffusion_pytorch_model.safetensors"


@dataclass(frozen=True)
class ControlNetTraining:
    """Everything that decides the trained ControlNet, apart from wall-clock limits."""

    base: str = str(DEMO_MODEL_DIR)
    seed: int = 0
    scene_seed: int = 303
    scenes: int = 12000
    rough_fraction: float = 0.3  # hints drawn hand-drawn-looking (wobbly outline)
    rough_amount: float = 0.04  # relative size of the outline's bumps
    embedding_channels: tuple[int, ...] = (16, 32, 64, 128)  # 3 stride-2 steps: 64 px hint -> 8x8 latent
    steps: int = 3000
    batch: int = 32
    lr: float = 5e-4
    warmup: int = 100
    weight_decay: float = 0.0
    clip: float = 1.0
    caption_dropout: float = 0.1
    ema_max: float = 0.995
    final_lr_fraction: float = 0.1
    checkpoint_minutes: float = 3.0


def tiny_settings() -> ControlNetTraining:
    """A seconds-long run that goes through every code path (for tests)."""
    return ControlNetTraining(scenes=8, steps=2, batch=4, warmup=1)


def build_controlnet(pipe: StableDiffusionPipeline, settings: ControlNetTraining) -> ControlNetModel:
    """The zero-initialised ControlNet copied from the pipeline's UNet."""
    torch.manual_seed(settings.seed)
    return ControlNetModel.from_unet(pipe.unet, conditioning_embedding_out_channels=settings.embedding_channels)


def training_scenes(settings: ControlNetTraining) -> list[Scene]:
    """The training scenes, fixed by the scene seed."""
    return [free_scene(np.random.default_rng([settings.scene_seed, i])) for i in range(settings.scenes)]


def scene_hint(settings: ControlNetTraining, index: int, scene: Scene) -> np.ndarray:
    """One scene's hint as uint8 [64, 64]: clean, or (for `rough_fraction` of scenes) hand-drawn-looking."""
    rng = np.random.default_rng([settings.scene_seed, 9, index])
    rough = rng.random() < settings.rough_fraction
    picture = hint(scene, rng=rng if rough else None, amount=settings.rough_amount)
    return np.asarray(picture.convert("L"))


def cached_data(out: Path, pipe: StableDiffusionPipeline, settings: ControlNetTraining) -> dict[str, torch.Tensor]:
    """Latents (fp16) and hints (uint8) of every training scene, computed once per run folder."""
    path = out / CACHE
    if path.exists():
        return torch.load(path, weights_only=True)
    scenes = training_scenes(settings)
    print(f"[controlnet] drawing and encoding {len(scenes)} scenes", flush=True)
    latents = encode_pictures(pipe.vae, [render(s) for s in scenes])
    hints = torch.from_numpy(np.stack([scene_hint(settings, i, s) for i, s in enumerate(scenes)]))
    data = {"latents": latents.half(), "hints": hints}
    save_atomic(data, path)
    return data


def hint_tensor(hints: torch.Tensor) -> torch.Tensor:
    """uint8 [B, H, W] hints as the [B, 3, H, W] float pictures in [0, 1] a ControlNet takes."""
    return (hints.float() / 255.0)[:, None].expand(-1, 3, -1, -1)


def train_controlnet(out: Path, settings: ControlNetTraining, budget: Budget) -> bool:
    """Train (or continue); True when every step is done, False when the budget ran out."""
    pipe = load_base(settings.base)
    scenes = training_scenes(settings)
    data = cached_data(out, pipe, settings)
    controlnet = build_controlnet(pipe, settings)
    optimizer = torch.optim.AdamW(controlnet.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    trainer = Trainer(controlnet, optimizer, out / CHECKPOINT, settings, "controlnet")
    alphas = build_scheduler().alphas_cumprod
    caption_ids = CaptionIds(pipe.tokenizer)

    def batch_loss(step: int) -> torch.Tensor:
        rng, generator = batch_rng(settings.seed, 5, step)
        indices = rng.integers(len(scenes), size=settings.batch)
        captions = [
            "" if rng.random() < settings.caption_dropout else free_caption(scenes[int(i)].things[0], rng)
            for i in indices
        ]
        index = torch.from_numpy(indices)
        with torch.no_grad():
            context = pipe.text_encoder(caption_ids(captions))[0]
        cond = hint_tensor(data["hints"][index])

        def predict(noisy: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            down, mid = controlnet(noisy, t, encoder_hidden_states=context, controlnet_cond=cond, return_dict=False)
            return pipe.unet(
                noisy,
                t,
                encoder_hidden_states=context,
                down_block_additional_residuals=down,
                mid_block_additional_residual=mid,
            ).sample

        return v_prediction_loss(predict, data["latents"][index].float(), alphas, generator)

    return trainer.run(batch_loss, budget)


def export_controlnet(out: Path, dest: Path) -> Path:
    """Write the run's EMA ControlNet as a diffusers folder (fp16 weights), with the run's settings beside it."""
    settings = load_settings(ControlNetTraining, out)
    state = trained_state(out, CHECKPOINT, PROG)
    controlnet = build_controlnet(load_base(settings.base), settings)
    controlnet.load_state_dict(state["ema"])
    notes = None
    if (dest / NOTES).exists():
        notes = (dest / NOTES).read_text()
    if dest.exists():
        shutil.rmtree(dest)
    controlnet.save_pretrained(dest)
    weights = dest / WEIGHTS_FILE  # rewritten in fp16: half the size; diffusers loads it back as float32
    save_file({k: v.half() for k, v in load_file(weights).items()}, str(weights), metadata={"format": "pt"})
    record = asdict(settings) | {"base": "builtin:shapes-demo", "steps_trained": int(state["step"])}
    record["training_seconds"] = round(float(state["seconds"]))
    (dest / "training_settings.json").write_text(json.dumps(record, indent=2) + "\n")
    if notes is not None:
        (dest / NOTES).write_text(notes)
    return dest


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    args = parser(PROG, "Train the demo model's silhouette ControlNet.").parse_args(argv)
    start(args)
    if args.export:
        print(f"exported {args.out} -> {export_controlnet(args.out, args.export)}")
        return 0
    settings = open_run(args, ControlNetTraining, tiny_settings())
    with budget_for(args.minutes, settings.checkpoint_minutes) as budget:
        done = train_controlnet(args.out, settings, budget)
    dest = export_controlnet(args.out, args.out / NAME) if done else args.out
    report(done, PROG, args.out, dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
