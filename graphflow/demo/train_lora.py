"""Train the demo model's LoRA: the colour word "magenta", through the UNet's attention and the text encoder.

    python -m graphflow.demo.train_lora --out RUN       # resumable: --resume [--minutes N]
    python -m graphflow.demo.train_lora --out RUN --export graphflow/demo/weights/loras/shapes-magenta.safetensors

The base model never saw the word (its tokenizer spells it in single letters it met in no caption) nor the
colour. Half the training scenes have one thing recoloured magenta, its target latents the average of the
scene's red and purple renderings (see `graphflow.demo.concepts`); their captions always name the colour.
The other half are ordinary scenes and captions, so the LoRA leaves the rest of the world as it was.
Only the adapters train (`graphflow.demo.lora`); the file is kohya/A1111-format safetensors.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers import StableDiffusionPipeline
from safetensors.torch import save_file

from graphflow.demo import DEMO_MODEL_DIR, WEIGHTS_DIR
from graphflow.demo.addon_base import batch_rng, encode_pictures, load_base, trained_state
from graphflow.demo.addon_run import budget_for, load_settings, open_run, parser, report, start
from graphflow.demo.concepts import MAGENTA, MAGENTA_BLEND
from graphflow.demo.lora import TEXT_PREFIX, TEXT_TARGETS, UNET_PREFIX, UNET_TARGETS, LoraSet
from graphflow.demo.models import build_scheduler
from graphflow.demo.runlog import Budget, save_atomic
from graphflow.demo.train_denoiser import CaptionIds
from graphflow.demo.trainer import Trainer, v_prediction_loss
from graphflow.demo.world import Scene, ThingSpec, caption, dataset, describe, random_caption, render

PROG = "graphflow.demo.train_lora"
NAME = "shapes-magenta"
CHECKPOINT, CACHE = "lora.pt", "lora_latents.pt"
DEFAULT_DEST = WEIGHTS_DIR / "loras" / f"{NAME}.safetensors"


@dataclass(frozen=True)
class LoraTraining:
    """Everything that decides the trained LoRA, apart from wall-clock limits."""

    base: str = str(DEMO_MODEL_DIR)
    seed: int = 0
    scene_seed: int = 101  # the training scenes (the base model was trained on seed 0)
    scenes: int = 4000
    concept_fraction: float = 0.5  # share of scenes with a magenta thing
    unet_rank: int = 4
    unet_alpha: float = 4.0
    text_rank: int = 8
    text_alpha: float = 8.0
    steps: int = 1500
    batch: int = 32
    lr: float = 1e-3
    warmup: int = 50
    weight_decay: float = 0.0
    clip: float = 1.0
    caption_dropout: float = 0.1  # ordinary scenes only: the unconditional prediction stays the base model's
    ema_max: float = 0.995
    final_lr_fraction: float = 0.1
    checkpoint_minutes: float = 3.0


def tiny_settings() -> LoraTraining:
    """A seconds-long run that goes through every code path (for tests)."""
    return LoraTraining(scenes=12, steps=3, batch=4, warmup=1, unet_rank=2, unet_alpha=2.0, text_rank=2, text_alpha=1.0)


def recolour(scene: Scene, colour: str, index: int | None = None) -> Scene:
    """The scene with thing `index` in `colour` (index None: every magenta thing)."""
    things = tuple(
        dataclasses.replace(t, colour=colour) if (i == index if index is not None else t.colour == MAGENTA) else t
        for i, t in enumerate(scene.things)
    )
    return Scene(scene.background, things)


def training_scenes(settings: LoraTraining) -> list[Scene]:
    """The world's scenes, `concept_fraction` of them with one thing made magenta (fixed by the seeds)."""
    scenes = []
    for i, scene in enumerate(dataset(settings.scenes, settings.scene_seed).scenes()):
        rng = np.random.default_rng([settings.scene_seed, 7, i])
        if rng.random() < settings.concept_fraction:
            scene = recolour(scene, MAGENTA, int(rng.integers(len(scene.things))))
        scenes.append(scene)
    return scenes


def has_concept(scene: Scene) -> bool:
    """Whether a scene shows the new colour."""
    return any(t.colour == MAGENTA for t in scene.things)


def concept_caption(scene: Scene, rng: np.random.Generator) -> str:
    """A caption that always names every thing's colour: complete, or with shape/position/size left out."""
    if rng.random() < 0.6:
        return caption(scene)
    keep = rng.random(3) < 0.5
    specs = [
        ThingSpec(t.shape if keep[0] else None, t.colour, t.position if keep[1] else None, t.size if keep[2] else None)
        for t in scene.things
    ]
    return " and ".join(describe(specs[i]) for i in rng.permutation(len(specs)))


