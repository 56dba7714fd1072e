"""Test helpers: random LoRA factors for tiny models, written in each file format, and a peft oracle.

Factors are made once per module (A: [r, in(, kh, kw)], B: [out, r(, 1, 1)], as peft shapes them), then
the same numbers are saved in every format and copied into peft's injected layers, whose outputs are
the reference.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from peft import LoraConfig, inject_adapter_in_model
from safetensors.torch import save_file

from graphflow.models.convert import UNET_PREFIX, unet_to_ldm

UNET_TARGETS = (
    "to_q",
    "to_k",
    "to_v",
    "to_out.0",
    "proj_in",
    "proj_out",
    "ff.net.0.proj",
    "ff.net.2",
    "conv1",
    "conv2",
    "time_emb_proj",
    "conv_shortcut",
    "downsamplers.0.conv",
    "upsamplers.0.conv",
    "conv_in",
    "conv_out",
    "time_embedding.linear_1",
)
TEXT_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")
TEXT_LEVEL = "text_model."


@dataclass
class Lora:
    """Random factors for one model part: module path -> (A, B), with peft's rank and alpha."""

    factors: dict[str, tuple[torch.Tensor, torch.Tensor]]
    rank: int
    alpha: float

    @property
    def scale(self) -> float:
        """peft's scaling: alpha / rank."""
        return self.alpha / self.rank


def random_lora(model: torch.nn.Module, targets: Sequence[str], rank: int, alpha: float, seed: int) -> Lora:
    """Seeded random A/B factors for every Linear or Conv2d of `model` whose path ends with a target."""
    generator = torch.Generator().manual_seed(seed)
    factors = {}
    for path, module in model.named_modules():
        if not any(path == t or path.endswith("." + t) for t in targets):
            continue
        if isinstance(module, torch.nn.Linear):
            a_shape, b_shape = (rank, module.in_features), (module.out_features, rank)
        elif isinstance(module, torch.nn.Conv2d):
            a_shape = (rank, module.in_channels, *module.kernel_size)
            b_shape = (module.out_channels, rank, 1, 1)
        else:
            continue
        a = torch.randn(a_shape, generator=generator) * 0.1
        b = torch.randn(b_shape, generator=generator) * 0.1
        factors[path] = (a, b)
    assert factors, f"no module of {type(model).__name__} matches {targets}"
    return Lora(factors, rank, alpha)


def peft_reference(model: torch.nn.Module, loras: Sequence[tuple[Lora, float]]) -> torch.nn.Module:
    """A copy of `model` with each (lora, strength) injected by peft as its own active adapter."""
    oracle = copy.deepcopy(model)
    names = [f"adapter{i}" for i in range(len(loras))]
    for name, (lora, _) in zip(names, loras, strict=True):
        config = LoraConfig(r=lora.rank, lora_alpha=lora.alpha, target_modules=list(lora.factors))
        with warnings.catch_warnings():  # a second adapter is meant here
            warnings.filterwarnings("ignore", message="Already found a `peft_config`")
            inject_adapter_in_model(config, oracle, adapter_name=name)
    with torch.no_grad():
        for name, (lora, strength) in zip(names, loras, strict=True):
            for path, (a, b) in lora.factors.items():
                layer = oracle.get_submodule(path)
                layer.lora_A[name].weight.copy_(a)
                layer.lora_B[name].weight.copy_(b)
                layer.set_scale(name, strength)
    for module in oracle.modules():
        if hasattr(module, "lora_A") and hasattr(module, "set_adapter"):
            module.set_adapter(names)
    return oracle.eval()


def canonical_text_path(path: str) -> str:
    """A CLIP module path with the `text_model.` level, as LoRA files write it whatever transformers does."""
    return path if path.startswith((TEXT_LEVEL, "text_projection")) else TEXT_LEVEL + path


def ldm_path(unet: torch.nn.Module, path: str) -> str:
    """The original-layout (LDM) path of a UNet module."""
    key = f"{path}.weight"
    (renamed,) = unet_to_ldm({key: unet.get_parameter(key)}, unet.config)
    return renamed.removeprefix(UNET_PREFIX).removesuffix(".weight")


# A file layout: how one part's module path becomes a key stem, and the suffixes for A, B and alpha.
Naming = Callable[[str], str]


@dataclass(frozen=True)
class Layout:
    """How a format spells its keys: A/B suffixes, and where alpha goes.

    alpha "key": an `.alpha` tensor per layer; "fold": no alpha, the scale multiplied into B; "none": B as it
    is, the scale left to the file's metadata.
    """

    down: str
    up: str
    alpha: str = "key"

    def tensors(self, lora: Lora, stem_of: Naming) -> dict[str, torch.Tensor]:
        """The state dict of `lora` with module paths spelled by `stem_of`."""
        out = {}
        for path, (a, b) in lora.factors.items():
            stem = stem_of(path)
            out[f"{stem}.{self.down}"] = a.contiguous()
            out[f"{stem}.{self.up}"] = (b * lora.scale if self.alpha == "fold" else b).contiguous()
            if self.alpha == "key":
                out[f"{stem}.alpha"] = torch.tensor(float(lora.alpha))
        return out


KOHYA = Layout("lora_down.weight", "lora_up.weight")
PEFT = Layout("lora_A.weight", "lora_B.weight", alpha="none")
PEFT_FOLDED = Layout("lora_A.weight", "lora_B.weight", alpha="fold")
PEFT_NAMED = Layout("lora_A.default.weight", "lora_B.default.weight", alpha="fold")
DOTTED_DOWN_UP = Layout("lora.down.weight", "lora.up.weight", alpha="fold")


def kohya_stem(prefix: str) -> Naming:
    """Kohya's spelling: prefix + path with "_" for "."."""
    return lambda path: prefix + path.replace(".", "_")


def dotted_stem(prefix: str) -> Naming:
    """A dotted spelling under `prefix` (diffusers' "unet.", ComfyUI's "diffusion_model.", peft's wrapper)."""
    return lambda path: prefix + path


def save_lora(path: Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, object] | None = None) -> Path:
    """Write a LoRA state dict as .safetensors, with diffusers' adapter metadata if given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": "pt"}
    if metadata:
        meta["lora_adapter_metadata"] = json.dumps(metadata)
    save_file(dict(tensors), str(path), metadata=meta)
    return path
