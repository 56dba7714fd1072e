"""ComfyUI's classic node types beyond the basic text-to-image set: area, mask and timestep conditioning,
unCLIP and CLIP vision, GLIGEN, canvas and mask utilities, model merging and saving, hypernetworks and the
custom sampler path (SDXL Turbo).

Entries follow the rules in `comfy_nodes` (ComfyUI's INPUT_TYPES order in `inputs`, the UI format's
`widgets_values` order in `widgets`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from graphflow.interop.comfy_maps import CONTROL, IMAGE_METHOD, OUTPUT_HIDDEN, NodeMap, ValueMap

_MASKS = "comfy_extras.nodes_mask"
_IMAGES = "comfy_extras.nodes_images"
_CUSTOM = "comfy_extras.nodes_custom_sampler"
_MERGING = "comfy_extras.nodes_model_merging"

# ComfyUI's V3 schemas (comfy_extras) list each hidden input as a one-element list, where nodes.py's V1 classes write a
# string; /object_info repeats them as they are. (NodeMap.hidden is typed for the V1 strings.)
_V3_OUTPUT_HIDDEN = cast("Mapping[str, str]", {name: [kind] for name, kind in OUTPUT_HIDDEN.items()})
_SAVE_TEXT = "Saves the input images to your ComfyUI output directory."  # MaskPreview's V3 description, as SaveImage's
_STITCH_TEXT = (
    "Stitches image2 to image1 in the specified direction.\n"
    "If image2 is not provided, returns image1 unchanged.\n"
    "Optional spacing can be added between images."
)

_AREA_INPUTS = ("conditioning", "width", "height", "x", "y", "strength")
_AREA_WIDGETS = ("width", "height", "x", "y", "strength")

_CONDITIONING = (
    NodeMap(
        "ConditioningSetArea",
        "graphflow.conditioning.set_area",
        ("result",),
        inputs=_AREA_INPUTS,
        widgets=_AREA_WIDGETS,
        category="conditioning",
        display_name="Conditioning (Set Area)",
    ),
    NodeMap(
        "ConditioningSetAreaPercentage",
        "graphflow.conditioning.set_area_percentage",
        ("result",),
        inputs=_AREA_INPUTS,
        widgets=_AREA_WIDGETS,
        category="conditioning",
        display_name="Conditioning (Set Area with Percentage)",
    ),
    NodeMap(
        "ConditioningSetAreaStrength",
        "graphflow.conditioning.set_area_strength",
        ("result",),
        inputs=("conditioning", "strength"),
        widgets=("strength",),
        category="conditioning",
    ),
    NodeMap(
        "ConditioningSetMask",
        "graphflow.conditioning.set_mask",
        ("result",),
        inputs=("conditioning", "mask", "strength", "set_cond_area"),
        widgets=("strength", "set_cond_area"),
        values={"set_cond_area": ValueMap({"default": "default", "mask bounds": "mask bounds"})},
        category="conditioning",
        display_name="Conditioning (Set Mask)",
    ),
    NodeMap(
        "ConditioningZeroOut",
        "graphflow.conditioning.zero_out",
        ("result",),
        inputs=("conditioning",),
        category="advanced/conditioning",
    ),
    NodeMap(
        "ConditioningSetTimestepRange",
        "graphflow.conditioning.set_timestep_range",
        ("result",),
        inputs=("conditioning", "start", "end"),
        widgets=("start", "end"),
        category="advanced/conditioning",
    ),
    NodeMap(
        "CLIPVisionLoader",
        "graphflow.loaders.clip_vision",
        ("clip_vision",),
        inputs=("clip_name",),
        widgets=("clip_name",),
        category="loaders",
        display_name="Load CLIP Vision",
    ),
    NodeMap(
        "CLIPVisionEncode",
        "graphflow.conditioning.clip_vision_encode",
        ("clip_vision_output",),
        inputs=("clip_vision", "image", "crop"),
        widgets=("crop",),
        category="conditioning",
        display_name="CLIP Vision Encode",
    ),
    NodeMap(
        "unCLIPConditioning",
        "graphflow.conditioning.unclip",
        ("result",),
        inputs=("conditioning", "clip_vision_output", "strength", "noise_augmentation"),
        widgets=("strength", "noise_augmentation"),
        category="conditioning",
    ),
    NodeMap(
        "unCLIPCheckpointLoader",
        "graphflow.loaders.unclip_checkpoint",
        ("model", "clip", "vae", "clip_vision"),
        inputs=("ckpt_name",),
        widgets=("ckpt_name",),
        renames={"ckpt_name": "checkpoint"},
        defaults={"timesteps": "discrete"},
        category="loaders",
    ),
    NodeMap(
        "GLIGENLoader",
        "graphflow.loaders.gligen",
        ("gligen",),
        inputs=("gligen_name",),
        widgets=("gligen_name",),
        category="loaders",
    ),
    NodeMap(
        "GLIGENTextBoxApply",
        "graphflow.conditioning.gligen_box",
        ("result",),
        inputs=("conditioning_to", "clip", "gligen_textbox_model", "text", "width", "height", "x", "y"),
        widgets=("text", "width", "height", "x", "y"),
        category="conditioning/gligen",
    ),
)

_CANVAS = (
    NodeMap(
        "ImagePadForOutpaint",
        "graphflow.image.pad_for_outpaint",
        ("result", "mask"),
        inputs=("image", "left", "top", "right", "bottom", "feathering"),
        widgets=("left", "top", "right", "bottom", "feathering"),
        category="image",
        display_name="Pad Image for Outpainting",
    ),
    NodeMap(
        "ImageScaleToTotalPixels",
        "graphflow.image.scale_to_total_pixels",
        ("result",),
        inputs=("image", "upscale_method", "megapixels", "resolution_steps"),
        widgets=("upscale_method", "megapixels", "resolution_steps"),
        renames={"upscale_method": "method"},
        values={"upscale_method": IMAGE_METHOD},
        category="image/upscaling",  # a V3 node without a display name (nodes.py's display-name entry is unused)
        python_module="comfy_extras.nodes_post_processing",
    ),
    NodeMap(
        "EmptyImage",
        "graphflow.image.empty",
        ("image",),
        inputs=("width", "height", "batch_size", "color"),
        widgets=("width", "height", "batch_size", "color"),
        category="image",  # nodes.py gives EmptyImage no display name
    ),
    NodeMap(
        "MaskPreview",
        "graphflow.mask.preview",
        (),
        inputs=("mask",),
        hidden=_V3_OUTPUT_HIDDEN,
        category="mask",
        display_name="Preview Mask",
        description=_SAVE_TEXT,
        python_module=_MASKS,
    ),
    NodeMap(
        "ImageStitch",
        "graphflow.image.stitch",
        ("result",),
        inputs=("image1", "direction", "match_image_size", "spacing_width", "spacing_color"),
        optional=("image2",),
        widgets=("direction", "match_image_size", "spacing_width", "spacing_color"),
        category="image/transform",
        display_name="Image Stitch",
        description=_STITCH_TEXT,
        python_module=_IMAGES,
    ),
)

_CUSTOM_SAMPLING = (
    NodeMap(
        "SamplerCustom",
        "graphflow.sampling.custom",
        ("output", "denoised_output"),
        inputs=("model", "add_noise", "noise_seed", "cfg", "positive", "negative", "sampler", "sigmas", "latent_image"),
        widgets=("add_noise", "noise_seed", CONTROL, "cfg"),
        renames={"latent_image": "latent"},
        output_names=("output", "denoised_output"),
        category="sampling/custom_sampling",
        python_module=_CUSTOM,
    ),
    NodeMap(
        "KSamplerSelect",
        "graphflow.sampling.select_sampler",
        ("sampler",),
        inputs=("sampler_name",),
        widgets=("sampler_name",),
        category="sampling/custom_sampling/samplers",
        python_module=_CUSTOM,
    ),
    NodeMap(
        "BasicScheduler",
        "graphflow.sampling.basic_scheduler",
        ("sigmas",),
        inputs=("model", "scheduler", "steps", "denoise"),
        widgets=("scheduler", "steps", "denoise"),
        category="sampling/custom_sampling/schedulers",
        python_module=_CUSTOM,
    ),
    NodeMap(
        "SDTurboScheduler",
        "graphflow.sampling.turbo_scheduler",
        ("sigmas",),
        inputs=("model", "steps", "denoise"),
        widgets=("steps", "denoise"),
        category="sampling/custom_sampling/schedulers",
        python_module=_CUSTOM,
    ),
    NodeMap(
        "SplitSigmas",
        "graphflow.sampling.split_sigmas",
        ("high_sigmas", "low_sigmas"),
        inputs=("sigmas", "step"),
        widgets=("step",),
        output_names=("high_sigmas", "low_sigmas"),
        category="sampling/custom_sampling/sigmas",
        python_module=_CUSTOM,
    ),
    NodeMap(
        "FlipSigmas",
        "graphflow.sampling.flip_sigmas",
        ("result",),
        inputs=("sigmas",),
        category="sampling/custom_sampling/sigmas",
        python_module=_CUSTOM,
    ),
)


def _merge(comfy: str, target: str, output: str, inputs: tuple[str, ...], widgets: tuple[str, ...] = ()) -> NodeMap:
    return NodeMap(
        comfy,
        target,
        (output,),
        inputs=inputs,
        widgets=widgets,
        category="advanced/model_merging",
        python_module=_MERGING,
    )


_MULT = ("multiplier",)
_MERGE = (
    _merge("ModelMergeSimple", "graphflow.merge.models", "model", ("model1", "model2", "ratio"), ("ratio",)),
    _merge("ModelMergeAdd", "graphflow.merge.models_add", "model", ("model1", "model2")),
    _merge(
        "ModelMergeSubtract",
        "graphflow.merge.models_subtract",
        "model",
        ("model1", "model2", "multiplier"),
        ("multiplier",),
    ),
    _merge(
        "ModelMergeBlocks",
        "graphflow.merge.models_blocks",
        "model",
        ("model1", "model2", "input", "middle", "out"),
        ("input", "middle", "out"),
    ),
    _merge("CLIPMergeSimple", "graphflow.merge.clips", "clip", ("clip1", "clip2", "ratio"), ("ratio",)),
    _merge("CLIPMergeAdd", "graphflow.merge.clips_add", "clip", ("clip1", "clip2")),
    _merge(
        "CLIPMergeSubtract", "graphflow.merge.clips_subtract", "clip", ("clip1", "clip2", "multiplier"), ("multiplier",)
    ),
    NodeMap(
        "CheckpointSave",
        "graphflow.merge.save_checkpoint",
        (),
        inputs=("model", "clip", "vae", "filename_prefix"),
        widgets=("filename_prefix",),
        defaults={"filename_prefix": "checkpoints/ComfyUI"},
        hidden=_V3_OUTPUT_HIDDEN,
        category="advanced/model_merging",
        display_name="Save Checkpoint",
        python_module=_MERGING,
    ),
    NodeMap(
        "HypernetworkLoader",
        "graphflow.loaders.hypernetwork",
        ("patched_model",),
        inputs=("model", "hypernetwork_name", "strength"),
        widgets=("hypernetwork_name", "strength"),
        category="loaders",
        python_module="comfy_extras.nodes_hypernetwork",
    ),
)

CLASSIC_TABLE: tuple[NodeMap, ...] = (*_CONDITIONING, *_CANVAS, *_CUSTOM_SAMPLING, *_MERGE)
