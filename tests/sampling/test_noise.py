"""Seeded initial noise and the noise samplers."""

from __future__ import annotations

import torch

from graphflow.sampling.latent import Latent
from graphflow.sampling.noise import BrownianTreeNoiseSampler, prepare_noise, seeded_noise_sampler


def test_the_same_seed_gives_the_same_noise() -> None:
    latent = Latent(torch.zeros(2, 4, 8, 8))
    assert torch.equal(prepare_noise(latent, 42), prepare_noise(latent, 42))
    assert not torch.equal(prepare_noise(latent, 42), prepare_noise(latent, 43))


def test_noise_is_cpu_randn_from_the_seed() -> None:
    expected = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(7))
    assert torch.equal(prepare_noise(Latent(torch.zeros(1, 4, 8, 8)), 7), expected)


def test_batch_index_reproduces_the_noise_of_that_batch_position() -> None:
    full = prepare_noise(Latent(torch.zeros(3, 4, 8, 8)), 5)
    picked = prepare_noise(Latent(torch.zeros(2, 4, 8, 8), batch_index=[2, 0]), 5)
    assert torch.equal(picked[0], full[2]) and torch.equal(picked[1], full[0])


def test_seeded_noise_sampler_repeats_for_a_seed_and_follows_x() -> None:
    x = torch.zeros(2, 3, dtype=torch.float64)
    first, second = seeded_noise_sampler(x, 3), seeded_noise_sampler(x, 3)
    draws = [first(torch.tensor(1.0), torch.tensor(0.5)) for _ in range(2)]
    assert draws[0].dtype == torch.float64 and not torch.equal(draws[0], draws[1])
    assert torch.equal(draws[0], second(torch.tensor(1.0), torch.tensor(0.5)))


def test_brownian_noise_is_consistent_across_step_sizes() -> None:
    x = torch.zeros(4, 5, dtype=torch.float64)
    tree = BrownianTreeNoiseSampler(x, 0.1, 10.0, seed=1)
    a, b, c = torch.tensor(8.0), torch.tensor(3.0), torch.tensor(0.5)
    whole = tree(a, c) * (a - c).sqrt()
    parts = tree(a, b) * (a - b).sqrt() + tree(b, c) * (b - c).sqrt()
    assert torch.allclose(whole, parts, atol=1e-6)
    assert torch.equal(BrownianTreeNoiseSampler(x, 0.1, 10.0, seed=1)(a, b), tree(a, b))
