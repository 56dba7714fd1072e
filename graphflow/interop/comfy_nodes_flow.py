"""ComfyUI's node types of the flow-matching families (SD3/SD3.5 and Flux): the diffusion-model and text-encoder
loaders, their prompt and guidance nodes, model sampling shifts, the 16-channel empty latent, and the advanced
custom sampler with its guiders and noises (the Flux templates' sampler).

Entries follow the rules in `comfy_nodes` (ComfyUI's INPUT_TYPES order in `inputs`, the UI format's
`widgets_values` order in `widgets`). The loaders' `device` input (load the text encoders on the CPU) is ignored:
graphflow places every model on the run's device.
"""

from __future__ import annotations

from graphflow.interop.comfy_maps import CONTROL, NodeMap, ValueMap

_SD3 = "comfy_extras.nodes_sd3"
_FLUX = "comfy_extras.nodes_flux"
_MODEL_ADVANCED = "comfy_extras.nodes_model_advanced"
_CUSTOM = "comfy_extras.nodes_custom_sampler"
_LOADERS = "advanced/loaders"
_FLUX_CONDITIONING = "advanced/conditioning/flux"
_DEVICE = {"device": "default"}  # ComfyUI-only: where the text encoders are loaded

# The CLIP loaders' `type` values graphflow encodes for (ComfyUI's other families are refused, naming the value).
# ComfyUI's single-file CLIPLoader has no "flux" type: Flux needs both its text encoders.
CLIP_TYPE = ValueMap({"stable_diffusion": "stable_diffusion", "sd3": "sd3"})
DUAL_CLIP_TYPE = ValueMap({"sdxl": "sdxl", "sd3": "sd3", "flux": "flux"})
# CLIPTextEncodeSD3: ComfyUI's "empty_prompt" is graphflow's "empty_padding" (encode an empty prompt as "")
EMPTY_PADDING = ValueMap({"none": "none", "empty_prompt": "empty_padding"})

# ComfyUI's DESCRIPTIONs of the loaders (nodes.py, comfy_extras/nodes_sd3.py)
_CLIP_TEXT = (
    "[Recipes]\n\nstable_diffusion: clip-l\nstable_cascade: clip-g\nsd3: t5 xxl/ clip-g / clip-l\nstable_audio: "
    "t5 base\nmochi: t5 xxl\ncosmos: old t5 xxl\nlumina2: gemma 2 2B\nwan: umt5 xxl\n hidream: llama-3.1 (Recommend) "
    "or t5\nomnigen2: qwen vl 2.5 3B"
)
_DUAL_CLIP_TEXT = (
    "[Recipes]\n\nsdxl: clip-l, clip-g\nsd3: clip-l, clip-g / clip-l, t5 / clip-g, t5\nflux: clip-l, t5\nhidream: "
    "at least one of t5 or llama, recommended t5 and llama"
)
_TRIPLE_CLIP_TEXT = "[Recipes]\n\nsd3: clip-l, clip-g, t5"

_LOADERS_TABLE = (
    NodeMap(
        "UNETLoader",
        "graphflow.loaders.diffusion_model",
        ("model",),
        inputs=("unet_name", "weight_dtype"),
        widgets=("unet_name", "weight_dtype"),
        category=_LOADERS,
        display_name="Load Diffusion Model",
    ),
    NodeMap(
        "CLIPLoader",
        "graphflow.loaders.clip",
        ("clip",),
        inputs=("clip_name", "type"),
        optional=("device",),
        widgets=("clip_name", "type", "device"),
        values={"type": CLIP_TYPE},
        ignored=_DEVICE,
        category=_LOADERS,
        display_name="Load CLIP",
        description=_CLIP_TEXT,
    ),
    NodeMap(
        "DualCLIPLoader",
        "graphflow.loaders.dual_clip",
        ("clip",),
        inputs=("clip_name1", "clip_name2", "type"),
        optional=("device",),
        widgets=("clip_name1", "clip_name2", "type", "device"),
        values={"type": DUAL_CLIP_TYPE},
        ignored=_DEVICE,
        category=_LOADERS,
        description=_DUAL_CLIP_TEXT,
    ),
    NodeMap(
        "TripleCLIPLoader",
        "graphflow.loaders.triple_clip",
        ("clip",),
        inputs=("clip_name1", "clip_name2", "clip_name3"),
        widgets=("clip_name1", "clip_name2", "clip_name3"),
        category=_LOADERS,
        description=_TRIPLE_CLIP_TEXT,
        python_module=_SD3,
    ),
)

