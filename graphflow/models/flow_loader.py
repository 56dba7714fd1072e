"""Loading flow-matching models (SD3/SD3.5, Flux, the flow demo) offline: transformers, 16-channel VAEs and
their text encoders (CLIP-L, CLIP-G, T5-XXL), from single files in the original layouts or diffusers folders.

Transformer weights keep the dtype they are stored in (a bf16 file is never copied to fp32): each tensor is
read, converted to the diffusers layout and placed on its own. Where the compute dtype differs (fp8 files,
bf16 on the CPU) the layers are cast as they run (graphflow.models.streaming).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, FluxTransformer2DModel, SD3Transformer2DModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, T5Config, T5EncoderModel

from graphflow.cache import ModelCache
from graphflow.sampling.flow import FLUX_SHIFT, SD3_SHIFT, FlowSampling
from graphflow.sampling.model import LATENT_FORMATS, DiffusionModel, LatentFormat
from graphflow.text.encoder import ClipPart, TextEncoder
from graphflow.text.t5 import T5_PART, t5_tokenizer_from_folder
from graphflow.text.tokenizers import Tokenizer, tokenizer_from_folder

from .cache import cached, file_identity
from .convert import VAE_PREFIX, clip_from_ldm, load_clip_weights, load_exact
from .detect import UnknownModelLayoutError, text_config_from_weights, vae_config_from_ldm
from .files import WeightFile, open_weights
from .flow_convert import from_original
from .flow_detect import (
    TEXT_PART_PREFIX,
    FlowTransformer,
    clip_part_names,
    clip_width,
    find_flow_transformer,
    t5_config,
    text_kind,
    text_parts_in,
)
from .loader import _build, _build_vae, _default_tokenizer, _settings_fit, _text_part, resolve_device
from .precision import PartPrecision, part_precision
from .speed import Speed, speed_up
from .streaming import stream_weights
from .vae import Vae, vae_channels_last

Loaded = tuple[DiffusionModel, TextEncoder, Vae]
FLOW_PIPELINES = {"StableDiffusion3Pipeline": "sd3", "FluxPipeline": "flux", "GraphflowFlowDemo": "flow-demo"}
WEIGHT_DTYPES = {
    "default": None,
    "fp8_e4m3fn": torch.float8_e4m3fn,
    "fp8_e4m3fn_fast": torch.float8_e4m3fn,
    "fp8_e5m2": torch.float8_e5m2,
}
# the parts each family's text encoder has, and their diffusers subfolders
_FOLDER_PARTS = {
    "sd3": {"clip_l": "text_encoder", "clip_g": "text_encoder_2", T5_PART: "text_encoder_3"},
    "flux": {"clip_l": "text_encoder", T5_PART: "text_encoder_2"},
    "flow-demo": {"clip_l": "text_encoder"},
}
_T5_TOKENIZER_FOLDERS = ("tokenizer_3", "tokenizer_2", "t5_tokenizer")
_VAE_PREFIXES = (VAE_PREFIX, "vae.")
_FLUX_TIMESTEPS = 10000  # ComfyUI's ModelSamplingFlux table


def flow_family_of_folder(folder: Path) -> str | None:
    """ "sd3", "flux" or "flow-demo" for a diffusers pipeline folder of a flow model, else None."""
    index = folder / "model_index.json"
    if not index.is_file():
        return None
    return FLOW_PIPELINES.get(str(json.loads(index.read_text()).get("_class_name")))


def flow_sampling(family: str, variant: str = "", scheduler: Mapping[str, Any] | None = None) -> FlowSampling:
    """The model sampling a flow model starts with, as ComfyUI sets it: SD3 (and the demo) shift 3 or its
    scheduler's; Flux dev 1.15, schnell 1.0 (timestep = sigma)."""
    if family == "flux":
        return FlowSampling("flux", 1.0 if variant == "flux-schnell" else FLUX_SHIFT, 1.0, _FLUX_TIMESTEPS)
    return FlowSampling("sd3", float((scheduler or {}).get("shift", SD3_SHIFT)))


def latent_format(family: str, vae: Vae | None = None) -> LatentFormat:
    """The family's latent format, with the VAE's own scaling (and shift) where a VAE is given."""
    base = LATENT_FORMATS["sd1" if family == "flow-demo" else family]
    if vae is None:
        return base
    return dataclasses.replace(base, scaling_factor=vae.scaling_factor, shift_factor=vae.shift_factor)


