"""Hyper-parameters of the demo model and its training run, saved as config.json next to the weights."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class VaeConfig:
    """AutoencoderKL shape and its training; the image shrinks 2**(len(channels)-1) times."""

    channels: tuple[int, ...] = (16, 32, 64, 64)
    latent_channels: int = 4
    groups: int = 8
    steps: int = 1000
    batch: int = 32
    lr: float = 1e-3
    kl_weight: float = 1e-5


@dataclass(frozen=True)
class UnetConfig:
    """UNet2DConditionModel shape: cross-attention from level `attention_from` down, and in the middle."""

    channels: tuple[int, ...] = (64, 128)
    layers: int = 1
    heads: int = 4
    groups: int = 32
    attention_from: int = 1


@dataclass(frozen=True)
class TextConfig:
    """CLIPTextModel shape."""

    width: int = 128
    layers: int = 3
    heads: int = 4


@dataclass(frozen=True)
class DenoiserTraining:
    """Joint UNet + text-encoder training on cached latents."""

    steps: int = 4500
    batch: int = 64
    lr: float = 1e-3
    warmup: int = 200
    weight_decay: float = 0.01
    clip: float = 1.0
    caption_dropout: float = 0.1
    ema_max: float = 0.999
    final_lr_fraction: float = 0.1
    # Steps before this one train on posterior samples, later ones on posterior means. The VAE's
    # posterior noise (std ~0.5) is as large as the gaps between colours in latent space and blurs them.
    sample_posterior_until: int = 0
    # Share of each batch drawn from two-shape scenes; None keeps the world's own share (35 %).
    pair_fraction: float | None = None


@dataclass(frozen=True)
class DemoConfig:
    """Everything that decides the trained weights, apart from wall-clock limits."""

    seed: int = 0
    image_size: int = 64
    images: int = 40_000
    vae: VaeConfig = field(default_factory=VaeConfig)
    unet: UnetConfig = field(default_factory=UnetConfig)
    text: TextConfig = field(default_factory=TextConfig)
    train: DenoiserTraining = field(default_factory=DenoiserTraining)
    checkpoint_minutes: float = 5.0

    @property
    def latent_size(self) -> int:
        """Side of the latent grid."""
        return self.image_size // 2 ** (len(self.vae.channels) - 1)

    def to_json(self) -> str:
        """The config as indented JSON."""
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DemoConfig:
        """Rebuild from to_json()'s output (lists become tuples)."""
        parts = {"vae": VaeConfig, "unet": UnetConfig, "text": TextConfig, "train": DenoiserTraining}
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if f.name in parts:
                value = parts[f.name](**{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})
            values[f.name] = value
        return cls(**values)

    @classmethod
    def load(cls, path: Path) -> DemoConfig:
        """Read a config.json written by a training run."""
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as error:
            raise ValueError(f"{path}: not a readable demo training config ({error})") from error


def tiny_config() -> DemoConfig:
    """A seconds-long configuration that runs every code path (for tests)."""
    return DemoConfig(
        image_size=16,
        images=48,
        vae=VaeConfig(channels=(8, 8), groups=4, steps=2, batch=8),
        unet=UnetConfig(channels=(16, 32), heads=2, groups=8),
        text=TextConfig(width=16, layers=1, heads=2),
        train=DenoiserTraining(steps=3, batch=8, warmup=1),
    )
