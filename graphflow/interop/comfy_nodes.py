"""The mapping table between ComfyUI node types and graphflow node types.

One `NodeMap` per ComfyUI class: which graphflow type it becomes, how its inputs are renamed and
their values converted, the order of its widgets in ComfyUI's UI format (with UI-only entries),
and the graphflow output name of each ComfyUI output index.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# UI-only widgets that take a slot in `widgets_values` but never reach the server.
CONTROL = "<control_after_generate>"
UPLOAD = "<upload>"
CONTROL_VALUES = frozenset({"fixed", "increment", "decrement", "randomize"})


class ValueMapError(ValueError):
    """A ComfyUI value has no graphflow counterpart."""


@dataclass(frozen=True)
class ValueMap:
    """A two-way conversion of the values of one input (ComfyUI value -> graphflow value)."""

    forward: Mapping[Any, Any]
    strict: bool = True  # values outside `forward` are refused (else passed through unchanged)

    def to_graphflow(self, value: Any) -> Any:
        """The graphflow value of a ComfyUI value."""
        if value in self.forward:
            return self.forward[value]
        if self.strict:
            raise ValueMapError(f"{value!r} is not one of: {', '.join(map(str, self.forward))}")
        return value

    def to_comfy(self, value: Any) -> Any:
        """The ComfyUI value of a graphflow value."""
        for comfy, ours in self.forward.items():
            if type(ours) is type(value) and ours == value:  # True must not match 1
                return comfy
        return value

    @property
    def choices(self) -> list[Any]:
        """The ComfyUI values, in order (a combo list in /object_info)."""
        return list(self.forward)


ENABLE = ValueMap({"enable": True, "disable": False})
IMAGE_METHOD = ValueMap(
    {"nearest-exact": "nearest", "bilinear": "bilinear", "area": "area", "bicubic": "bicubic", "lanczos": "lanczos"}
)
LATENT_METHOD = ValueMap({"nearest-exact": "nearest", "bilinear": "bilinear", "bislerp": "bislerp"})


def _vae_family(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """ComfyUI reads a VAE's kind from its weights; graphflow is told. SDXL VAEs are named so."""
    name = str(inputs.get("vae_name", "")).lower()
    return {"family": "sdxl" if "xl" in name else "sd1"}


def _discrete_timesteps(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """ComfyUI gives the U-Net whole training timesteps; graphflow does so when asked."""
    return {"timesteps": "discrete"}


@dataclass(frozen=True)
class NodeMap:
    """How one ComfyUI node type becomes one graphflow node."""

    comfy: str
    target: str
    outputs: tuple[str, ...] = ()
    widgets: tuple[str, ...] = ()
    renames: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, ValueMap] = field(default_factory=dict)
    ignored: Mapping[str, Any] = field(default_factory=dict)  # ComfyUI-only inputs -> ComfyUI default
    derive: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None  # extra graphflow literals
    category: str = ""

    def graphflow_input(self, name: str) -> str:
        """The graphflow name of a ComfyUI input."""
        return self.renames.get(name, name)

    def comfy_input(self, name: str) -> str:
        """The ComfyUI name of a graphflow input."""
        for comfy, ours in self.renames.items():
            if ours == name:
                return comfy
        return name

    @property
    def derived(self) -> frozenset[str]:
        """graphflow inputs set by `derive`, which do not exist in ComfyUI."""
        return frozenset(self.derive({}) if self.derive else ())


def _m(
    comfy: str, target: str, outputs: tuple[str, ...], widgets: tuple[str, ...] = (), category: str = "", **options: Any
) -> NodeMap:
    return NodeMap(comfy, target, outputs, widgets, category=category, **options)


