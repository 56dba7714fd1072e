"""ControlNet nodes: load a ControlNet or T2I-Adapter (plain or diff), apply it to conditioning with a hint picture."""

from typing import Any, NamedTuple

import torch

from graphflow.api import (
    CONDITIONING,
    CONTROL_NET,
    FLOAT,
    IMAGE,
    MODEL,
    STRING,
    VAE,
    Context,
    Input,
    Output,
    Settings,
    hookimpl,
    node,
)
from graphflow.control.control import apply_control
from graphflow.control.loader import load_control_model, load_diff_control_model
from graphflow.control.model import ControlModel
from graphflow.models.builtin import model_choices, resolve_choice
from graphflow.models.cache import file_identity
from graphflow.models.paths import model_folder
from graphflow.models.vae import Vae
from graphflow.sampling.conditioning import Conditioning
from graphflow.sampling.model import DiffusionModel

CATEGORY = "conditioning/controlnet"


KIND = "controlnet"


def _name_input() -> Input:
    return Input(
        STRING,
        choices=lambda settings: model_choices(settings.models_dir, KIND),
        choices_help=lambda settings: (
            "ControlNets and T2I-Adapters (files or diffusers folders) are read from "
            f"{model_folder(settings.models_dir, KIND).resolve()}"
        ),
        source="literal",
        widget="model_file",
    )


def _identity(settings: Settings, control_net_name: str | None = None, **_: Any) -> Any:
    """The file's (or folder's) identity, so a replaced model is loaded again."""
    return file_identity(resolve_choice(settings.models_dir, KIND, control_net_name)) if control_net_name else None


@node("graphflow.loaders.controlnet", version="1.0.0", title="Load ControlNet", category="loaders")
class LoadControlNet:
    """Load a ControlNet or T2I-Adapter from models/controlnet, or a built-in one.

    Reads original single files (`control_v11p_sd15_canny.safetensors`, SDXL ControlNets, TencentARC
    `t2iadapter_*`), files in diffusers' names, and diffusers folders (config.json + weights). The
    family (SD1, SD2, SDXL) is read from the weights. Diff ControlNets need Load ControlNet (diff).
    """

    control_net_name = _name_input()
    control_net = Output(CONTROL_NET)

    fingerprint = staticmethod(_identity)

    def run(self, ctx: Context, control_net_name: str) -> ControlModel:
        path = resolve_choice(ctx.settings.models_dir, KIND, control_net_name)
        ctx.log.info("loading %s", path)
        return load_control_model(path, device=ctx.settings.device, cache=ctx.models)


@node("graphflow.loaders.diff_controlnet", version="1.0.0", title="Load ControlNet (diff)", category="loaders")
class LoadDiffControlNet:
    """Load a diff ControlNet (`diff_control_sd15_*`), whose weights are differences to a base model's UNet.

    The model's UNet weights (with any LoRA it carries) are added to the file's; an ordinary ControlNet
    file loads as with Load ControlNet.
    """

    model = Input(MODEL)
    control_net_name = _name_input()
    control_net = Output(CONTROL_NET)

    fingerprint = staticmethod(_identity)

    def run(self, ctx: Context, model: DiffusionModel, control_net_name: str) -> ControlModel:
        path = resolve_choice(ctx.settings.models_dir, KIND, control_net_name)
        ctx.log.info("loading %s onto the model", path)
        return load_diff_control_model(path, model, device=ctx.settings.device)


def _strength() -> Input:
    return Input(FLOAT, default=1.0, min=0.0, max=10.0, step=0.01, description="0 leaves the conditioning unchanged")


@node("graphflow.conditioning.controlnet", version="1.0.0", title="Apply ControlNet", category=CATEGORY)
class ApplyControlNet:
    """Steer sampling with a ControlNet or T2I-Adapter following a hint picture (ComfyUI's older ControlNetApply).

    The hint is resized to the latent's size in pixels. Only the positive prompt is wired, but the
    control also drives the negative side when that has none, as in ComfyUI. Applied to a conditioning
    that already carries a control, the two add up.
    """

    conditioning = Input(CONDITIONING)
    control_net = Input(CONTROL_NET)
    image = Input(IMAGE, description="the hint, e.g. an edge map from Canny")
    strength = _strength()
    result = Output(CONDITIONING)

    def run(
        self, ctx: Context, conditioning: Conditioning, control_net: ControlModel, image: torch.Tensor, strength: float
    ) -> Conditioning:
        (result,) = apply_control([conditioning], control_net, image, strength, apply_to_uncond=True)
        return result


class Controlled(NamedTuple):
    """What Apply ControlNet (Advanced) gives."""

    positive_out: Conditioning
    negative_out: Conditioning


@node(
    "graphflow.conditioning.controlnet_advanced",
    version="1.0.0",
    title="Apply ControlNet (Advanced)",
    category=CATEGORY,
)
class ApplyControlNetAdvanced:
    """Apply a ControlNet or T2I-Adapter to both prompts, active for part of the sampling (ControlNetApplyAdvanced).

    `start_percent` and `end_percent` bound the part of the model's noise range in which the control
    acts (0: the noisiest start, 1: the end). Controls applied one after another add up. `vae` is
    accepted for ComfyUI workflows; the SD1/SD2/SDXL ControlNets graphflow loads read pixel hints and
    do not use it.
    """

    positive = Input(CONDITIONING)
    negative = Input(CONDITIONING)
    control_net = Input(CONTROL_NET)
    image = Input(IMAGE, description="the hint, e.g. an edge map from Canny")
    strength = _strength()
    start_percent = Input(FLOAT, default=0.0, min=0.0, max=1.0, step=0.001)
    end_percent = Input(FLOAT, default=1.0, min=0.0, max=1.0, step=0.001)
    vae = Input(VAE, optional=True)
    positive_out = Output(CONDITIONING)
    negative_out = Output(CONDITIONING)

    def run(
        self,
        ctx: Context,
        positive: Conditioning,
        negative: Conditioning,
        control_net: ControlModel,
        image: torch.Tensor,
        strength: float,
        start_percent: float,
        end_percent: float,
        vae: Vae | None,
    ) -> Controlled:
        if start_percent > end_percent:
            ctx.log.warning("start_percent %s > end_percent %s: the control never acts", start_percent, end_percent)
            return Controlled(positive, negative)
        positive_out, negative_out = apply_control(
            [positive, negative], control_net, image, strength, start_percent, end_percent
        )
        return Controlled(positive_out, negative_out)


@hookimpl
def register_nodes(register) -> None:
    """Provide the ControlNet nodes."""
    register(LoadControlNet)
    register(LoadDiffControlNet)
    register(ApplyControlNet)
    register(ApplyControlNetAdvanced)
