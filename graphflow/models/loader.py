"""Loading checkpoints (single-file original layout or diffusers folders) into MODEL, CLIP and VAE values."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import torch
from accelerate import init_empty_weights
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from graphflow.cache import ModelCache
from graphflow.sampling.model import LATENT_FORMATS, DiffusionModel, ModelSampling
from graphflow.text.encoder import ClipPart, TextEncoder
from graphflow.text.tokenizers import Tokenizer, clip_bpe_tokenizer, tokenizer_from_folder

from .cache import cached, file_identity
from .convert import (
    CLIP_PREFIXES,
    OPENCLIP_PARTS,
    UNET_PREFIX,
    VAE_PREFIX,
    append_identity_layer,
    clip_from_ldm,
    load_clip_weights,
    load_exact,
    openclip_from_ldm,
)
from .detect import (
    Detection,
    UnknownModelLayoutError,
    check_inferred,
    detect_folder,
    detect_state_dict,
    family_config,
    settings_error,
    vae_config_from_ldm,
)
from .device import pick_device, place
from .embedded import CONFIGS_KEY, embedded_tokenizer
from .files import StateDict, WeightFile, open_weights
from .precision import PartPrecision, check_precision, part_precision
from .speed import Speed, speed_up
from .streaming import stream_weights
from .vae import Vae, vae_channels_last

M = TypeVar("M", bound=torch.nn.Module)
Loaded = tuple[DiffusionModel, TextEncoder, Vae]

# text part -> (diffusers subfolder, tokenizer subfolder)
_FOLDER_PARTS = {
    "clip_l": ("text_encoder", "tokenizer"),
    "clip_h": ("text_encoder", "tokenizer"),
    "clip_g": ("text_encoder_2", "tokenizer_2"),
}
_PARTS = {"sd1": ("clip_l",), "sd2": ("clip_h",), "sdxl": ("clip_l", "clip_g")}


class _LabelKeysFilter(logging.Filter):
    """Silences diffusers' "not expected and will be ignored" for class-name keys: the class node reads them."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("will be ignored" in message and ("'class_names'" in message or "'id2label'" in message))


logging.getLogger("diffusers.configuration_utils").addFilter(_LabelKeysFilter())


def resolve_device(device: torch.device | str | None, dtype: torch.dtype | None) -> tuple[torch.device, torch.dtype]:
    """Device and dtype to load onto: `pick_device` for None/"auto"/"cpu"/"cuda"/"mps", fp16 off the CPU."""
    if device is None or (isinstance(device, str) and device in ("auto", "cpu", "cuda", "mps")):
        chosen, default_dtype = pick_device(device or "auto")
    else:
        chosen = torch.device(device)
        default_dtype = torch.float32 if chosen.type == "cpu" else torch.float16
    return chosen, dtype or default_dtype


def load_checkpoint(
    path: str | os.PathLike[str],
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    prediction: str | None = None,
    cache: ModelCache | None = None,
    precision: str = "auto",
    speed: Speed | None = None,
) -> Loaded:
    """(MODEL, CLIP, VAE) from a single-file checkpoint or a diffusers folder; never touches the network.

    `prediction` ("epsilon" | "v_prediction") overrides what the file says; models are shared through
    `cache` (the executor's, `ctx.models`) while the file is unchanged; without one it is loaded afresh.
    `precision` (auto, fp32, bf16, fp16) sets the U-Net's and VAE's dtype where `dtype` is not given (see
    graphflow.models.precision); `speed` asks for channels-last, torch.compile or a VRAM budget.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    check_precision(precision)
    device, _ = resolve_device(device, None)
    speed = speed or Speed()
    key = ("checkpoint", *file_identity(path), str(device), str(dtype), precision, speed, prediction)
    plan = lambda vae_needs_fp32: part_precision(device, precision, dtype, vae_needs_fp32)
    from .flow_loader import is_flow_checkpoint, load_flow_checkpoint  # it builds on this module

    if is_flow_checkpoint(path):
        return cached(cache, key, lambda: load_flow_checkpoint(path, device, precision, dtype, speed))
    load = (
        (lambda: _load_folder(path, device, plan, prediction, speed))
        if path.is_dir()
        else (lambda: _load_single_file(path, device, plan, prediction, speed))
    )
    return cached(cache, key, load)


def load_vae(
    path: str | os.PathLike[str],
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    family: str = "sd1",
    cache: ModelCache | None = None,
    precision: str = "auto",
) -> Vae:
    """A VAE from a standalone file (original layout, optionally under first_stage_model.), a diffusers
    vae folder or a diffusers pipeline folder. `family` gives the scaling factor where the file has none;
    its dtype is a checkpoint's VAE's for `precision` (fp32 rather than fp16, which VAEs overflow)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"VAE not found: {path}")
    device, _ = resolve_device(device, None)
    dtype = dtype or part_precision(device, precision, vae_needs_fp32=True).vae  # diffusers' force_upcast default
    key = ("vae", *file_identity(path), str(device), str(dtype), family)
    return cached(cache, key, lambda: _load_vae(path, device, dtype, family))


