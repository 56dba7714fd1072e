"""Model sampling nodes for flow models (ComfyUI's ModelSamplingSD3 and ModelSamplingFlux): how far the schedule is
shifted towards noise. Each gives a copy of the MODEL; the cached one is never changed."""

import dataclasses
from collections.abc import Callable

from graphflow.api import FLOAT, INT, MODEL, Context, Input, Output, hookimpl, node
from graphflow.sampling.flow import FLUX_BASE_SHIFT, FLUX_SHIFT, SD3_SHIFT, FlowSampling, flux_shift_for_size
from graphflow.sampling.model import DiffusionModel


def _flow_sampling(model: DiffusionModel, node_title: str) -> FlowSampling:
    if not isinstance(model.sampling, FlowSampling):
        raise ValueError(
            f"{node_title} shifts a flow-matching model's schedule (SD3, SD3.5, Flux), but this is a {model.family} "
            "model: leave the node out"
        )
    return model.sampling


@node("graphflow.sampling.model_sampling_sd3", version="1.0.0", title="Model Sampling SD3", category="sampling/model")
class ModelSamplingSD3:
    """Shift a flow model's schedule as SD3 does (ComfyUI's ModelSamplingSD3): sigma = shift*t / (1 + (shift-1)*t).

    Larger shifts spend more steps at high noise, where the composition forms; SD3 and SD3.5 use 3.0. The model
    keeps its own timestep scale (ComfyUI would give a Flux model SD3's x1000 here, which Flux does not expect).
    """

    model = Input(MODEL)
    shift = Input(FLOAT, default=SD3_SHIFT, min=0.01, max=100.0, step=0.01)
    result = Output(MODEL)

    def run(self, ctx: Context, model: DiffusionModel, shift: float) -> DiffusionModel:
        sampling = _flow_sampling(model, "Model Sampling SD3")
        return dataclasses.replace(model, sampling=sampling.with_shift(shift, kind="sd3"))


@node("graphflow.sampling.model_sampling_flux", version="1.0.0", title="Model Sampling Flux", category="sampling/model")
class ModelSamplingFlux:
    """Shift a flow model's schedule as Flux does for a picture of `width` x `height` (ComfyUI's ModelSamplingFlux).

    The shift grows linearly with the picture's 16-pixel patches, from `base_shift` at 256 of them (256 x 256) to
    `max_shift` at 4096 (1024 x 1024), and keeps growing past it. The model keeps its own timestep scale.
    """

    model = Input(MODEL)
    max_shift = Input(FLOAT, default=FLUX_SHIFT, min=0.0, max=100.0, step=0.01)
    base_shift = Input(FLOAT, default=FLUX_BASE_SHIFT, min=0.0, max=100.0, step=0.01)
    width = Input(INT, default=1024, min=16, max=16384, step=8)
    height = Input(INT, default=1024, min=16, max=16384, step=8)
    result = Output(MODEL)

    def run(
        self, ctx: Context, model: DiffusionModel, max_shift: float, base_shift: float, width: int, height: int
    ) -> DiffusionModel:
        sampling = _flow_sampling(model, "Model Sampling Flux")
        shift = flux_shift_for_size(width, height, max_shift, base_shift)
        return dataclasses.replace(model, sampling=sampling.with_shift(shift, kind="flux"))


@hookimpl
def register_nodes(register: Callable[[type], None]) -> None:
    """Provide the flow model sampling nodes."""
    register(ModelSamplingSD3)
    register(ModelSamplingFlux)