@torch.no_grad()
def scene_latents(pipe: StableDiffusionPipeline, scenes: list[Scene]) -> torch.Tensor:
    """Target latents: ordinary scenes encoded; magenta ones as the mean of their red and purple encodings."""
    plain = [render(recolour(s, MAGENTA_BLEND[0]) if has_concept(s) else s) for s in scenes]
    latents = encode_pictures(pipe.vae, plain)
    concept = [i for i, s in enumerate(scenes) if has_concept(s)]
    if concept:
        other = encode_pictures(pipe.vae, [render(recolour(scenes[i], MAGENTA_BLEND[1])) for i in concept])
        latents[concept] = (latents[concept] + other) / 2
    return latents


def cached_latents(out: Path, pipe: StableDiffusionPipeline, scenes: list[Scene]) -> torch.Tensor:
    """scene_latents(), computed once per run folder."""
    path = out / CACHE
    if path.exists():
        return torch.load(path, weights_only=True)["latents"].float()
    print(f"[lora] encoding {len(scenes)} scenes", flush=True)
    latents = scene_latents(pipe, scenes)
    save_atomic({"latents": latents.half()}, path)
    return latents


def attach_lora(pipe: StableDiffusionPipeline, settings: LoraTraining) -> LoraSet:
    """Fresh adapters (seeded) on the UNet's attention projections and the text encoder's layers."""
    torch.manual_seed(settings.seed)
    lora = LoraSet()
    lora.attach(pipe.unet, UNET_PREFIX, UNET_TARGETS, settings.unet_rank, settings.unet_alpha)
    lora.attach(pipe.text_encoder, TEXT_PREFIX, TEXT_TARGETS, settings.text_rank, settings.text_alpha)
    return lora


def train_lora(out: Path, settings: LoraTraining, budget: Budget) -> bool:
    """Train (or continue); True when every step is done, False when the budget ran out."""
    pipe = load_base(settings.base)
    scenes = training_scenes(settings)
    latents = cached_latents(out, pipe, scenes)
    lora = attach_lora(pipe, settings)
    optimizer = torch.optim.AdamW(lora.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    trainer = Trainer(lora, optimizer, out / CHECKPOINT, settings, "lora")
    alphas = build_scheduler().alphas_cumprod
    caption_ids = CaptionIds(pipe.tokenizer)

    def batch_loss(step: int) -> torch.Tensor:
        rng, generator = batch_rng(settings.seed, 3, step)
        indices = rng.integers(len(scenes), size=settings.batch)
        captions = []
        for i in indices:
            scene = scenes[int(i)]
            if has_concept(scene):
                captions.append(concept_caption(scene, rng))
            else:
                captions.append("" if rng.random() < settings.caption_dropout else random_caption(scene, rng))
        context = pipe.text_encoder(caption_ids(captions))[0]

        def predict(noisy: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return pipe.unet(noisy, t, encoder_hidden_states=context).sample

        return v_prediction_loss(predict, latents[torch.from_numpy(indices)], alphas, generator)

    return trainer.run(batch_loss, budget)


def export_lora(out: Path, dest: Path) -> Path:
    """Write the run's EMA adapters as a kohya-format .safetensors LoRA, with how it was made as metadata."""
    settings = load_settings(LoraTraining, out)
    state = trained_state(out, CHECKPOINT, PROG)
    lora = attach_lora(load_base(settings.base), settings)
    lora.load_state_dict(state["ema"])
    dest.parent.mkdir(parents=True, exist_ok=True)
    notes = {
        "graphflow.concept": f"the colour word {MAGENTA!r} (e.g. 'a large magenta circle on the left')",
        "graphflow.base": "builtin:shapes-demo",
        "graphflow.steps": str(int(state["step"])),
        "graphflow.training_seconds": f"{float(state['seconds']):.0f}",
        "graphflow.settings": json.dumps(dataclasses.asdict(settings) | {"base": "builtin:shapes-demo"}),
        "ss_network_dim": str(settings.unet_rank),
        "ss_network_alpha": str(settings.unet_alpha),
    }
    save_file(lora.kohya_state_dict(), str(dest), metadata=notes)
    return dest


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    args = parser(PROG, "Train the demo model's LoRA for the colour word 'magenta'.").parse_args(argv)
    start(args)
    if args.export:
        print(f"exported {args.out} -> {export_lora(args.out, args.export)}")
        return 0
    settings = open_run(args, LoraTraining, tiny_settings())
    with budget_for(args.minutes, settings.checkpoint_minutes) as budget:
        done = train_lora(args.out, settings, budget)
    dest = export_lora(args.out, args.out / f"{NAME}.safetensors") if done else args.out
    report(done, PROG, args.out, dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
