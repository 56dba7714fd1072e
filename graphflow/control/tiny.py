"""Small random ControlNets and T2I-Adapters for tests and benchmarks, savable in each file layout graphflow reads."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from diffusers import ControlNetModel, T2IAdapter, UNet2DConditionModel
from safetensors.torch import save_file

from graphflow.models.embedded import CONFIGS_KEY

from .convert import adapter_to_original, controlnet_to_ldm
from .detect import DIFF_MARKER, LDM_PREFIX

# four levels, as the original layout's hint encoder has (SD's are 16, 32, 96, 256)
TINY_HINT_CHANNELS = (4, 8, 8, 16)
# the parts ControlNetModel.from_unet leaves at zero, so that a fresh ControlNet changes nothing
_ZERO_INITIALISED = ("controlnet_down_blocks.", "controlnet_mid_block.", "controlnet_cond_embedding.conv_out.")


def controlnet_from_unet(
    unet: UNet2DConditionModel,
    seed: int = 0,
    scale: float = 0.2,
    hint_channels: Sequence[int] = TINY_HINT_CHANNELS,
) -> ControlNetModel:
    """A ControlNet copying `unet`'s encoder whose zero-initialised outputs get seeded random weights (std `scale`).

    With `scale` 0 it is diffusers' untrained starting point, which leaves the UNet's output unchanged.
    """
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=tuple(hint_channels))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in controlnet.named_parameters():
            if name.startswith(_ZERO_INITIALISED):
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale)
    return controlnet.eval()


def tiny_adapter(
    channels: Sequence[int], seed: int = 0, in_channels: int = 3, blocks: int = 1, kind: str = "full_adapter"
) -> T2IAdapter:
    """A seeded random T2I-Adapter whose features have `channels` widths (one per UNet down block)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        factor = 16 if kind == "full_adapter_xl" else 8
        adapter = T2IAdapter(
            in_channels=in_channels,
            channels=list(channels),
            num_res_blocks=blocks,
            downscale_factor=factor,
            adapter_type=kind,
        )
    return adapter.eval()


def _config_metadata(kind: str, config: dict) -> dict[str, str]:
    return {CONFIGS_KEY: json.dumps({kind: {k: v for k, v in config.items() if not k.startswith("_")}})}


def save_controlnet_file(
    controlnet: ControlNetModel,
    path: str | Path,
    *,
    layout: str = "ldm",
    prefix: bool = True,
    base: UNet2DConditionModel | None = None,
    embed_config: bool = False,
) -> Path:
    """Write `controlnet` as one .safetensors file.

    `layout` "ldm" is the original layout (under `control_model.` unless `prefix` is False), "diffusers"
    the model's own names. With `base`, a diff ControlNet: every weight the UNet shares is stored as
    the difference to it (original layout, with the diff marker). `embed_config` writes the config
    into the metadata, for models whose attention heads the weights cannot tell.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().clone() for k, v in controlnet.state_dict().items()}
    if base is not None:
        base_state = base.state_dict()
        state = {k: v - base_state[k] if k in base_state else v for k, v in state.items()}
    if layout == "ldm":
        state = controlnet_to_ldm(state, controlnet.config)
        if not prefix:
            state = {k[len(LDM_PREFIX) :]: v for k, v in state.items()}
    elif layout != "diffusers":
        raise ValueError(f"unknown layout {layout!r}: expected 'ldm' or 'diffusers'")
    if base is not None:
        state[DIFF_MARKER] = torch.zeros(0)
    metadata = _config_metadata("controlnet", dict(controlnet.config)) if embed_config else None
    save_file({k: v.contiguous() for k, v in state.items()}, str(path), metadata=metadata)
    return path


def save_adapter_file(adapter: T2IAdapter, path: str | Path, *, layout: str = "original") -> Path:
    """Write a full T2I-Adapter as one .safetensors file, in the original (TencentARC) layout or diffusers names."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = adapter.state_dict()
    if layout == "original":
        state = adapter_to_original(state)
    elif layout != "diffusers":
        raise ValueError(f"unknown layout {layout!r}: expected 'original' or 'diffusers'")
    save_file({k: v.detach().contiguous() for k, v in state.items()}, str(path))
    return path