def compute_dtype(device: torch.device, precision: str, dtype: torch.dtype | None) -> torch.dtype:
    """The dtype a flow transformer computes in: `dtype`, else --precision, else fp32 on the CPU and bf16 (fp16
    where the GPU lacks bf16) elsewhere."""
    if dtype is not None:
        return dtype
    if precision != "auto":
        return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    if device.type == "cpu":
        return torch.float32
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def _storage(stored: torch.dtype, compute: torch.dtype, forced: torch.dtype | None, matrix: bool) -> torch.dtype:
    """A weight's storage dtype: the `forced` one (fp8) for matrices, else as stored unless wider than compute."""
    if forced is not None and matrix:
        return forced
    if not stored.is_floating_point or stored.itemsize <= compute.itemsize:
        return stored
    return compute


def load_transformer_file(
    weights: WeightFile,
    found: FlowTransformer,
    device: torch.device,
    compute: torch.dtype,
    forced: torch.dtype | None = None,
    speed: Speed | None = None,
) -> torch.nn.Module:
    """The transformer `found` in `weights`, each tensor placed as read, cast per layer where stored narrower."""
    speed = speed or Speed()
    where = torch.device("cpu") if speed.vram_budget_bytes is not None and device.type != "cpu" else device
    shapes = weights.shapes()

    def placement(name: str) -> tuple[torch.device | None, torch.dtype | None]:
        tensor = shapes[name]
        return where, _storage(tensor.dtype, compute, forced, tensor.ndim >= 2)

    placed = weights.placed(placement)
    cls = SD3Transformer2DModel if found.family == "sd3" else FluxTransformer2DModel
    source = str(weights.path)
    with _settings_fit(weights.path, "transformer", False):
        model = _build(lambda: cls(**found.config))
    target = model.state_dict()
    if found.layout == "original":
        state = from_original(found.family, placed, target, source, found.prefix)
    else:
        state = {name: placed[name] for name in target if name in placed}
    load_exact(model, state, f"{source}: transformer")
    return finish_transformer(model.eval(), device, compute, speed)


def finish_transformer(model: torch.nn.Module, device: torch.device, compute: torch.dtype, speed: Speed) -> Any:
    """Set a loaded transformer up to run on `device` in `compute`: its weights cast layer by layer as they run
    where they are stored otherwise (or kept on the CPU under a VRAM budget), else as `speed` asks."""
    stored = {p.dtype for p in model.parameters()}
    if stored == {compute} and speed.vram_budget_bytes is None:
        return speed_up(model, device, compute, speed)
    budget = speed.vram_budget_bytes if device.type != "cpu" else None
    stream_weights(model, device, compute, 0 if budget is None else budget)
    return model


def load_diffusion_model(
    path: Path,
    device: torch.device,
    precision: str = "auto",
    dtype: torch.dtype | None = None,
    weight_dtype: str = "default",
    speed: Speed | None = None,
) -> DiffusionModel:
    """A flow transformer alone (ComfyUI's UNETLoader): an original-layout file, a diffusers transformer file or
    folder (config.json), or a pipeline folder's transformer/."""
    if weight_dtype not in WEIGHT_DTYPES:
        raise ValueError(f"weight_dtype {weight_dtype!r} is not one of: {', '.join(WEIGHT_DTYPES)}")
    speed = speed or Speed()
    compute = compute_dtype(device, precision, dtype)
    forced = WEIGHT_DTYPES[weight_dtype]
    if path.is_dir():
        return _folder_transformer(path, device, compute, forced, speed)
    weights = open_weights(path)
    found = find_flow_transformer(weights.shapes(), str(path))
    if found is None:
        raise UnknownModelLayoutError(
            f"{path} holds no SD3 or Flux transformer (no 'joint_blocks.*' or 'double_blocks.*' weights, with or "
            "without 'model.diffusion_model.'); a Stable Diffusion checkpoint loads with Load Checkpoint"
        )
    transformer = load_transformer_file(weights, found, device, compute, forced, speed)
    return _model(transformer, found.family, found.variant, None, None, device, compute)


