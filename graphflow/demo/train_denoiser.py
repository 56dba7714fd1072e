"""Stage 3: train UNet and text encoder jointly on cached latents (v-prediction, caption dropout, EMA)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from diffusers import UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

from graphflow.demo.config import DemoConfig
from graphflow.demo.models import build_scheduler, build_text_encoder, build_unet
from graphflow.demo.runlog import Budget
from graphflow.demo.trainer import Trainer, v_prediction_loss
from graphflow.demo.world import Scene, dataset, random_caption

CHECKPOINT = "denoiser.pt"


class Denoiser(torch.nn.Module):
    """The two trained parts side by side, so one optimiser and one EMA cover both."""

    def __init__(self, unet: UNet2DConditionModel, text_encoder: CLIPTextModel) -> None:
        super().__init__()
        self.unet, self.text_encoder = unet, text_encoder

    def forward(self, noisy: torch.Tensor, timesteps: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        """Predict v for noisy latents under the tokenised captions."""
        context = self.text_encoder(input_ids)[0]
        return self.unet(noisy, timesteps, encoder_hidden_states=context).sample


def build_denoiser(config: DemoConfig, tokenizer: CLIPTokenizer) -> Denoiser:
    """Fresh UNet + text encoder, seeded by the config."""
    torch.manual_seed(config.seed)
    return Denoiser(build_unet(config), build_text_encoder(config, tokenizer))


def load_checkpoint(out: Path) -> dict | None:
    """Stage 3's checkpoint, if there is one."""
    path = out / CHECKPOINT
    return torch.load(path, weights_only=True, map_location="cpu") if path.exists() else None


def tokenize(tokenizer: CLIPTokenizer, captions: list[str]) -> torch.Tensor:
    """Token ids padded to the tokenizer's full length, exactly as the pipeline does."""
    return tokenizer(
        captions, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
    ).input_ids


class CaptionIds:
    """Tokenises each caption once: captions repeat, and tokenising a batch takes longer than a GPU training step."""

    def __init__(self, tokenizer: CLIPTokenizer) -> None:
        self.tokenizer = tokenizer
        self.known: dict[str, torch.Tensor] = {}

    def __call__(self, captions: list[str]) -> torch.Tensor:
        """Token ids of the captions, as tokenize() gives them."""
        new = sorted({c for c in captions if c not in self.known})
        if new:
            self.known.update(zip(new, tokenize(self.tokenizer, new), strict=True))
        return torch.stack([self.known[c] for c in captions])


def split_by_count(scenes: Sequence[Scene]) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the one-shape scenes and of the two-shape scenes."""
    pairs = np.array([len(scene.things) == 2 for scene in scenes])
    return np.flatnonzero(~pairs), np.flatnonzero(pairs)


def draw_indices(
    rng: np.random.Generator, count: int, batch: int, groups: tuple[np.ndarray, np.ndarray] | None, pair_fraction: float
) -> np.ndarray:
    """A batch of scene indices: uniform over `count` without groups, else `pair_fraction` of them two-shape."""
    if groups is None:
        return rng.integers(count, size=batch)
    singles, pairs = groups
    take_pair = rng.random(batch) < pair_fraction
    return np.where(
        take_pair, pairs[rng.integers(len(pairs), size=batch)], singles[rng.integers(len(singles), size=batch)]
    )


def train_denoiser(
    out: Path,
    config: DemoConfig,
    tokenizer: CLIPTokenizer,
    cache: dict[str, torch.Tensor],
    budget: Budget,
    device: torch.device | str = "cpu",
) -> bool:
    """Train (or continue) the denoiser; True when all steps are done, False when the budget ran out."""
    settings = config.train
    model = build_denoiser(config, tokenizer)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    trainer = Trainer(model, optimizer, out / CHECKPOINT, settings, "denoiser", device)
    alphas = build_scheduler().alphas_cumprod
    scenes = dataset(config.images, config.seed, config.image_size).scenes()
    groups = split_by_count(scenes) if settings.pair_fraction is not None else None
    caption_ids = CaptionIds(tokenizer)
    mean, std = cache["mean"], cache["std"]
    scaling = float(cache["scaling_factor"])

    def batch_loss(step: int) -> torch.Tensor:
        rng = np.random.default_rng([config.seed, 2, step])
        indices = draw_indices(rng, config.images, settings.batch, groups, settings.pair_fraction or 0.0)
        captions = [
            "" if rng.random() < settings.caption_dropout else random_caption(scenes[int(i)], rng) for i in indices
        ]
        generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
        index = torch.from_numpy(indices)
        latents = mean[index].float()
        if step < settings.sample_posterior_until:
            latents = latents + std[index].float() * torch.randn(latents.shape, generator=generator)
        latents = (latents * scaling).to(device)
        ids = caption_ids(captions).to(device)
        return v_prediction_loss(lambda noisy, t: model(noisy, t, ids), latents, alphas, generator)

    return trainer.run(batch_loss, budget)
