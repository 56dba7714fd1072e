"""Latent -> RGB previews."""

from __future__ import annotations

import torch

from graphflow.sampling.model import SD1_LATENT_FORMAT, SDXL_LATENT_FORMAT, LatentFormat
from graphflow.sampling.preview import fit_latent_rgb_factors, latent_to_rgb, preview_image


def test_latent_to_rgb_applies_the_factors_and_bias() -> None:
    latent = torch.zeros(1, 4, 2, 2)
    latent[:, 0] = 1.0
    rgb = latent_to_rgb(latent, SDXL_LATENT_FORMAT)
    expected = (torch.tensor([0.3651 + 0.1084, 0.4232 - 0.0175, 0.4341 - 0.0011]) + 1) / 2
    assert rgb.shape == (1, 2, 2, 3)
    assert torch.allclose(rgb[0, 0, 0], expected)


def test_latent_to_rgb_clamps_to_the_unit_range() -> None:
    rgb = latent_to_rgb(torch.full((1, 4, 2, 2), 50.0), SD1_LATENT_FORMAT)
    assert rgb.min() >= 0 and rgb.max() <= 1


def test_preview_image_is_the_first_latent_at_latent_size() -> None:
    image = preview_image(torch.randn(2, 4, 16, 24), SD1_LATENT_FORMAT)
    assert image.size == (24, 16) and image.mode == "RGB"
    assert max(preview_image(torch.randn(1, 4, 64, 96), SD1_LATENT_FORMAT, max_size=48).size) == 48


def test_fitted_factors_recover_a_known_linear_map() -> None:
    factors = torch.tensor([[0.3, -0.1, 0.2], [0.1, 0.4, -0.3], [-0.2, 0.1, 0.5]])
    bias = torch.tensor([0.05, -0.1, 0.0])
    latents = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    images = ((latents.movedim(1, -1) @ factors + bias) + 1) / 2
    fitted, fitted_bias = fit_latent_rgb_factors(latents, images)
    assert torch.allclose(fitted, factors, atol=1e-4) and torch.allclose(fitted_bias, bias, atol=1e-4)
    fmt = LatentFormat(3, 1.0, tuple(tuple(row) for row in fitted.tolist()), tuple(fitted_bias.tolist()))
    assert torch.allclose(latent_to_rgb(latents, fmt), images.clamp(0, 1), atol=1e-4)