def _load_vae(path: Path, device: torch.device, dtype: torch.dtype, family: str) -> Vae:
    if path.is_dir():
        subfolder = "vae" if (path / "vae" / "config.json").is_file() else None
        model = AutoencoderKL.from_pretrained(path, subfolder=subfolder, local_files_only=True)
        return Vae(model, device, dtype)
    weights = open_weights(path)
    prefix = "" if any(k.startswith(VAE_PREFIX) for k in weights) else VAE_PREFIX
    shapes = {prefix + k: v for k, v in weights.shapes().items()}
    if VAE_PREFIX + "encoder.conv_in.weight" not in shapes:
        raise UnknownModelLayoutError(
            f"{path} is not an original-layout VAE (no 'encoder.conv_in.weight'); for a diffusers VAE give its "
            "folder (with config.json) instead of the weight file"
        )
    config = vae_config_from_ldm(family, shapes)
    check_inferred(str(path), "vae", config)
    if (config["latent_channels"] == 16) != (family in ("sd3", "flux")):
        raise UnknownModelLayoutError(
            f"{path} is a {config['latent_channels']}-channel VAE, not a {family} one: choose its family "
            "(sd3 or flux for 16 channels, which set its scaling)"
        )
    dtype = torch.float32 if dtype == torch.float16 and config.get("force_upcast", True) else dtype
    placed = weights.placed(lambda _name: (device, dtype), channels_last=lambda _name: vae_channels_last(device))
    state = {prefix + k: placed[k] for k in placed}
    return Vae(_build_vae(state, config, path), device, dtype)


def _build(factory: Callable[[], M]) -> M:
    """A model whose parameters stay unallocated until its weights are assigned (fast for real sizes)."""
    with init_empty_weights():
        return factory()


@contextmanager
def _settings_fit(path: Path, part: str, embedded: bool) -> Iterator[None]:
    """Errors of building `part` from its settings, or of its weights not having the shapes those settings
    give, become one error naming the file, what could not be inferred and how to provide it."""
    try:
        yield
    except (RuntimeError, TypeError, ZeroDivisionError, KeyError) as error:
        raise settings_error(str(path), part, _first_line(error), embedded) from None
    except ValueError as error:
        if isinstance(error, UnknownModelLayoutError) or "does not match the expected architecture" in str(error):
            raise  # already names the file and the weights at fault
        raise settings_error(str(path), part, _first_line(error), embedded) from None


def _first_line(error: BaseException) -> str:
    """The telling line of an error: torch's first "size mismatch for ..." rather than its heading."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    telling = [line for line in lines if line.startswith("size mismatch")] or lines
    return telling[0].rstrip(".") if telling else type(error).__name__


def _build_vae(state: StateDict, config: dict[str, Any], path: Path, embedded: bool = False) -> AutoencoderKL:
    with _settings_fit(path, "vae", embedded):
        vae = _build(lambda: AutoencoderKL(**config))
        load_exact(vae, convert_ldm_vae_checkpoint(state, config), f"{path}: VAE")
    return vae.eval()


Plan = Callable[[bool], PartPrecision]  # whether the VAE needs fp32 -> the parts' precisions


def _load_single_file(path: Path, device: torch.device, plan: Plan, prediction: str | None, speed: Speed) -> Loaded:
    weights = open_weights(path)
    metadata = weights.metadata
    found = detect_state_dict(weights.shapes(), metadata, prediction, source=str(path))
    if found.layout != "ldm":
        raise UnknownModelLayoutError(
            f"{path} holds a diffusers-layout UNet only; load its diffusers folder (with model_index.json) instead"
        )
    if found.vae_config is None:
        raise UnknownModelLayoutError(f"{path} has no VAE weights ({VAE_PREFIX}*); load a VAE separately with load_vae")
    missing = [p for p in _PARTS[found.family] if p not in found.text_configs]
    if missing:
        wanted = ", ".join(CLIP_PREFIXES[found.family][p] + "*" for p in missing)
        raise UnknownModelLayoutError(f"{path} ({found.family}) lacks its text encoder weights: {wanted}")
    precision = plan(bool(found.vae_config.get("force_upcast", True)))  # diffusers' default
    state = weights.placed(
        _placement(found.family, device, precision, speed),
        channels_last=lambda name: name.startswith(VAE_PREFIX) and vae_channels_last(device),
    )
    embedded = CONFIGS_KEY in metadata
    with _settings_fit(path, "unet", embedded):
        unet = _build(lambda: UNet2DConditionModel(**found.unet_config))
        load_exact(unet, convert_ldm_unet_checkpoint(state, found.unet_config), f"{path}: UNet")
    vae = _build_vae(state, found.vae_config, path, embedded)
    texts = {}
    for part in _PARTS[found.family]:
        with _settings_fit(path, f"text encoder ({part})", embedded):
            texts[part] = _text_model_from_ldm(state, found, part, path)
    own_tokenizer = embedded_tokenizer(metadata, str(path))
    tokenizers = {part: own_tokenizer or _default_tokenizer(part) for part in texts}
    scheduler = found.scheduler_config or family_config(found.family, "scheduler")
    return _assemble(found, unet.eval(), vae, texts, tokenizers, scheduler, device, precision, speed)


def _placement(
    family: str, device: torch.device, precision: PartPrecision, speed: Speed
) -> Callable[[str], tuple[torch.device | None, torch.dtype | None]]:
    """Each weight's device and dtype, by the part its name belongs to: converted as it is read."""
    unet_device = torch.device("cpu") if speed.vram_budget_bytes is not None else device
    parts = [
        (UNET_PREFIX, unet_device, precision.unet),
        (VAE_PREFIX, device, precision.vae),
        *((prefix, device, precision.text) for prefix in CLIP_PREFIXES[family].values()),
    ]

    def place_weight(name: str) -> tuple[torch.device | None, torch.dtype | None]:
        return next(((where, dtype) for prefix, where, dtype in parts if name.startswith(prefix)), (None, None))

    return place_weight


