"""Hypernetwork loader node (ComfyUI's HypernetworkLoader): a MODEL copy that carries a hypernetwork.

The hypernetwork rewrites what the U-Net's attention layers read keys and values from, hooked in only
while the model samples; the cached U-Net is never changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphflow.api import FLOAT, MODEL, STRING, Context, Input, Output, Settings, hookimpl, node
from graphflow.models.builtin import model_choices, resolve_choice
from graphflow.models.cache import file_identity
from graphflow.models.paths import model_folder
from graphflow.patches.hypernetwork import Hypernetwork, read_hypernetwork
from graphflow.patches.hypernetwork_hooks import HypernetworkPatch, count_hooked
from graphflow.sampling.model import DiffusionModel

KIND = "hypernetworks"


def _load(ctx: Context, name: str, device: Any) -> Hypernetwork:
    """The file's networks on the model's device, read once per file version and shared through the model cache."""
    path = resolve_choice(ctx.settings.models_dir, KIND, name)
    return ctx.models.get_or_load(
        ("graphflow.hypernetwork", *file_identity(path), str(device)),
        lambda: read_hypernetwork(path).to(device),
        Hypernetwork.byte_size,
    )


@node("graphflow.loaders.hypernetwork", version="1.0.0", title="Load Hypernetwork", category="loaders")
class LoadHypernetwork:
    """Apply a hypernetwork file from models/hypernetworks (A1111's .pt, or .safetensors) to the model.

    Each attention layer reading a width the file has networks for gets its key and value inputs changed by
    `strength` times the networks' output. Chain several to stack them.
    """

    model = Input(MODEL)
    hypernetwork_name = Input(
        STRING,
        choices=lambda settings: model_choices(settings.models_dir, KIND),
        source="literal",
        widget="model_file",
        choices_help=lambda settings: (
            f"hypernetworks are read from {model_folder(settings.models_dir, KIND).resolve()}"
        ),
    )
    strength = Input(FLOAT, default=1.0, min=-10.0, max=10.0, step=0.01, description="0 leaves the model as it is")
    patched_model = Output(MODEL, "the model carrying the hypernetwork")

    @staticmethod
    def fingerprint(settings: Settings, hypernetwork_name: str | None = None, **_: Any) -> Any:
        """The file's identity, so a replaced file is read again."""
        return (
            file_identity(resolve_choice(settings.models_dir, KIND, hypernetwork_name)) if hypernetwork_name else None
        )

    def run(self, ctx: Context, model: DiffusionModel, hypernetwork_name: str, strength: float) -> DiffusionModel:
        if strength == 0:
            return model
        hypernetwork = _load(ctx, hypernetwork_name, model.device)
        if count_hooked(model.unet, hypernetwork) == 0:
            raise ValueError(
                f"hypernetwork {hypernetwork_name!r} has networks for widths {list(hypernetwork.widths)}, but no "
                "attention layer of this model reads any of them: it was made for another model family"
            )
        return model.with_hooks([HypernetworkPatch(hypernetwork, strength)])


@hookimpl
def register_nodes(register: Callable[[type], None]) -> None:
    """Provide the hypernetwork loader node."""
    register(LoadHypernetwork)
