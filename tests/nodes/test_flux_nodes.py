"""Flux Guidance: the guidance value rides on every conditioning entry and steers Flux dev's sampling."""

from pathlib import Path

import torch

from graphflow.nodes.flux import FluxGuidance
from graphflow.nodes.sampler import Sampler
from graphflow.sampling.conditioning import Area
from graphflow.sampling.latent import Latent
from tests.running import context_for
from tests.sampling.conftest_flow import flow_model, flow_text

CTX = context_for(Path("test-run"))


def test_flux_guidance_sets_the_value_on_every_entry_and_keeps_the_rest():
    model = flow_model("flux-dev")
    placed = flow_text(model, 2, area=Area(height=4, width=4), extras={"note": "kept"})
    conditioning = (flow_text(model, 1), placed)
    guided = FluxGuidance().run(CTX, conditioning=conditioning, guidance=6.0)
    assert [entry.extras["guidance"] for entry in guided] == [6.0, 6.0]
    assert guided[1].extras["note"] == "kept" and guided[1].area == placed.area
    assert torch.equal(guided[0].context, conditioning[0].context)
    assert "guidance" not in conditioning[0].extras  # the input conditioning is left as it was


def _sample(variant: str, guidance: float | None) -> torch.Tensor:
    model = flow_model(variant)
    positive = (flow_text(model, 1),)
    if guidance is not None:
        positive = FluxGuidance().run(CTX, conditioning=positive, guidance=guidance)
    return (
        Sampler()
        .run(
            CTX,
            model=model,
            positive=positive,
            negative=positive,
            latent=Latent(torch.zeros(1, 16, 4, 6)),
            seed=1,
            steps=2,
            cfg=1.0,
            sampler_name="euler",
            scheduler="simple",
            denoise=1.0,
        )
        .samples
    )


def test_flux_dev_samples_with_3_5_unless_told_otherwise():
    assert torch.equal(_sample("flux-dev", None), _sample("flux-dev", 3.5))
    assert (_sample("flux-dev", 3.5) - _sample("flux-dev", 8.0)).abs().max() > 1e-4


def test_flux_schnell_has_no_guidance_input_and_ignores_the_value():
    assert torch.equal(_sample("flux-schnell", 1.0), _sample("flux-schnell", 8.0))
