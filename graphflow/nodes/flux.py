"""Flux's own conditioning node: the guidance value a guidance-distilled Flux model (dev) is asked for."""

from collections.abc import Callable

from graphflow.api import CONDITIONING, FLOAT, Context, Input, Output, hookimpl, node
from graphflow.sampling.conditioning import Conditioning
from graphflow.sampling.transformer_call import FLUX_GUIDANCE, with_flux_guidance


@node("graphflow.conditioning.flux_guidance", version="1.0.0", title="Flux Guidance", category="conditioning/flux")
class FluxGuidance:
    """Set the guidance Flux dev is asked for (ComfyUI's FluxGuidance); models without guidance input ignore it.

    Flux dev was distilled to follow its prompt as strongly as classifier-free guidance at this scale would,
    in one pass: use it in place of cfg (keep cfg at 1).
    """

    conditioning = Input(CONDITIONING)
    guidance = Input(FLOAT, default=FLUX_GUIDANCE, min=0.0, max=100.0, step=0.1)
    result = Output(CONDITIONING)

    def run(self, ctx: Context, conditioning: Conditioning, guidance: float) -> Conditioning:
        return with_flux_guidance(conditioning, guidance)


@hookimpl
def register_nodes(register: Callable[[type], None]) -> None:
    """Provide the Flux conditioning node."""
    register(FluxGuidance)