def _folder_transformer(
    folder: Path, device: torch.device, compute: torch.dtype, forced: torch.dtype | None, speed: Speed
) -> DiffusionModel:
    if (folder / "transformer" / "config.json").is_file():
        folder = folder / "transformer"
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise UnknownModelLayoutError(f"{folder} is not a diffusers transformer folder: it has no config.json")
    config = json.loads(config_path.read_text())
    classes = {"SD3Transformer2DModel": SD3Transformer2DModel, "FluxTransformer2DModel": FluxTransformer2DModel}
    cls = classes.get(str(config.get("_class_name")))
    if cls is None:
        raise UnknownModelLayoutError(f"{config_path}: {config.get('_class_name')!r} is not an SD3 or Flux transformer")
    transformer = _pretrained_transformer(cls, folder, compute, forced)
    family = "flux" if cls is FluxTransformer2DModel else "sd3"
    variant = "flux-dev" if config.get("guidance_embeds") else "flux-schnell" if family == "flux" else "sd3"
    scheduler = _scheduler(folder.parent) if folder.name == "transformer" else {}
    model = finish_transformer(transformer, device, compute, speed)
    return _model(model, family, variant, scheduler, None, device, compute)


def _pretrained_transformer(cls: Any, folder: Path, compute: torch.dtype, forced: torch.dtype | None) -> Any:
    """A diffusers transformer folder loaded in its stored dtype (or `forced` for its matrices)."""
    model = cls.from_pretrained(folder, local_files_only=True, torch_dtype=None)
    stored = next(model.parameters()).dtype
    if forced is None and stored.itemsize > compute.itemsize:
        model = model.to(compute)
    for module in model.modules() if forced is not None else ():
        for name, param in module.named_parameters(recurse=False):
            if param.ndim >= 2:
                module._parameters[name] = torch.nn.Parameter(param.detach().to(forced), requires_grad=False)
    return model.eval()


def _model(
    transformer: Any,
    family: str,
    variant: str,
    scheduler: Mapping[str, Any] | None,
    vae: Vae | None,
    device: torch.device,
    compute: torch.dtype,
) -> DiffusionModel:
    return DiffusionModel(
        unet=transformer,
        sampling=flow_sampling(family, variant, scheduler),
        family=family,
        latent_format=latent_format(family, vae),
        device=device,
        dtype=compute,
    )


def _scheduler(folder: Path) -> dict[str, Any]:
    path = folder / "scheduler" / "scheduler_config.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def is_flow_checkpoint(path: Path) -> bool:
    """Whether `path` is a flow model's pipeline folder or a single file holding a flow transformer."""
    if path.is_dir():
        return flow_family_of_folder(path) is not None
    return find_flow_transformer(open_weights(path).shapes(), str(path)) is not None


def load_flow_checkpoint(
    path: Path, device: torch.device, precision: str, dtype: torch.dtype | None, speed: Speed
) -> Loaded:
    """(MODEL, CLIP, VAE) of a flow pipeline folder or all-in-one file (see `is_flow_checkpoint`)."""
    parts = part_precision(device, precision, dtype, vae_needs_fp32=True)  # the 16-channel VAEs overflow in fp16
    compute = compute_dtype(device, precision, dtype)
    if path.is_dir():
        return load_flow_folder(path, device, parts, compute, speed)
    weights = open_weights(path)
    found = find_flow_transformer(weights.shapes(), str(path))
    if found is None:
        raise UnknownModelLayoutError(f"{path} holds no SD3 or Flux transformer")
    return load_flow_single_file(weights, found, device, parts, compute, speed)


def load_flow_folder(
    folder: Path, device: torch.device, precision: PartPrecision, compute: torch.dtype, speed: Speed
) -> Loaded:
    """(MODEL, CLIP, VAE) of an SD3, Flux or flow-demo diffusers pipeline folder."""
    family = flow_family_of_folder(folder)
    if family is None:
        raise UnknownModelLayoutError(f"{folder} is not a diffusers SD3, Flux or flow-demo pipeline folder")
    model = _folder_transformer(folder, device, compute, None, speed)
    vae = Vae(
        AutoencoderKL.from_pretrained(folder, subfolder="vae", local_files_only=True, torch_dtype=precision.vae).eval(),
        device,
        precision.vae,
    )
    model = dataclasses.replace(model, family=family, latent_format=latent_format(family, vae))
    parts = []
    for part, subfolder in _FOLDER_PARTS[family].items():
        if not (folder / subfolder / "config.json").is_file():
            continue  # SD3 runs without T5 (diffusers' text_encoder_3=None)
        if part == T5_PART:
            text: Any = T5EncoderModel.from_pretrained(folder / subfolder, local_files_only=True, dtype=precision.text)
            tokenizer: Tokenizer = t5_tokenizer_from_folder(*(folder / name for name in _T5_TOKENIZER_FOLDERS))
        else:
            cls = CLIPTextModel if family != "sd3" else CLIPTextModelWithProjection
            text = cls.from_pretrained(folder / subfolder, local_files_only=True, dtype=precision.text)
            tokenizer_folder = folder / ("tokenizer" if part == "clip_l" else "tokenizer_2")
            tokenizer = (
                tokenizer_from_folder(tokenizer_folder) if tokenizer_folder.is_dir() else _default_tokenizer(part)
            )
        parts.append(ClipPart(name=part, model=_text_part(text.eval(), device, precision), tokenizer=tokenizer))
    return model, TextEncoder(parts=tuple(parts), family=family), vae


