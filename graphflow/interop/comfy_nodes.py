"""The mapping table between ComfyUI node types and graphflow node types.

One `NodeMap` per ComfyUI class: which graphflow type it becomes, how its inputs are renamed and
their values converted, ComfyUI's own input order (its INPUT_TYPES, which `/object_info` repeats and
clients that build calls by position rely on), the order of its widgets in ComfyUI's UI format (with
UI-only entries), the graphflow output name of each ComfyUI output index, and what ComfyUI's
`/object_info` says about the node (display name, category, description, module).

To map a new node: add a `NodeMap` to `_TABLE` with `inputs` copied from the class's INPUT_TYPES
("required" in order; "optional" to `optional`) and `widgets` in the same order, with `CONTROL` after
an input declared `control_after_generate` and `UPLOAD` after one declared `image_upload`.
`tests/interop/test_comfy_nodes.py` checks every entry against its graphflow node.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphflow.interop.comfy_maps import (
    CONTROL,
    CONTROL_VALUES,
    DISABLE_FIRST,
    ENABLE,
    IMAGE_METHOD,
    LATENT_METHOD,
    OUTPUT_HIDDEN,
    UI_ONLY,
    UPLOAD,
    NodeMap,
    ValueMap,
    ValueMapError,
)

__all__ = [
    "CONTROL",
    "CONTROL_VALUES",
    "DISABLE_FIRST",
    "ENABLE",
    "IMAGE_METHOD",
    "LATENT_METHOD",
    "LOAD_IMAGE_MASK",
    "NODE_MAPS",
    "OUTPUT_HIDDEN",
    "SUPPORTED",
    "UI_ONLY",
    "UPLOAD",
    "VIRTUAL_NODES",
    "NodeMap",
    "ValueMap",
    "ValueMapError",
    "by_target",
    "widget_names",
]
from graphflow.interop.comfy_nodes_classic import CLASSIC_TABLE
from graphflow.interop.comfy_nodes_flow import FLOW_TABLE

_VAE_WORDS = (("flux", "flux"), ("sd3", "sd3"), ("xl", "sdxl"))  # words in a VAE's path -> its family


def _vae_family(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """ComfyUI reads a VAE's kind from its weights; graphflow is told, here by the file's path: Flux's is
    ae.safetensors, SD3/SDXL ones are named so, anything else is SD1's."""
    path = str(inputs.get("vae_name", "")).lower().replace("\\", "/")
    if path.rsplit("/", 1)[-1] == "ae.safetensors":
        return {"family": "flux"}
    return {"family": next((family for word, family in _VAE_WORDS if word in path), "sd1")}


# ComfyUI's DESCRIPTIONs (nodes.py); PreviewImage and LoraLoaderModelOnly inherit theirs from their base classes.
_CHECKPOINT_TEXT = "Loads a diffusion model checkpoint, diffusion models are used to denoise latents."
_LORA_TEXT = (
    "LoRAs are used to modify diffusion and CLIP models, altering the way in which latents are denoised such as "
    "applying styles. Multiple LoRA nodes can be linked together."
)
_ENCODE_TEXT = (
    "Encodes a text prompt using a CLIP model into an embedding that can be used to guide the diffusion model "
    "towards generating specific images."
)
_EMPTY_LATENT_TEXT = "Create a new batch of empty latent images to be denoised via sampling."
_KSAMPLER_TEXT = "Uses the provided model, positive and negative conditioning to denoise the latent image."
_DECODE_TEXT = "Decodes latent images back into pixel space images."
_SAVE_TEXT = "Saves the input images to your ComfyUI output directory."

_SAMPLER_INPUTS = ("model", "seed", "steps", "cfg", "sampler_name", "scheduler", "positive", "negative")
_TILED = {"temporal_size": 64, "temporal_overlap": 8}
_TILE_WIDGETS = ("tile_size", "overlap", "temporal_size", "temporal_overlap")
_MASKS = "comfy_extras.nodes_mask"
_IMAGES = "comfy_extras.nodes_images"
_UPSCALE = "comfy_extras.nodes_upscale_model"

