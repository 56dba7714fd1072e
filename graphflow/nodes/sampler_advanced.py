"""The advanced custom sampler (ComfyUI's SamplerCustomAdvanced): noise, guider, sampler and sigmas as separate inputs.

A guider is a model with its prompts and guidance scale (Basic Guider: one prompt at cfg 1; CFG Guider: positive,
negative and cfg); the noise is a seed (Random Noise) or none (Disable Noise). The Flux templates run on it.
With the same choices it gives what Custom Sampler gives, which it runs.
"""

from collections.abc import Callable

import torch

from graphflow.api import (
    CONDITIONING,
    FLOAT,
    INT,
    LATENT,
    MODEL,
    SAMPLER,
    SIGMAS,
    Context,
    Input,
    Output,
    hookimpl,
    node,
)
from graphflow.nodes.sampler import SEED_MAX
from graphflow.nodes.sampler_custom import CustomSampled, CustomSampler
from graphflow.sampling.conditioning import Conditioning
from graphflow.sampling.denoiser import Guider, StartNoise
from graphflow.sampling.latent import Latent
from graphflow.sampling.model import DiffusionModel
from graphflow.sampling.samplers import SamplerSpec
from graphflow.types import GUIDER, NOISE


@node(
    "graphflow.sampling.custom_advanced",
    version="1.0.0",
    title="Custom Sampler (Advanced)",
    category="sampling/custom",
)
class CustomSamplerAdvanced:
    """Denoise a latent with a noise, a guider, a sampler and a schedule given as inputs (SamplerCustomAdvanced).

    `denoised_output` is the sampler's last x0 estimate, as Custom Sampler gives it.
    """

    noise = Input(NOISE)
    guider = Input(GUIDER)
    sampler = Input(SAMPLER)
    sigmas = Input(SIGMAS)
    latent_image = Input(LATENT)
    output = Output(LATENT, "the denoised latent")
    denoised_output = Output(LATENT, "the last x0 estimate (the output itself when no step ran)")

    def run(
        self,
        ctx: Context,
        noise: StartNoise,
        guider: Guider,
        sampler: SamplerSpec,
        sigmas: torch.Tensor,
        latent_image: Latent,
    ) -> CustomSampled:
        return CustomSampler().run(
            ctx,
            model=guider.model,
            add_noise=noise.add,
            noise_seed=noise.seed,
            cfg=guider.cfg,
            positive=guider.positive,
            negative=guider.negative,
            sampler=sampler,
            sigmas=sigmas,
            latent=latent_image,
        )


@node("graphflow.sampling.basic_guider", version="1.0.0", title="Basic Guider", category="sampling/custom")
class BasicGuider:
    """A model guided by one prompt alone (cfg 1: no negative pass), for the advanced custom sampler."""

    model = Input(MODEL)
    conditioning = Input(CONDITIONING)
    guider = Output(GUIDER)

    def run(self, ctx: Context, model: DiffusionModel, conditioning: Conditioning) -> Guider:
        return Guider(model, conditioning)


@node("graphflow.sampling.cfg_guider", version="1.0.0", title="CFG Guider", category="sampling/custom")
class CFGGuider:
    """A model with classifier-free guidance: uncond + cfg * (cond - uncond), for the advanced custom sampler."""

    model = Input(MODEL)
    positive = Input(CONDITIONING)
    negative = Input(CONDITIONING)
    cfg = Input(FLOAT, default=8.0, min=0.0, max=100.0, step=0.1)
    guider = Output(GUIDER)

    def run(
        self, ctx: Context, model: DiffusionModel, positive: Conditioning, negative: Conditioning, cfg: float
    ) -> Guider:
        return Guider(model, positive, negative, cfg)


@node("graphflow.sampling.random_noise", version="1.0.0", title="Random Noise", category="sampling/custom")
class RandomNoise:
    """Start noise drawn from a seed (the sampler's own noise comes from it too)."""

    noise_seed = Input(INT, default=0, min=0, max=SEED_MAX, widget="seed")
    noise = Output(NOISE)

    def run(self, ctx: Context, noise_seed: int) -> StartNoise:
        return StartNoise(noise_seed)


@node("graphflow.sampling.disable_noise", version="1.0.0", title="Disable Noise", category="sampling/custom")
class DisableNoise:
    """No start noise: the sampler starts from the latent as it is (seed 0 for a sampler's own noise)."""

    noise = Output(NOISE)

    def run(self, ctx: Context) -> StartNoise:
        return StartNoise(add=False)


@hookimpl
def register_nodes(register: Callable[[type], None]) -> None:
    """Provide the advanced custom sampler, its guiders and its noises."""
    for cls in (CustomSamplerAdvanced, BasicGuider, CFGGuider, RandomNoise, DisableNoise):
        register(cls)