def load_flow_single_file(
    weights: WeightFile,
    found: FlowTransformer,
    device: torch.device,
    precision: PartPrecision,
    compute: torch.dtype,
    speed: Speed,
) -> Loaded:
    """(MODEL, CLIP, VAE) of an all-in-one flow checkpoint (SD3's, or a Flux one with its VAE and text encoders)."""
    path = weights.path
    shapes = weights.shapes()
    vae_prefix = next((p for p in _VAE_PREFIXES if any(k.startswith(p) for k in shapes)), None)
    if vae_prefix is None:
        raise UnknownModelLayoutError(
            f"{path} holds a {found.family} transformer without its VAE: load it with Load Diffusion Model, "
            "its text encoders with the CLIP loaders and the VAE with Load VAE"
        )
    parts = text_parts_in(shapes)
    transformer = load_transformer_file(weights, found, device, compute, None, speed)
    vae = load_vae_weights(weights, vae_prefix, found.family, device, precision.vae)
    texts = [
        text_part(weights, part, TEXT_PART_PREFIX.format(part=part), device, precision, [path.parent]) for part in parts
    ]
    model = _model(transformer, found.family, found.variant, None, vae, device, compute)
    if not texts:  # as SD3.5's files: ComfyUI gives no CLIP, and its templates load them with TripleCLIPLoader
        loader = (
            "Triple CLIP Loader (TripleCLIPLoader)" if found.family == "sd3" else "Dual CLIP Loader (DualCLIPLoader)"
        )
        absent = f"{path.name} holds no text encoders: load them from models/text_encoders with the {loader}"
        return model, TextEncoder(parts=(), family=found.family, absent=absent), vae
    return model, TextEncoder(parts=tuple(texts), family=found.family), vae


def load_vae_weights(weights: WeightFile, prefix: str, family: str, device: torch.device, dtype: torch.dtype) -> Vae:
    """A 16-channel original-layout VAE under `prefix` of a weight file, scaled as `family`'s."""
    placed = weights.placed(
        lambda name: (device, dtype) if name.startswith(prefix) else (None, None),
        channels_last=lambda name: name.startswith(prefix) and vae_channels_last(device),
    )
    shapes = {VAE_PREFIX + k[len(prefix) :]: v for k, v in weights.shapes().items() if k.startswith(prefix)}
    config = vae_config_from_ldm(family, shapes)
    state = {name: placed[prefix + name[len(VAE_PREFIX) :]] for name in shapes}
    return Vae(_build_vae(state, config, weights.path), device, dtype)


def text_part(
    weights: WeightFile,
    part: str,
    prefix: str,
    device: torch.device,
    precision: PartPrecision,
    tokenizer_folders: Sequence[Path],
) -> ClipPart:
    """One text part ("clip_l", "clip_g" or "t5xxl") whose transformers-named weights are under `prefix` of a
    weight file; T5's tokenizer comes from the first of `tokenizer_folders` (or their T5 subfolders) holding one."""
    shapes = {k: v for k, v in weights.shapes().items() if k.startswith(prefix)}
    source = f"{weights.path}" + (f" ({prefix.rstrip('.')})" if prefix else "")
    kind, root = text_kind(shapes, source)
    # T5-XXL's feed-forward output overflows fp16, so transformers keeps `wo` in fp32 (as from_pretrained does for a
    # folder) and T5 casts that layer's input to it; a file's T5 is read the same way
    kept = (
        set(T5EncoderModel._keep_in_fp32_modules or ()) if kind == "t5" and precision.text == torch.float16 else set()
    )

    def placement(name: str) -> tuple[torch.device | None, torch.dtype | None]:
        if not name.startswith(prefix):
            return None, None
        return device, torch.float32 if kept.intersection(name.split(".")) else precision.text

    placed = weights.placed(placement)
    if (kind == "t5") != (part == T5_PART):
        raise UnknownModelLayoutError(f"{source} holds a {kind.upper()} text encoder, not the {part} expected there")
    if kind == "t5":
        with _settings_fit(weights.path, "text encoder (t5xxl)", False):
            model: Any = _t5_model(placed, root, t5_config(shapes, root, source), source)
        tokenizer: Tokenizer = t5_tokenizer_from_folder(
            *tokenizer_folders, *(folder / name for folder in tokenizer_folders for name in _T5_TOKENIZER_FOLDERS)
        )
    else:
        config = CLIPTextConfig(**text_config_from_weights(shapes, part, root, source))
        projection = root + "text_projection.weight"
        clip_weights = clip_from_ldm(placed, root)
        if projection in shapes:
            clip_weights["text_projection.weight"] = placed[projection]
        cls = CLIPTextModelWithProjection if projection in shapes else CLIPTextModel
        with _settings_fit(weights.path, f"text encoder ({part})", False):
            model = _build(lambda: cls(config))
            load_clip_weights(model, clip_weights, f"{source}: text encoder {part}")
        tokenizer = _default_tokenizer(part)
    return ClipPart(name=part, model=_text_part(model.eval(), device, precision), tokenizer=tokenizer)