def _text_model_from_ldm(
    state: WeightFile | StateDict, found: Detection, part: str, path: Path
) -> CLIPTextModel | CLIPTextModelWithProjection:
    config = CLIPTextConfig(**found.text_configs[part])
    prefix = CLIP_PREFIXES[found.family][part]
    if part in OPENCLIP_PARTS:
        weights = openclip_from_ldm(state, prefix, config.num_hidden_layers)
    else:
        weights = clip_from_ldm(state, prefix)
    model = _build(lambda: (CLIPTextModelWithProjection if part == "clip_g" else CLIPTextModel)(config))
    load_clip_weights(model, weights, f"{path}: text encoder {part}")
    return model.eval()


def _default_tokenizer(part: str) -> Tokenizer:
    # OpenCLIP encoders (SD2's clip_h, SDXL's clip_g) were trained with 0 as padding, OpenAI CLIP with EOS
    return clip_bpe_tokenizer(pad_with_end=part == "clip_l")


def _load_folder(folder: Path, device: torch.device, plan: Plan, prediction: str | None, speed: Speed) -> Loaded:
    found = detect_folder(folder, prediction)
    vae_config = folder / "vae" / "config.json"
    precision = plan(not vae_config.is_file() or bool(json.loads(vae_config.read_text()).get("force_upcast", True)))
    unet = UNet2DConditionModel.from_pretrained(
        folder, subfolder="unet", local_files_only=True, torch_dtype=precision.unet
    )
    vae = AutoencoderKL.from_pretrained(folder, subfolder="vae", local_files_only=True, torch_dtype=precision.vae)
    texts: dict[str, CLIPTextModel | CLIPTextModelWithProjection] = {}
    tokenizers: dict[str, Tokenizer] = {}
    for part in _PARTS[found.family]:
        subfolder, tokenizer_folder = _FOLDER_PARTS[part]
        cls = CLIPTextModelWithProjection if part == "clip_g" else CLIPTextModel
        texts[part] = cls.from_pretrained(folder / subfolder, local_files_only=True, dtype=precision.text).eval()
        tokenizer_path = folder / tokenizer_folder
        tokenizers[part] = (
            tokenizer_from_folder(tokenizer_path) if tokenizer_path.is_dir() else _default_tokenizer(part)
        )
    if found.family == "sd2":
        append_identity_layer(texts["clip_h"])  # diffusers drops OpenCLIP's last layer; see append_identity_layer
    scheduler_path = folder / "scheduler" / "scheduler_config.json"
    scheduler = (
        json.loads(scheduler_path.read_text()) if scheduler_path.is_file() else family_config(found.family, "scheduler")
    )
    return _assemble(found, unet.eval(), vae.eval(), texts, tokenizers, scheduler, device, precision, speed)


def _assemble(
    found: Detection,
    unet: UNet2DConditionModel,
    vae: AutoencoderKL,
    texts: Mapping[str, torch.nn.Module],
    tokenizers: Mapping[str, Tokenizer],
    scheduler: Mapping[str, Any],
    device: torch.device,
    precision: PartPrecision,
    speed: Speed,
) -> Loaded:
    sampling = ModelSampling.from_scheduler_config({**scheduler, "prediction_type": found.prediction})
    vae_value = Vae(vae, device, precision.vae)
    latent_format = dataclasses.replace(LATENT_FORMATS[found.family], scaling_factor=vae_value.scaling_factor)
    model = DiffusionModel(
        unet=speed_up(unet, device, precision.unet, speed),
        sampling=sampling,
        family=found.family,
        latent_format=latent_format,
        device=device,
        dtype=precision.unet,
    )
    parts = [
        ClipPart(name=part, model=_text_part(texts[part], device, precision), tokenizer=tokenizers[part])
        for part in _PARTS[found.family]
    ]
    return model, TextEncoder(parts=tuple(parts), family=found.family), vae_value


def _text_part(model: torch.nn.Module, device: torch.device, precision: PartPrecision) -> torch.nn.Module:
    """A text encoder stored in `precision.text`, computing in `precision.text_compute`."""
    model = place(model, device, precision.text)
    if precision.text_cast_on_use:
        stream_weights(model, device, precision.text_compute, budget_bytes=0)
    return model