_TABLE = (
    # loaders
    NodeMap(
        "CheckpointLoaderSimple",
        "graphflow.loaders.checkpoint",
        ("model", "clip", "vae"),
        inputs=("ckpt_name",),
        widgets=("ckpt_name",),
        renames={"ckpt_name": "checkpoint"},
        defaults={"timesteps": "discrete"},  # ComfyUI gives the U-Net whole training timesteps
        category="loaders",
        display_name="Load Checkpoint",
        description=_CHECKPOINT_TEXT,
    ),
    NodeMap(
        "VAELoader",
        "graphflow.loaders.vae",
        ("vae",),
        inputs=("vae_name",),
        widgets=("vae_name",),
        derive=_vae_family,
        category="loaders",
        display_name="Load VAE",
    ),
    NodeMap(
        "UpscaleModelLoader",
        "graphflow.upscale.load_model",
        ("upscale_model",),
        inputs=("model_name",),
        widgets=("model_name",),
        category="loaders",
        display_name="Load Upscale Model",
        python_module=_UPSCALE,
    ),
    NodeMap(
        "LoraLoader",
        "graphflow.loaders.lora",
        ("patched_model", "patched_clip"),
        inputs=("model", "clip", "lora_name", "strength_model", "strength_clip"),
        widgets=("lora_name", "strength_model", "strength_clip"),
        category="loaders",
        display_name="Load LoRA",
        description=_LORA_TEXT,
    ),
    NodeMap(
        "LoraLoaderModelOnly",
        "graphflow.loaders.lora_model_only",
        ("patched_model",),
        inputs=("model", "lora_name", "strength_model"),
        widgets=("lora_name", "strength_model"),
        category="loaders",
        description=_LORA_TEXT,
    ),
    NodeMap(
        "ControlNetLoader",
        "graphflow.loaders.controlnet",
        ("control_net",),
        inputs=("control_net_name",),
        widgets=("control_net_name",),
        category="loaders",
        display_name="Load ControlNet Model",
    ),
    NodeMap(
        "DiffControlNetLoader",
        "graphflow.loaders.diff_controlnet",
        ("control_net",),
        inputs=("model", "control_net_name"),
        widgets=("control_net_name",),
        category="loaders",
        display_name="Load ControlNet Model (diff)",
    ),
    # conditioning
    NodeMap(
        "CLIPTextEncode",
        "graphflow.conditioning.encode",
        ("conditioning",),
        inputs=("text", "clip"),
        widgets=("text",),
        category="conditioning",
        display_name="CLIP Text Encode (Prompt)",
        description=_ENCODE_TEXT,
    ),
    NodeMap(
        "CLIPSetLastLayer",
        "graphflow.conditioning.clip_skip",
        ("result",),
        inputs=("clip", "stop_at_clip_layer"),
        widgets=("stop_at_clip_layer",),
        category="conditioning",
        display_name="CLIP Set Last Layer",
    ),
    NodeMap(
        "ConditioningCombine",
        "graphflow.conditioning.combine",
        ("conditioning",),
        inputs=("conditioning_1", "conditioning_2"),
        renames={"conditioning_1": "first", "conditioning_2": "second"},
        category="conditioning",
        display_name="Conditioning (Combine)",
    ),
    NodeMap(
        "ConditioningAverage",
        "graphflow.conditioning.average",
        ("conditioning",),
        inputs=("conditioning_to", "conditioning_from", "conditioning_to_strength"),
        widgets=("conditioning_to_strength",),
        renames={"conditioning_to": "to", "conditioning_from": "source", "conditioning_to_strength": "to_strength"},
        category="conditioning",  # ComfyUI's display-name entry has a stray space ("ConditioningAverage ")
    ),
    NodeMap(
        "ConditioningConcat",
        "graphflow.conditioning.concat",
        ("conditioning",),
        inputs=("conditioning_to", "conditioning_from"),
        renames={"conditioning_to": "to", "conditioning_from": "source"},
        category="conditioning",
        display_name="Conditioning (Concat)",
    ),
    NodeMap(
        "ControlNetApply",
        "graphflow.conditioning.controlnet",
        ("result",),
        inputs=("conditioning", "control_net", "image", "strength"),
        widgets=("strength",),
        category="conditioning/controlnet",
        display_name="Apply ControlNet (OLD)",
        deprecated=True,
    ),
    NodeMap(
        "ControlNetApplyAdvanced",
        "graphflow.conditioning.controlnet_advanced",
        ("positive_out", "negative_out"),
        inputs=("positive", "negative", "control_net", "image", "strength", "start_percent", "end_percent"),
        optional=("vae",),
        widgets=("strength", "start_percent", "end_percent"),
        category="conditioning/controlnet",
        display_name="Apply ControlNet",
        output_names=("positive", "negative"),
    ),
    # latents and sampling
    NodeMap(
        "EmptyLatentImage",
        "graphflow.latent.empty",
        ("latent",),
        inputs=("width", "height", "batch_size"),
        widgets=("width", "height", "batch_size"),
        category="latent",
        display_name="Empty Latent Image",
        description=_EMPTY_LATENT_TEXT,
    ),
    NodeMap(
        "KSampler",
        "graphflow.sampling.sample",
        ("result",),
        inputs=(*_SAMPLER_INPUTS, "latent_image", "denoise"),
        widgets=("seed", CONTROL, "steps", "cfg", "sampler_name", "scheduler", "denoise"),
        renames={"latent_image": "latent"},
        category="sampling",
        display_name="KSampler",
        description=_KSAMPLER_TEXT,
    ),
    NodeMap(
        "KSamplerAdvanced",
        "graphflow.sampling.sample_advanced",
        ("result",),
        inputs=(
            "model",
            "add_noise",
            "noise_seed",
            "steps",
            "cfg",
            "sampler_name",
            "scheduler",
            "positive",
            "negative",
            "latent_image",
            "start_at_step",
            "end_at_step",
            "return_with_leftover_noise",
        ),
        widgets=(
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
        renames={"latent_image": "latent"},
        values={"add_noise": ENABLE, "return_with_leftover_noise": DISABLE_FIRST},
        category="sampling",
        display_name="KSampler (Advanced)",
    ),
    NodeMap(
        "VAEDecode",
        "graphflow.vae.decode",
        ("image",),
        inputs=("samples", "vae"),
        renames={"samples": "latent"},
        category="latent",
        display_name="VAE Decode",
        description=_DECODE_TEXT,
    ),
    NodeMap(
        "VAEEncode",
        "graphflow.vae.encode",
        ("latent",),
        inputs=("pixels", "vae"),
        renames={"pixels": "image"},
        category="latent",
        display_name="VAE Encode",
    ),
    NodeMap(
        "VAEDecodeTiled",
        "graphflow.vae.decode_tiled",
        ("image",),
        inputs=("samples", "vae", *_TILE_WIDGETS),
        widgets=_TILE_WIDGETS,
        renames={"samples": "latent"},
        ignored=_TILED,
        category="_for_testing",
        display_name="VAE Decode (Tiled)",
    ),
    NodeMap(
        "VAEEncodeTiled",
        "graphflow.vae.encode_tiled",
        ("latent",),
        inputs=("pixels", "vae", *_TILE_WIDGETS),
        widgets=_TILE_WIDGETS,
        renames={"pixels": "image"},
        ignored=_TILED,
        category="_for_testing",
        display_name="VAE Encode (Tiled)",
    ),
    NodeMap(
        "VAEEncodeForInpaint",
        "graphflow.inpaint.vae_encode",
        ("latent",),
        inputs=("pixels", "vae", "mask", "grow_mask_by"),
        widgets=("grow_mask_by",),
        renames={"pixels": "image"},
        category="latent/inpaint",
        display_name="VAE Encode (for Inpainting)",
    ),
    NodeMap(
        "SetLatentNoiseMask",
        "graphflow.inpaint.set_noise_mask",
        ("result",),
        inputs=("samples", "mask"),
        renames={"samples": "latent"},
        category="latent/inpaint",
        display_name="Set Latent Noise Mask",
    ),
    NodeMap(
        "LatentUpscale",
        "graphflow.latent.upscale",
        ("result",),
        inputs=("samples", "upscale_method", "width", "height", "crop"),
        widgets=("upscale_method", "width", "height", "crop"),
        renames={"samples": "latent", "upscale_method": "method"},
        values={"upscale_method": LATENT_METHOD},
        category="latent",
        display_name="Upscale Latent",
    ),
    NodeMap(
        "LatentUpscaleBy",
        "graphflow.latent.upscale_by",
        ("result",),
        inputs=("samples", "upscale_method", "scale_by"),
        widgets=("upscale_method", "scale_by"),
        renames={"samples": "latent", "upscale_method": "method"},
        values={"upscale_method": LATENT_METHOD},
        category="latent",
        display_name="Upscale Latent By",
    ),
    NodeMap(
        "LatentComposite",
        "graphflow.latent.composite",
        ("result",),
        inputs=("samples_to", "samples_from", "x", "y", "feather"),
        widgets=("x", "y", "feather"),
        renames={"samples_to": "destination", "samples_from": "source"},
        category="latent",
        display_name="Latent Composite",
    ),
    NodeMap(
        "LatentBlend",
        "graphflow.latent.blend",
        ("result",),
        inputs=("samples1", "samples2", "blend_factor"),
        widgets=("blend_factor",),
        renames={"samples1": "first", "samples2": "second", "blend_factor": "factor"},
        category="_for_testing",
        display_name="Latent Blend",
    ),
    NodeMap(
        "LatentBatch",
        "graphflow.latent.batch",
        ("result",),
        inputs=("samples1", "samples2"),
        renames={"samples1": "first", "samples2": "second"},
        category="latent/batch",
        python_module="comfy_extras.nodes_latent",
    ),
    NodeMap(
        "LatentFromBatch",
        "graphflow.latent.from_batch",
        ("result",),
        inputs=("samples", "batch_index", "length"),
        widgets=("batch_index", "length"),
        renames={"samples": "latent"},
        category="latent/batch",
        display_name="Latent From Batch",
    ),
    NodeMap(
        "RepeatLatentBatch",
        "graphflow.latent.repeat_batch",
        ("result",),
        inputs=("samples", "amount"),
        widgets=("amount",),
        renames={"samples": "latent"},
        category="latent/batch",
        display_name="Repeat Latent Batch",
    ),
    # images
    NodeMap(
        "LoadImage",
        "graphflow.image.load",
        ("pixels", "mask"),
        inputs=("image",),
        widgets=("image", UPLOAD),
        category="image",
        display_name="Load Image",
    ),
    NodeMap(
        "SaveImage",
        "graphflow.image.save",
        (),
        inputs=("images", "filename_prefix"),
        widgets=("filename_prefix",),
        defaults={"filename_prefix": "ComfyUI"},
        hidden=OUTPUT_HIDDEN,
        category="image",
        display_name="Save Image",
        description=_SAVE_TEXT,
    ),
    NodeMap(
        "PreviewImage",
        "graphflow.image.preview",
        (),
        inputs=("images",),
        hidden=OUTPUT_HIDDEN,
        category="image",
        display_name="Preview Image",
        description=_SAVE_TEXT,
    ),
    NodeMap(
        "ImageScale",
        "graphflow.image.scale_to",
        ("result",),
        inputs=("image", "upscale_method", "width", "height", "crop"),
        widgets=("upscale_method", "width", "height", "crop"),
        renames={"upscale_method": "method"},
        values={"upscale_method": IMAGE_METHOD},
        category="image/upscaling",
        display_name="Upscale Image",
    ),
    NodeMap(
        "ImageScaleBy",
        "graphflow.image.scale_by",
        ("result",),
        inputs=("image", "upscale_method", "scale_by"),
        widgets=("upscale_method", "scale_by"),
        renames={"upscale_method": "method", "scale_by": "factor"},
        values={"upscale_method": IMAGE_METHOD},
        defaults={"factor": 1.0},
        category="image/upscaling",
        display_name="Upscale Image By",
    ),
    NodeMap(
        "ImageInvert",
        "graphflow.image.invert",
        ("result",),
        inputs=("image",),
        category="image",
        display_name="Invert Image",
    ),
    NodeMap(
        "ImageBatch",
        "graphflow.image.batch",
        ("result",),
        inputs=("image1", "image2"),
        category="image",
        display_name="Batch Images",
        deprecated=True,
    ),
    NodeMap(
        "ImageCrop",
        "graphflow.image.crop",
        ("result",),
        inputs=("image", "width", "height", "x", "y"),
        widgets=("width", "height", "x", "y"),
        category="image/transform",
        display_name="Image Crop",
        python_module=_IMAGES,
    ),
    NodeMap(
        "ImageFromBatch",
        "graphflow.image.from_batch",
        ("result",),
        inputs=("image", "batch_index", "length"),
        widgets=("batch_index", "length"),
        renames={"batch_index": "index"},
        category="image/batch",
        python_module=_IMAGES,
    ),
    NodeMap(
        "RepeatImageBatch",
        "graphflow.image.repeat_batch",
        ("result",),
        inputs=("image", "amount"),
        widgets=("amount",),
        category="image/batch",
        python_module=_IMAGES,
    ),
    NodeMap(
        "ImageCompositeMasked",
        "graphflow.image.composite",
        ("result",),
        inputs=("destination", "source", "x", "y", "resize_source"),
        optional=("mask",),
        widgets=("x", "y", "resize_source"),
        category="image",
        python_module=_MASKS,
    ),
    NodeMap(
        "ImageUpscaleWithModel",
        "graphflow.upscale.with_model",
        ("result",),
        inputs=("upscale_model", "image"),
        category="image/upscaling",
        display_name="Upscale Image (using Model)",
        python_module=_UPSCALE,
    ),
    NodeMap(
        "Canny",
        "graphflow.preprocess.canny",
        ("result",),
        inputs=("image", "low_threshold", "high_threshold"),
        widgets=("low_threshold", "high_threshold"),
        category="image/preprocessors",
        python_module="comfy_extras.nodes_canny",
    ),
    # masks
    NodeMap(
        "SolidMask",
        "graphflow.mask.solid",
        ("mask",),
        inputs=("value", "width", "height"),
        widgets=("value", "width", "height"),
        category="mask",
        python_module=_MASKS,
    ),
    NodeMap(
        "InvertMask",
        "graphflow.mask.invert",
        ("result",),
        inputs=("mask",),
        category="mask",
        python_module=_MASKS,
    ),
    NodeMap(
        "GrowMask",
        "graphflow.mask.grow",
        ("result",),
        inputs=("mask", "expand", "tapered_corners"),
        widgets=("expand", "tapered_corners"),
        renames={"expand": "pixels"},
        category="mask",
        display_name="Grow Mask",
        python_module=_MASKS,
    ),
    NodeMap(
        "FeatherMask",
        "graphflow.mask.feather",
        ("result",),
        inputs=("mask", "left", "top", "right", "bottom"),
        widgets=("left", "top", "right", "bottom"),
        category="mask",
        python_module=_MASKS,
    ),
    NodeMap(
        "MaskComposite",
        "graphflow.mask.composite",
        ("result",),
        inputs=("destination", "source", "x", "y", "operation"),
        widgets=("x", "y", "operation"),
        category="mask",
        python_module=_MASKS,
    ),
    NodeMap(
        "ThresholdMask",
        "graphflow.mask.threshold",
        ("result",),
        inputs=("mask", "value"),
        widgets=("value",),
        category="mask",
        python_module=_MASKS,
    ),
    NodeMap(
        "CropMask",
        "graphflow.mask.crop",
        ("result",),
        inputs=("mask", "x", "y", "width", "height"),
        widgets=("x", "y", "width", "height"),
        category="mask",
        python_module=_MASKS,
    ),
    NodeMap(
        "ImageToMask",
        "graphflow.mask.from_image",
        ("mask",),
        inputs=("image", "channel"),
        widgets=("channel",),
        category="mask",
        display_name="Convert Image to Mask",
        python_module=_MASKS,
    ),
    NodeMap(
        "ImageColorToMask",
        "graphflow.mask.from_color",
        ("mask",),
        inputs=("image", "color"),
        widgets=("color",),
        defaults={"color": 0},
        category="mask",
        python_module=_MASKS,
    ),
    NodeMap(
        "MaskToImage",
        "graphflow.mask.to_image",
        ("image",),
        inputs=("mask",),
        category="mask",
        display_name="Convert Mask to Image",
        python_module=_MASKS,
    ),
)

_TABLE = (*_TABLE, *CLASSIC_TABLE, *FLOW_TABLE)
NODE_MAPS: dict[str, NodeMap] = {entry.comfy: entry for entry in _TABLE}

# LoadImageMask becomes graphflow's Load Image (its MASK output is 1 - alpha, as in ComfyUI) for the
# alpha channel, or Load Image + Image to Mask for a colour channel; see `comfy_api`.
LOAD_IMAGE_MASK = "LoadImageMask"
LOAD_IMAGE_MASK_WIDGETS = ("image", "channel", UPLOAD)
SUPPORTED: frozenset[str] = frozenset(NODE_MAPS) | {LOAD_IMAGE_MASK}

# ComfyUI frontend-only node types: never executed, never sent to a server.
VIRTUAL_NODES = frozenset({"Reroute", "PrimitiveNode", "Note", "MarkdownNote"})


def widget_names(class_type: str) -> tuple[str, ...]:
    """The widget order of a supported ComfyUI node type in `widgets_values` (UI-only entries included)."""
    if class_type == LOAD_IMAGE_MASK:
        return LOAD_IMAGE_MASK_WIDGETS
    return NODE_MAPS[class_type].widgets


def by_target(type_id: str) -> NodeMap | None:
    """The first mapping whose graphflow type is `type_id` (for export without recorded origin)."""
    return next((entry for entry in _TABLE if entry.target == type_id), None)
