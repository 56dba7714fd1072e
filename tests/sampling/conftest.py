"""Shared fixtures: the k-diffusion oracle, SD's noise table, a tiny model."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

from graphflow.sampling.model import DiffusionModel, ModelSampling
from tests.sampling.helpers import tiny_model


@pytest.fixture(scope="session")
def kdiffusion() -> types.ModuleType:
    """k-diffusion's sampling.py loaded under a stub package (its own package pulls torchvision)."""
    spec = importlib.util.find_spec("k_diffusion")
    if spec is None or spec.origin is None:
        pytest.skip("k-diffusion is not installed (.venv/bin/pip install --no-deps k-diffusion)")
    if importlib.util.find_spec("torchdiffeq") is None:  # only dpm_adaptive uses it
        sys.modules["torchdiffeq"] = types.SimpleNamespace(odeint=None)  # type: ignore[assignment]
    package = types.ModuleType("kdiffusion_oracle")
    package.__path__ = []
    utils = types.ModuleType("kdiffusion_oracle.utils")
    utils.append_dims = lambda x, n: x[(...,) + (None,) * (n - x.ndim)]  # type: ignore[attr-defined]
    sys.modules["kdiffusion_oracle"], sys.modules["kdiffusion_oracle.utils"] = package, utils
    package.utils = utils  # type: ignore[attr-defined]
    path = Path(spec.origin).parent / "sampling.py"
    sampling_spec = importlib.util.spec_from_file_location("kdiffusion_oracle.sampling", path)
    assert sampling_spec is not None and sampling_spec.loader is not None
    module = importlib.util.module_from_spec(sampling_spec)
    sampling_spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def sd_sampling() -> ModelSampling:
    """Stable Diffusion's noise table (scaled_linear betas, epsilon prediction)."""
    return ModelSampling.from_betas()


@pytest.fixture(scope="session")
def model() -> DiffusionModel:
    """One shared tiny epsilon-prediction model."""
    return tiny_model()
