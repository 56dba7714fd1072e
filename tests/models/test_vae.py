"""The VAE value: scaling, size checks, tiled encode/decode blending and bounded memory."""

import pytest
import torch
import torch.nn.functional as F

from graphflow.imaging.tiling import blend_tiles
from graphflow.models.vae import Vae, VaeSizeError


@pytest.fixture(scope="module")
def vae(saved_tiny) -> Vae:
    return Vae(saved_tiny["sd1"].models.vae)


def _latent(size: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(1, 4, size, size, generator=torch.Generator().manual_seed(seed)) * 0.5


def test_blending_of_a_local_operation_reproduces_it_exactly() -> None:
    latent = _latent(21)
    expected = F.interpolate(latent, scale_factor=8, mode="nearest")
    out = torch.zeros_like(expected)
    run = lambda y, x, h, w: F.interpolate(latent[:, :, y : y + h, x : x + w], scale_factor=8, mode="nearest")
    torch.testing.assert_close(blend_tiles(out, tile=8, overlap=3, run=run, scale=8), expected)


def test_decode_gives_an_image_and_encode_inverts_the_scaling(vae: Vae) -> None:
    image = vae.decode(_latent(8))
    assert image.shape == (1, 64, 64, 3) and image.dtype == torch.float32 and 0 <= image.min() <= image.max() <= 1
    with torch.no_grad():
        raw = vae.model.encode(image.permute(0, 3, 1, 2) * 2 - 1).latent_dist.mode()
    torch.testing.assert_close(vae.encode(image), raw * vae.scaling_factor)


def test_tiled_decode_is_close_to_untiled(vae: Vae) -> None:
    latent = _latent(16)
    full = vae.decode(latent)
    # one tile covering everything is exact; real overlap differs only through GroupNorm statistics and
    # the mid-block attention seeing a tile instead of the whole image (large for random weights)
    torch.testing.assert_close(vae.decode_tiled(latent, tile_size=128, overlap=64), full)
    error = (vae.decode_tiled(latent, tile_size=96, overlap=32) - full).abs()
    assert error.mean() < 0.04


def test_tiled_encode_is_close_to_untiled(vae: Vae) -> None:
    y, x = torch.meshgrid(torch.linspace(0, 1, 128), torch.linspace(0, 1, 128), indexing="ij")
    image = torch.stack([x, y, (x + y) / 2], dim=-1)[None]
    full = vae.encode(image)
    tiled = vae.encode_tiled(image, tile_size=64, overlap=32)
    assert tiled.shape == full.shape
    assert (tiled - full).abs().mean() < 0.6 * full.abs().mean()


def _largest_intermediate(vae: Vae, run) -> int:
    """Largest number of elements in any tensor a VAE submodule produced while `run()` ran."""
    largest = 0

    def record(module, inputs, output) -> None:
        nonlocal largest
        tensors = (
            [output]
            if isinstance(output, torch.Tensor)
            else [o for o in getattr(output, "values", lambda: [])() if isinstance(o, torch.Tensor)]
        )
        largest = max([largest, *(t.numel() for t in tensors)])

    handles = [m.register_forward_hook(record) for m in vae.model.modules()]
    try:
        run()
    finally:
        for handle in handles:
            handle.remove()
    return largest


def test_tiled_decode_memory_does_not_grow_with_image_size(vae: Vae) -> None:
    small, large = _latent(12), _latent(20)
    tiled = [
        _largest_intermediate(vae, lambda z=z: vae.decode_tiled(z, tile_size=64, overlap=16)) for z in (small, large)
    ]
    untiled = [_largest_intermediate(vae, lambda z=z: vae.decode(z)) for z in (small, large)]
    assert tiled[0] == tiled[1]
    assert untiled[1] > untiled[0] > tiled[0]


def test_sizes_that_are_not_multiples_of_the_downscale_are_refused(vae: Vae) -> None:
    with pytest.raises(VaeSizeError, match="60x60 is not a multiple of the VAE's downscale factor 8"):
        vae.encode(torch.zeros(1, 60, 60, 3))
    with pytest.raises(VaeSizeError, match="multiples of the VAE's downscale factor"):
        vae.decode_tiled(_latent(8), tile_size=60, overlap=8)
    with pytest.raises(VaeSizeError, match=r"latents \[B, 4, h, w\]"):
        vae.decode(torch.zeros(1, 3, 8, 8))