_TILED = {"temporal_size": 64, "temporal_overlap": 8}
_TABLE = (
    _m(
        "CheckpointLoaderSimple",
        "graphflow.loaders.checkpoint",
        ("model", "clip", "vae"),
        ("ckpt_name",),
        "loaders",
        renames={"ckpt_name": "checkpoint"},
        derive=_discrete_timesteps,
    ),
    _m("VAELoader", "graphflow.loaders.vae", ("vae",), ("vae_name",), "loaders", derive=_vae_family),
    _m("UpscaleModelLoader", "graphflow.upscale.load_model", ("upscale_model",), ("model_name",), "loaders"),
    _m(
        "LoraLoader",
        "graphflow.loaders.lora",
        ("patched_model", "patched_clip"),
        ("lora_name", "strength_model", "strength_clip"),
        "loaders",
    ),
    _m("ControlNetLoader", "graphflow.loaders.controlnet", ("control_net",), ("control_net_name",), "loaders"),
    _m("DiffControlNetLoader", "graphflow.loaders.diff_controlnet", ("control_net",), ("control_net_name",), "loaders"),
    _m(
        "LoraLoaderModelOnly",
        "graphflow.loaders.lora_model_only",
        ("patched_model",),
        ("lora_name", "strength_model"),
        "loaders",
    ),
    _m("CLIPTextEncode", "graphflow.conditioning.encode", ("conditioning",), ("text",), "conditioning"),
    _m(
        "ControlNetApply",
        "graphflow.conditioning.controlnet",
        ("result",),
        ("strength",),
        "conditioning/controlnet",
    ),
    _m(
        "ControlNetApplyAdvanced",
        "graphflow.conditioning.controlnet_advanced",
        ("positive_out", "negative_out"),
        ("strength", "start_percent", "end_percent"),
        "conditioning/controlnet",
    ),
    _m("Canny", "graphflow.preprocess.canny", ("result",), ("low_threshold", "high_threshold"), "image/preprocessors"),
    _m("CLIPSetLastLayer", "graphflow.conditioning.clip_skip", ("result",), ("stop_at_clip_layer",), "conditioning"),
    _m(
        "ConditioningCombine",
        "graphflow.conditioning.combine",
        ("conditioning",),
        (),
        "conditioning",
        renames={"conditioning_1": "first", "conditioning_2": "second"},
    ),
    _m(
        "ConditioningAverage",
        "graphflow.conditioning.average",
        ("conditioning",),
        ("conditioning_to_strength",),
        "conditioning",
        renames={"conditioning_to": "to", "conditioning_from": "source", "conditioning_to_strength": "to_strength"},
    ),
    _m(
        "ConditioningConcat",
        "graphflow.conditioning.concat",
        ("conditioning",),
        (),
        "conditioning",
        renames={"conditioning_to": "to", "conditioning_from": "source"},
    ),
    _m("EmptyLatentImage", "graphflow.latent.empty", ("latent",), ("width", "height", "batch_size"), "latent"),
    _m(
        "KSampler",
        "graphflow.sampling.sample",
        ("result",),
        ("seed", CONTROL, "steps", "cfg", "sampler_name", "scheduler", "denoise"),
        "sampling",
        renames={"latent_image": "latent"},
    ),
    _m(
        "KSamplerAdvanced",
        "graphflow.sampling.sample_advanced",
        ("result",),
        (
            "add_noise",
            "noise_seed",
            CONTROL,
            "steps",
            "cfg",
            "sampler_name",
            "scheduler",
            "start_at_step",
            "end_at_step",
            "return_with_leftover_noise",
        ),
        "sampling",
        renames={"latent_image": "latent"},
        values={"add_noise": ENABLE, "return_with_leftover_noise": ENABLE},
    ),
    _m("VAEDecode", "graphflow.vae.decode", ("image",), (), "latent", renames={"samples": "latent"}),
    _m("VAEEncode", "graphflow.vae.encode", ("latent",), (), "latent", renames={"pixels": "image"}),
    _m(
        "VAEDecodeTiled",
        "graphflow.vae.decode_tiled",
        ("image",),
        ("tile_size", "overlap", "temporal_size", "temporal_overlap"),
        "latent",
        renames={"samples": "latent"},
        ignored=_TILED,
    ),
    _m(
        "VAEEncodeTiled",
        "graphflow.vae.encode_tiled",
        ("latent",),
        ("tile_size", "overlap", "temporal_size", "temporal_overlap"),
        "latent",
        renames={"pixels": "image"},
        ignored=_TILED,
    ),
    _m(
        "VAEEncodeForInpaint",
        "graphflow.inpaint.vae_encode",
        ("latent",),
        ("grow_mask_by",),
        "latent/inpaint",
        renames={"pixels": "image"},
    ),
    _m(
        "SetLatentNoiseMask",
        "graphflow.inpaint.set_noise_mask",
        ("result",),
        (),
        "latent/inpaint",
        renames={"samples": "latent"},
    ),
    _m(
        "LatentUpscale",
        "graphflow.latent.upscale",
        ("result",),
        ("upscale_method", "width", "height", "crop"),
        "latent",
        renames={"samples": "latent", "upscale_method": "method"},
        values={"upscale_method": LATENT_METHOD},
    ),
    _m(
        "LatentUpscaleBy",
        "graphflow.latent.upscale_by",
        ("result",),
        ("upscale_method", "scale_by"),
        "latent",
        renames={"samples": "latent", "upscale_method": "method"},
        values={"upscale_method": LATENT_METHOD},
    ),
    _m(
        "LatentComposite",
        "graphflow.latent.composite",
        ("result",),
        ("x", "y", "feather"),
        "latent",
        renames={"samples_to": "destination", "samples_from": "source"},
    ),
    _m(
        "LatentBlend",
        "graphflow.latent.blend",
        ("result",),
        ("blend_factor",),
        "latent",
        renames={"samples1": "first", "samples2": "second", "blend_factor": "factor"},
    ),
    _m(
        "LatentBatch",
        "graphflow.latent.batch",
        ("result",),
        (),
        "latent",
        renames={"samples1": "first", "samples2": "second"},
    ),
    _m(
        "LatentFromBatch",
        "graphflow.latent.from_batch",
        ("result",),
        ("batch_index", "length"),
        "latent/batch",
        renames={"samples": "latent"},
    ),
    _m(
        "RepeatLatentBatch",
        "graphflow.latent.repeat_batch",
        ("result",),
        ("amount",),
        "latent/batch",
        renames={"samples": "latent"},
    ),
    _m("LoadImage", "graphflow.image.load", ("pixels", "mask"), ("image", UPLOAD), "image"),
    _m("SaveImage", "graphflow.image.save", (), ("filename_prefix",), "image"),
    _m("PreviewImage", "graphflow.image.preview", (), (), "image"),
    _m(
        "ImageScale",
        "graphflow.image.scale_to",
        ("result",),
        ("upscale_method", "width", "height", "crop"),
        "image/upscaling",
        renames={"upscale_method": "method"},
        values={"upscale_method": IMAGE_METHOD},
    ),
    _m(
        "ImageScaleBy",
        "graphflow.image.scale_by",
        ("result",),
        ("upscale_method", "scale_by"),
        "image/upscaling",
        renames={"upscale_method": "method", "scale_by": "factor"},
        values={"upscale_method": IMAGE_METHOD},
    ),
    _m("ImageInvert", "graphflow.image.invert", ("result",), (), "image"),
    _m("ImageCrop", "graphflow.image.crop", ("result",), ("width", "height", "x", "y"), "image/transform"),
    _m("ImageBatch", "graphflow.image.batch", ("result",), (), "image"),
    _m(
        "ImageFromBatch",
        "graphflow.image.from_batch",
        ("result",),
        ("batch_index", "length"),
        "image/batch",
        renames={"batch_index": "index"},
    ),
    _m("RepeatImageBatch", "graphflow.image.repeat_batch", ("result",), ("amount",), "image/batch"),
    _m("ImageCompositeMasked", "graphflow.image.composite", ("result",), ("x", "y", "resize_source"), "image"),
    _m("ImageUpscaleWithModel", "graphflow.upscale.with_model", ("result",), (), "image/upscaling"),
    _m("SolidMask", "graphflow.mask.solid", ("mask",), ("value", "width", "height"), "mask"),
    _m("InvertMask", "graphflow.mask.invert", ("result",), (), "mask"),
    _m(
        "GrowMask",
        "graphflow.mask.grow",
        ("result",),
        ("expand", "tapered_corners"),
        "mask",
        renames={"expand": "pixels"},
    ),
    _m("FeatherMask", "graphflow.mask.feather", ("result",), ("left", "top", "right", "bottom"), "mask"),
    _m("MaskComposite", "graphflow.mask.composite", ("result",), ("x", "y", "operation"), "mask"),
    _m("ThresholdMask", "graphflow.mask.threshold", ("result",), ("value",), "mask"),
    _m("CropMask", "graphflow.mask.crop", ("result",), ("x", "y", "width", "height"), "mask"),
    _m("ImageToMask", "graphflow.mask.from_image", ("mask",), ("channel",), "mask"),
    _m("ImageColorToMask", "graphflow.mask.from_color", ("mask",), ("color",), "mask"),
    _m("MaskToImage", "graphflow.mask.to_image", ("image",), (), "mask"),
)

NODE_MAPS: dict[str, NodeMap] = {entry.comfy: entry for entry in _TABLE}

# LoadImageMask becomes graphflow's Load Image (its MASK output is 1 - alpha, as in ComfyUI) for the
# alpha channel, or Load Image + Image to Mask for a colour channel; see `comfy_import`.
LOAD_IMAGE_MASK = "LoadImageMask"
LOAD_IMAGE_MASK_WIDGETS = ("image", "channel", UPLOAD)
SUPPORTED: frozenset[str] = frozenset(NODE_MAPS) | {LOAD_IMAGE_MASK}

# ComfyUI frontend-only node types: never executed, never sent to a server.
VIRTUAL_NODES = frozenset({"Reroute", "PrimitiveNode", "Note", "MarkdownNote"})


def by_target(type_id: str) -> NodeMap | None:
    """The first mapping whose graphflow type is `type_id` (for export without recorded origin)."""
    return next((entry for entry in _TABLE if entry.target == type_id), None)
