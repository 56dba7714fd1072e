"""Train the demo model's textual-inversion embedding `shapes-sun`: "a large yellow circle at the top".

    python -m graphflow.demo.train_embedding --out RUN       # resumable: --resume [--minutes N]
    python -m graphflow.demo.train_embedding --out RUN --export graphflow/demo/weights/embeddings/shapes-sun.safetensors

The whole model stays frozen; only the embedding's three vectors (started from the token embeddings of
"yellow", "circle" and "top") learn, through the denoising loss on pictures of the sun, alone or above another
thing at the bottom ("embedding:shapes-sun and a small red square at the bottom"). The file is A1111's
safetensors form, `{"emb_params": [vectors, width]}`.
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
from graphflow.demo.concepts import SUN, SUN_MEANING, embedding_word
from graphflow.demo.inversion_text import encode
from graphflow.demo.models import build_scheduler
from graphflow.demo.runlog import Budget, save_atomic
from graphflow.demo.trainer import Trainer, v_prediction_loss
from graphflow.demo.world import (
    COLOURS,
    SHAPES,
    SIZES,
    Scene,
    ThingSpec,
    describe,
    random_background,
    render,
    thing_at,
)

PROG = "graphflow.demo.train_embedding"
CHECKPOINT, CACHE = "embedding.pt", "embedding_latents.pt"
DEFAULT_DEST = WEIGHTS_DIR / "embeddings" / f"{SUN}.safetensors"


@dataclass(frozen=True)
class EmbeddingTraining:
    """Everything that decides the trained vectors, apart from wall-clock limits."""

    base: str = str(DEMO_MODEL_DIR)
    seed: int = 0
    scene_seed: int = 202
    scenes: int = 2000
    vectors: int = 3  # two learned "large" into the other thing of a pair; three keep it apart
    init_words: tuple[str, ...] = ("yellow", "circle", "top")  # one per vector
    pair_fraction: float = 0.7  # scenes with a second thing at the bottom
    steps: int = 800
    batch: int = 32
    lr: float = 3e-3
    warmup: int = 20
    weight_decay: float = 0.0
    clip: float = 1.0
    ema_max: float = 0.99
    final_lr_fraction: float = 0.1
    checkpoint_minutes: float = 3.0


def tiny_settings() -> EmbeddingTraining:
    """A seconds-long run that goes through every code path (for tests)."""
    return EmbeddingTraining(scenes=8, steps=3, batch=4, warmup=1)


class Vectors(torch.nn.Module):
    """The embedding being learned: one row per token position it takes."""

    def __init__(self, initial: torch.Tensor) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(initial.clone())


def sun_scene(rng: np.random.Generator, pair_fraction: float) -> Scene:
    """The sun (jittered as the world jitters things), sometimes with another thing at the bottom."""
    background = random_background(rng)
    things = [thing_at(rng, "top", "circle", "yellow", "large")]
    if rng.random() < pair_fraction:
        colours = [c for c in COLOURS if c != "yellow"]
        shape, colour = SHAPES[rng.integers(len(SHAPES))], colours[rng.integers(len(colours))]
        things.append(thing_at(rng, "bottom", shape, colour, list(SIZES)[rng.integers(len(SIZES))]))
    return Scene(background, tuple(things))


def sun_caption(scene: Scene, rng: np.random.Generator) -> str:
    """The embedding's word, and the second thing in full or by colour and shape only."""
    word = embedding_word(SUN)
    if len(scene.things) == 1:
        return word
    other = scene.things[1]
    full = rng.random() < 0.6
    spec = ThingSpec(other.shape, other.colour, "bottom" if full else None, other.size if full else None)
    return f"{word} and {describe(spec)}"


def training_scenes(settings: EmbeddingTraining) -> list[Scene]:
    """The training scenes, fixed by the scene seed."""
    seeds = (np.random.default_rng([settings.scene_seed, i]) for i in range(settings.scenes))
    return [sun_scene(rng, settings.pair_fraction) for rng in seeds]


def cached_latents(out: Path, pipe: StableDiffusionPipeline, scenes: list[Scene]) -> torch.Tensor:
    """The scenes' latents, encoded once per run folder."""
    path = out / CACHE
    if path.exists():
        return torch.load(path, weights_only=True)["latents"].float()
    latents = encode_pictures(pipe.vae, [render(s) for s in scenes])
    save_atomic({"latents": latents.half()}, path)
    return latents


def initial_vectors(pipe: StableDiffusionPipeline, settings: EmbeddingTraining) -> torch.Tensor:
    """The token embeddings of the init words, one per vector."""
    if len(settings.init_words) != settings.vectors:
        raise ValueError(f"{settings.vectors} vectors need as many init words, got {settings.init_words}")
    table = pipe.text_encoder.get_input_embeddings().weight
    ids = [pipe.tokenizer(w, add_special_tokens=False).input_ids for w in settings.init_words]
    if any(len(i) != 1 for i in ids):
        raise ValueError(f"init words must each be one token: {settings.init_words}")
    return table[[i[0] for i in ids]].detach().clone()


def train_embedding(out: Path, settings: EmbeddingTraining, budget: Budget) -> bool:
    """Train (or continue); True when every step is done, False when the budget ran out."""
    pipe = load_base(settings.base)
    scenes = training_scenes(settings)
    latents = cached_latents(out, pipe, scenes)
    vectors = Vectors(initial_vectors(pipe, settings))
    optimizer = torch.optim.AdamW(vectors.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    trainer = Trainer(vectors, optimizer, out / CHECKPOINT, settings, "embedding")
    alphas = build_scheduler().alphas_cumprod

    def batch_loss(step: int) -> torch.Tensor:
        rng, generator = batch_rng(settings.seed, 4, step)
        indices = rng.integers(len(scenes), size=settings.batch)
        captions = [sun_caption(scenes[int(i)], rng) for i in indices]
        context = encode(pipe.text_encoder, pipe.tokenizer, captions, {SUN: vectors.weight})

        def predict(noisy: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return pipe.unet(noisy, t, encoder_hidden_states=context).sample

        return v_prediction_loss(predict, latents[torch.from_numpy(indices)], alphas, generator)

    return trainer.run(batch_loss, budget)


def export_embedding(out: Path, dest: Path) -> Path:
    """Write the run's EMA vectors as an A1111-style .safetensors embedding, with how it was made as metadata."""
    settings = load_settings(EmbeddingTraining, out)
    state = trained_state(out, CHECKPOINT, PROG)
    dest.parent.mkdir(parents=True, exist_ok=True)
    notes = {
        "graphflow.meaning": SUN_MEANING,
        "graphflow.base": "builtin:shapes-demo",
        "graphflow.steps": str(int(state["step"])),
        "graphflow.training_seconds": f"{float(state['seconds']):.0f}",
        "graphflow.settings": json.dumps(dataclasses.asdict(settings) | {"base": "builtin:shapes-demo"}),
    }
    save_file({"emb_params": state["ema"]["weight"].float().contiguous()}, str(dest), metadata=notes)
    return dest


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    args = parser(PROG, f"Train the demo model's embedding {SUN!r} ({SUN_MEANING}).").parse_args(argv)
    start(args)
    if args.export:
        print(f"exported {args.out} -> {export_embedding(args.out, args.export)}")
        return 0
    settings = open_run(args, EmbeddingTraining, tiny_settings())
    with budget_for(args.minutes, settings.checkpoint_minutes) as budget:
        done = train_embedding(args.out, settings, budget)
    dest = export_embedding(args.out, args.out / f"{SUN}.safetensors") if done else args.out
    report(done, PROG, args.out, dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
