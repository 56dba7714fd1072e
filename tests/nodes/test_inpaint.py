"""Image-to-image and inpainting: what denoise keeps, what the noise mask keeps, how the inpaint encoder blanks."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from graphflow.context import Context
from graphflow.models.tiny import build_tiny
from graphflow.models.vae import Vae
from graphflow.nodes.inpaint import SetLatentNoiseMask, VaeEncodeForInpaint
from graphflow.nodes.sampler import Sampler
from graphflow.sampling.latent import Latent
from tests.nodes.conftest import checkpoint_name, link, run_graph
from tests.running import context_for
from tests.sampling.helpers import text, tiny_model


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    return context_for(tmp_path, "n")


def randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def run_sampler(ctx, model, latent: Latent, seed: int = 1, denoise: float = 1.0, sampler: str = "euler") -> Latent:
    return Sampler().run(
        ctx,
        model,
        (text(1),),
        (text(2),),
        latent,
        seed=seed,
        steps=8,
        cfg=3.0,
        sampler_name=sampler,
        scheduler="normal",
        denoise=denoise,
    )


def test_denoise_zero_returns_the_input_latent_unchanged(ctx, model):
    latent = randn(1, 4, 8, 8, seed=0)
    assert torch.equal(run_sampler(ctx, model, Latent(latent), denoise=0.0).samples, latent)


def test_at_full_denoise_the_seed_matters_far_more_than_the_input_latent(ctx, model):
    # As in ComfyUI the start point is latent + noise * sqrt(1 + sigma_max^2): at denoise 1 the input
    # barely counts next to noise 14.6 times larger (measured ratio 0.07), but it is not ignored exactly.
    a, b = Latent(randn(1, 4, 8, 8, seed=0)), Latent(randn(1, 4, 8, 8, seed=1))
    from_a, from_b = run_sampler(ctx, model, a).samples, run_sampler(ctx, model, b).samples
    other_seed = run_sampler(ctx, model, a, seed=2).samples
    assert float((from_a - from_b).norm()) < 0.15 * float((from_a - other_seed).norm())


def test_lower_denoise_stays_closer_to_the_input(ctx, model):
    latent = Latent(randn(1, 4, 8, 8, seed=0))
    distances = [
        float((run_sampler(ctx, model, latent, denoise=d).samples - latent.samples).norm()) for d in (0.2, 0.6, 1.0)
    ]
    assert distances == sorted(distances)


def soft_mask() -> torch.Tensor:
    """An image-sized (64x64) mask: a square whose edges fall inside 8x8 blocks, with a soft rim."""
    mask = torch.zeros(1, 64, 64)
    mask[:, 20:44, 12:40] = 1.0
    mask[:, 19, 12:40] = 0.5
    return mask


@pytest.mark.parametrize("sampler", ["euler", "dpmpp_2m", "ddim"])
def test_inpainting_keeps_the_latent_outside_the_mask(ctx, model, sampler):
    latent = Latent(randn(1, 4, 8, 8, seed=0))
    masked = SetLatentNoiseMask().run(ctx, latent, soft_mask())
    result = run_sampler(ctx, model, masked, sampler=sampler).samples
    grid = masked.noise_mask.expand_as(result)
    outside, inside = grid == 0, grid == 1
    assert outside.sum() > 100 and inside.sum() > 20
    assert float((result - latent.samples)[outside].abs().max()) < 1e-5
    assert float((result - latent.samples)[inside].abs().min()) > 1e-3


def test_an_image_sized_mask_is_averaged_over_each_latent_pixel(ctx):
    mask = torch.zeros(1, 64, 64)
    mask[:, :, :12] = 1.0  # column 0 fully covered, column 1 half covered
    grid = SetLatentNoiseMask().run(ctx, Latent(torch.zeros(2, 4, 8, 8)), mask).noise_mask
    assert grid.shape == (2, 1, 8, 8)
    assert torch.equal(grid[0, 0, 0, :3], torch.tensor([1.0, 0.5, 0.0]))


def test_a_mask_of_another_shape_is_refused_naming_both_sizes(ctx):
    with pytest.raises(ValueError, match=r"mask is 64x32 but the latent is 8x8 \(64x64 pixels\)"):
        SetLatentNoiseMask().run(ctx, Latent(torch.zeros(1, 4, 8, 8)), torch.ones(1, 32, 64))


def test_a_mask_batch_that_does_not_fit_the_latent_batch_is_refused(ctx):
    with pytest.raises(ValueError, match="noise mask has 2 items but the latent batch has 3"):
        SetLatentNoiseMask().run(ctx, Latent(torch.zeros(3, 4, 8, 8)), torch.ones(2, 64, 64))


@pytest.fixture(scope="module")
def vae() -> Vae:
    return Vae(build_tiny("sd1").vae)


def test_inpaint_encoding_ignores_the_pixels_under_the_mask(ctx, vae):
    image = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(1, 64, 64)
    mask[:, 16:40, 16:40] = 1.0
    scribbled = image.clone()
    scribbled[:, 16:40, 16:40] = torch.rand(24, 24, 3)
    first = VaeEncodeForInpaint().run(ctx, image, vae, mask, grow_mask_by=0).samples
    second = VaeEncodeForInpaint().run(ctx, scribbled, vae, mask, grow_mask_by=0).samples
    plain = VaeEncodeForInpaint().run(ctx, image, vae, torch.zeros(1, 64, 64), grow_mask_by=0).samples
    assert torch.equal(first, second)
    assert not torch.allclose(first, plain)


def test_inpaint_noise_mask_is_the_mask_grown_by_the_given_pixels(ctx, vae):
    image = torch.full((1, 64, 64, 3), 0.3)
    mask = torch.zeros(1, 64, 64)
    mask[:, 24:40, 24:40] = 1.0  # latent cells 3..4
    tight = VaeEncodeForInpaint().run(ctx, image, vae, mask, grow_mask_by=0).noise_mask[0, 0]
    grown = VaeEncodeForInpaint().run(ctx, image, vae, mask, grow_mask_by=8).noise_mask[0, 0]
    assert torch.equal(tight[3:5, 3:5], torch.ones(2, 2)) and float(tight.sum()) == 4.0
    assert torch.equal(grown[2:6, 2:6], torch.ones(4, 4)) and float(grown.sum()) == 16.0


def test_inpaint_encoding_crops_an_image_to_multiples_of_eight(ctx, vae):
    image = torch.rand(1, 70, 68, 3)
    latent = VaeEncodeForInpaint().run(ctx, image, vae, torch.zeros(1, 70, 68), grow_mask_by=6)
    assert latent.samples.shape[-2:] == (8, 8) and latent.noise_mask.shape == (1, 1, 8, 8)


def test_an_inpainting_workflow_regenerates_only_the_transparent_hole(executor, folder_settings):
    pixels = np.zeros((64, 64, 4), dtype=np.uint8)
    pixels[..., :3] = np.random.default_rng(0).integers(0, 256, (64, 64, 3))
    pixels[..., 3] = 255
    pixels[24:40, 24:40, 3] = 0  # the hole: LoadImage's mask is 1 where transparent
    Image.fromarray(pixels, "RGBA").save(folder_settings / "photo.png")
    model, clip = link("checkpoint", "model"), link("checkpoint", "clip")
    nodes = {
        "checkpoint": {
            "type": "graphflow.loaders.checkpoint",
            "inputs": {"checkpoint": checkpoint_name("sd1", "file")},
        },
        "prompt": {"type": "graphflow.conditioning.encode", "inputs": {"text": "a cat"}, "links": {"clip": clip}},
        "load": {"type": "graphflow.image.load", "inputs": {"image": "photo.png"}},
        "encode": {
            "type": "graphflow.inpaint.vae_encode",
            "inputs": {"grow_mask_by": 8},
            "links": {"image": link("load", "pixels"), "mask": link("load", "mask"), "vae": link("checkpoint", "vae")},
        },
        "sample": {
            "type": "graphflow.sampling.sample",
            "inputs": {
                "seed": 3,
                "steps": 4,
                "cfg": 1.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1.0,
            },
            "links": {
                "model": model,
                "positive": link("prompt", "conditioning"),
                "negative": link("prompt", "conditioning"),
                "latent": link("encode", "latent"),
            },
        },
    }
    outputs = run_graph(executor, nodes, "encode", "sample").outputs
    encoded, result = outputs["encode"]["latent"], outputs["sample"]["result"]
    keep = (encoded.noise_mask == 0).expand_as(encoded.samples)
    assert float(encoded.noise_mask.sum()) == 16.0  # cells 2..5: the 2x2-cell hole grown by one cell
    assert float((result.samples - encoded.samples)[keep].abs().max()) < 1e-5
    assert float((result.samples - encoded.samples)[~keep].abs().max()) > 1e-2
