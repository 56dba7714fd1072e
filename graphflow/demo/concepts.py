"""What the shipped add-ons of the demo model teach, in one place for training, scoring and tests.

- The LoRA teaches a colour word the world never used, "magenta". The demo VAE's encoder maps every
  unseen colour onto one of the world's seven, but its decoder draws magenta from the point halfway
  between a red thing's latents and the same thing's purple latents: that is the LoRA's training target,
  and MAGENTA_RGB (the colour those latents decode to, measured on 12 scenes) is how the checker reads it.
- The embedding names a scene the base model can draw: "a large yellow circle at the top".
- The ControlNet draws "a <colour> <shape>" inside a silhouette hint (a white shape on black).
"""

from __future__ import annotations

import numpy as np

from graphflow.demo.world import COLOURS, POSITIONS, SHAPES, SIZES, ThingSpec, describe

MAGENTA = "magenta"
MAGENTA_BLEND = ("red", "purple")  # latents of these two renderings, averaged, decode to magenta
MAGENTA_RGB = (180, 46, 128)
CHECK_COLOURS: dict[str, tuple[int, int, int]] = {**COLOURS, MAGENTA: MAGENTA_RGB}

SUN = "shapes-sun"
SUN_MEANING = "a large yellow circle at the top"


def embedding_word(name: str) -> str:
    """How a prompt names an embedding (ComfyUI's syntax)."""
    return f"embedding:{name}"


def magenta_prompts(count: int = 50, seed: int = 4321) -> list[str]:
    """Fully specified single-thing prompts whose colour is magenta (shape, position, size drawn at random)."""
    rng = np.random.default_rng(seed)
    return [
        describe(
            ThingSpec(
                SHAPES[rng.integers(len(SHAPES))],
                MAGENTA,
                list(POSITIONS)[rng.integers(len(POSITIONS))],
                list(SIZES)[rng.integers(len(SIZES))],
            )
        )
        for _ in range(count)
    ]


def sun_prompts(count: int = 50, seed: int = 8765) -> list[str]:
    """Prompts that use the embedding: alone (even indices) or beside a thing at the bottom (odd indices)."""
    rng = np.random.default_rng(seed)
    word = embedding_word(SUN)
    prompts = []
    for i in range(count):
        if i % 2 == 0:
            prompts.append(word)
            continue
        colours = [c for c in COLOURS if c != "yellow"]
        other = ThingSpec(SHAPES[rng.integers(len(SHAPES))], colours[rng.integers(len(colours))], "bottom", "small")
        prompts.append(f"{word} and {describe(other)}")
    return prompts


def sun_meaning(prompt: str) -> str:
    """A prompt with the embedding's word spelled out, for the checker."""
    return prompt.replace(embedding_word(SUN), SUN_MEANING)
