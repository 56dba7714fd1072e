"""Model Sampling SD3 and Model Sampling Flux: a copy of the MODEL with its schedule shifted, as ComfyUI's nodes do."""

from pathlib import Path

import pytest
import torch

from graphflow.nodes.model_sampling import ModelSamplingFlux, ModelSamplingSD3
from graphflow.plugins import build_plugins
from graphflow.sampling.flow import FlowSampling
from graphflow.sampling.model import SD1_LATENT_FORMAT, DiffusionModel
from tests.running import context_for
from tests.sampling.helpers import tiny_model

CTX = context_for(Path("test-run"))


def flow_model(sampling: FlowSampling) -> DiffusionModel:
    """A MODEL value carrying `sampling` (the nodes only read and replace the sampling)."""
    return DiffusionModel(
        torch.nn.Identity(), sampling, sampling.kind, SD1_LATENT_FORMAT, torch.device("cpu"), torch.float32
    )


def test_model_sampling_sd3_gives_a_copy_with_the_new_shift() -> None:
    model = flow_model(FlowSampling("sd3"))
    shifted = ModelSamplingSD3().run(CTX, model=model, shift=6.0)
    assert isinstance(shifted.sampling, FlowSampling)
    assert (shifted.sampling.kind, shifted.sampling.shift, shifted.sampling.multiplier) == ("sd3", 6.0, 1000.0)
    assert float(shifted.sampling.sigma(500.0)) == pytest.approx(6 / 7)
    assert shifted.unet is model.unet
    assert model.sampling.shift == 3.0  # the cached model is left as it was


def test_model_sampling_flux_takes_its_shift_from_the_picture_size() -> None:
    model = flow_model(FlowSampling("flux"))
    node = ModelSamplingFlux()
    at_1024 = node.run(CTX, model=model, max_shift=1.15, base_shift=0.5, width=1024, height=1024).sampling
    at_256 = node.run(CTX, model=model, max_shift=1.15, base_shift=0.5, width=256, height=256).sampling
    assert isinstance(at_1024, FlowSampling) and isinstance(at_256, FlowSampling)
    assert (at_1024.kind, at_1024.shift, at_1024.multiplier) == ("flux", pytest.approx(1.15), 1.0)
    assert at_256.shift == pytest.approx(0.5)
    assert float(at_256.sigma(0.5)) < float(at_1024.sigma(0.5))  # smaller pictures need less time at high noise


def test_model_sampling_flux_on_an_sd3_model_keeps_its_timestep_scale() -> None:
    model = flow_model(FlowSampling("sd3"))
    sampling = ModelSamplingFlux().run(CTX, model=model, max_shift=1.15, base_shift=0.5, width=512, height=512).sampling
    assert isinstance(sampling, FlowSampling)
    assert (sampling.kind, sampling.multiplier) == ("flux", 1000.0)
    assert float(sampling.timestep(sampling.sigma(500.0))) == pytest.approx(float(sampling.sigma(500.0)) * 1000)


@pytest.mark.parametrize(
    ("node", "title", "inputs"),
    [
        (ModelSamplingSD3, "Model Sampling SD3", {"shift": 3.0}),
        (ModelSamplingFlux, "Model Sampling Flux", {"max_shift": 1.15, "base_shift": 0.5, "width": 64, "height": 64}),
    ],
)
def test_a_model_that_is_not_a_flow_model_is_refused_naming_the_node(node: type, title: str, inputs: dict) -> None:
    with pytest.raises(ValueError, match=f"^{title} shifts a flow-matching model's schedule.*this is a sd1 model"):
        node().run(CTX, model=tiny_model(), **inputs)


def test_both_nodes_are_registered_as_builtins() -> None:
    specs = build_plugins(entry_points=False).registry.specs
    assert specs["graphflow.sampling.model_sampling_sd3"].title == "Model Sampling SD3"
    assert specs["graphflow.sampling.model_sampling_flux"].title == "Model Sampling Flux"