_CONDITIONING_TABLE = (
    NodeMap(
        "CLIPTextEncodeSD3",
        "graphflow.conditioning.encode_sd3",
        ("conditioning",),
        inputs=("clip", "clip_l", "clip_g", "t5xxl", "empty_padding"),
        widgets=("clip_l", "clip_g", "t5xxl", "empty_padding"),
        values={"empty_padding": EMPTY_PADDING},
        category="advanced/conditioning",
        python_module=_SD3,
    ),
    NodeMap(
        "CLIPTextEncodeFlux",
        "graphflow.conditioning.encode_flux",
        ("conditioning",),
        inputs=("clip", "clip_l", "t5xxl", "guidance"),
        widgets=("clip_l", "t5xxl", "guidance"),
        category=_FLUX_CONDITIONING,
        python_module=_FLUX,
    ),
    NodeMap(
        "FluxGuidance",
        "graphflow.conditioning.flux_guidance",
        ("result",),
        inputs=("conditioning", "guidance"),
        widgets=("guidance",),
        category=_FLUX_CONDITIONING,
        python_module=_FLUX,
    ),
)

_SAMPLING_TABLE = (
    NodeMap(
        "ModelSamplingSD3",
        "graphflow.sampling.model_sampling_sd3",
        ("result",),
        inputs=("model", "shift"),
        widgets=("shift",),
        category="advanced/model",
        python_module=_MODEL_ADVANCED,
    ),
    NodeMap(
        "ModelSamplingFlux",
        "graphflow.sampling.model_sampling_flux",
        ("result",),
        inputs=("model", "max_shift", "base_shift", "width", "height"),
        widgets=("max_shift", "base_shift", "width", "height"),
        category="advanced/model",
        python_module=_MODEL_ADVANCED,
    ),
    NodeMap(
        "EmptySD3LatentImage",
        "graphflow.latent.empty_sd3",
        ("latent",),
        inputs=("width", "height", "batch_size"),
        widgets=("width", "height", "batch_size"),
        category="latent/sd3",
        python_module=_SD3,
    ),
    NodeMap(
        "SamplerCustomAdvanced",
        "graphflow.sampling.custom_advanced",
        ("output", "denoised_output"),
        inputs=("noise", "guider", "sampler", "sigmas", "latent_image"),
        output_names=("output", "denoised_output"),
        category="sampling/custom_sampling",
        python_module=_CUSTOM,
    ),
    NodeMap(
        "BasicGuider",
        "graphflow.sampling.basic_guider",
        ("guider",),
        inputs=("model", "conditioning"),
        category="sampling/custom_sampling/guiders",
        python_module=_CUSTOM,
    ),
    NodeMap(
        "CFGGuider",
        "graphflow.sampling.cfg_guider",
        ("guider",),
        inputs=("model", "positive", "negative", "cfg"),
        widgets=("cfg",),
        category="sampling/custom_sampling/guiders",
        python_module=_CUSTOM,
    ),
    NodeMap(
        "RandomNoise",
        "graphflow.sampling.random_noise",
        ("noise",),
        inputs=("noise_seed",),
        widgets=("noise_seed", CONTROL),
        category="sampling/custom_sampling/noise",
        python_module=_CUSTOM,
    ),
    NodeMap(
        "DisableNoise",
        "graphflow.sampling.disable_noise",
        ("noise",),
        category="sampling/custom_sampling/noise",
        python_module=_CUSTOM,
    ),
)

FLOW_TABLE: tuple[NodeMap, ...] = (*_LOADERS_TABLE, *_CONDITIONING_TABLE, *_SAMPLING_TABLE)