def _t5_model(placed: Mapping[str, torch.Tensor], prefix: str, config: dict[str, Any], source: str) -> T5EncoderModel:
    model = _build(lambda: T5EncoderModel(T5Config(**config)))
    names = [k for k in placed if k.startswith(prefix)]
    state = {k[len(prefix) :]: placed[k] for k in names}
    shared = state.get("shared.weight", state.get("encoder.embed_tokens.weight"))
    state |= {"shared.weight": shared, "encoder.embed_tokens.weight": shared}  # one tensor, tied
    load_exact(model, {k: v for k, v in state.items() if k in model.state_dict()}, f"{source}: text encoder t5xxl")
    model.tie_weights()
    return model


def load_text_encoder_files(
    paths: Sequence[Path], family: str, device: torch.device, precision: PartPrecision
) -> TextEncoder:
    """A TextEncoder of `family` from standalone text-encoder files (ComfyUI's models/text_encoders): each file
    one CLIP (clip_l or clip_g, told by width) or T5-XXL, whose tokenizer is read from beside its file."""
    files = [open_weights(path) for path in paths]
    kinds = [text_kind(weights.shapes(), str(weights.path)) for weights in files]
    clip_names = iter(
        clip_part_names(
            [clip_width(w.shapes(), root) for w, (kind, root) in zip(files, kinds, strict=True) if kind == "clip"]
        )
    )
    names = [T5_PART if kind == "t5" else next(clip_names) for kind, _ in kinds]
    if len(set(names)) != len(names):
        listing = ", ".join(f"{path.name} ({name})" for path, name in zip(paths, names, strict=True))
        raise ValueError(f"text encoder files {listing}: each part may be given once")
    parts = [
        text_part(weights, name, "", device, precision, [weights.path.parent])
        for weights, name in zip(files, names, strict=True)
    ]
    return TextEncoder(parts=tuple(parts), family=family)


def load_flow_transformer(
    path: str | os.PathLike[str],
    device: torch.device | str | None = None,
    weight_dtype: str = "default",
    precision: str = "auto",
    cache: ModelCache | None = None,
    speed: Speed | None = None,
) -> DiffusionModel:
    """`load_diffusion_model` through the model cache, for a device given as load_checkpoint takes it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"diffusion model not found: {path}")
    chosen, _ = resolve_device(device, None)
    key = ("diffusion_model", *file_identity(path), str(chosen), weight_dtype, precision, speed)
    return cached(
        cache, key, lambda: load_diffusion_model(path, chosen, precision, None, weight_dtype, speed or Speed())
    )


def load_text_encoders(
    paths: Sequence[str | os.PathLike[str]],
    family: str,
    device: torch.device | str | None = None,
    precision: str = "auto",
    cache: ModelCache | None = None,
) -> TextEncoder:
    """`load_text_encoder_files` through the model cache."""
    files = [Path(p) for p in paths]
    for path in files:
        if not path.is_file():
            raise FileNotFoundError(f"text encoder not found: {path}")
    chosen, _ = resolve_device(device, None)
    key = ("text_encoders", family, *(file_identity(p) for p in files), str(chosen), precision)
    return cached(cache, key, lambda: load_text_encoder_files(files, family, chosen, part_precision(chosen, precision)))
