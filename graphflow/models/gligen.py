"""GLIGEN values: a box-grounding model (position net + a gated self-attention layer per UNet transformer block).

A GLIGEN file (original layout, e.g. `gligen_sd14_textbox_pruned.safetensors`) holds `position_net.*` and, per
transformer block, `<block>.fuser.*` (`input_blocks.1.1.transformer_blocks.0.fuser.linear.weight`, ...). While
an entry with boxes is sampled, the fusers are attached to the UNet's transformer blocks and the position net to
the UNet itself, where diffusers' UNet runs them (its "gated" attention path): the boxes' text embeddings and
positions become object tokens each fuser attends to after the block's self-attention, as in ComfyUI.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from diffusers.models.attention import BasicTransformerBlock, GatedSelfAttentionDense
from diffusers.models.embeddings import GLIGENTextBoundingboxProjection
from torch import Tensor

from graphflow.cache import ModelCache

from .cache import cached, file_identity
from .convert import UNET_PREFIX, unet_to_ldm
from .files import load_state_dict

StateDict = dict[str, Tensor]

MAX_OBJECTS = 30  # the position net's object slots
FUSER = ".fuser."
POSITION_NET = "position_net."


@dataclass(frozen=True, eq=False)
class GligenModel:
    """A loaded GLIGEN model: its position net and each transformer block's gated self-attention weights.

    `fusers` maps original-layout block names (`input_blocks.1.1.transformer_blocks.0`) to the fuser's weights.
    """

    position_net: GLIGENTextBoundingboxProjection
    fusers: Mapping[str, StateDict]
    source: str = "a GLIGEN model"
    _built: dict[tuple, dict[str, torch.nn.Module]] = field(default_factory=dict, repr=False)

    @property
    def text_width(self) -> int:
        """Width of the text embeddings (a CLIP text model's pooled output) the position net reads."""
        return int(self.position_net.positive_len)

    def blocks_of(self, unet: Any) -> dict[str, str]:
        """The UNet's transformer blocks: diffusers module name -> original-layout name."""
        return transformer_blocks(unet)

    def check(self, unet: Any, name: str) -> None:
        """A clear error (naming the `name` conditioning) when this model's layers do not fit `unet`'s blocks."""
        blocks = self.blocks_of(unet)
        if set(blocks.values()) != set(self.fusers):
            raise ValueError(
                f"{name} conditioning: the GLIGEN model {self.source} has gated attention for {len(self.fusers)} "
                f"transformer blocks, the model has {len(blocks)} others: use a GLIGEN model made for this model"
            )
        for module_name, ldm_name in blocks.items():
            width = int(unet.get_submodule(module_name).norm1.normalized_shape[0])
            if int(self.fusers[ldm_name]["linear.weight"].shape[0]) != width:
                raise ValueError(
                    f"{name} conditioning: the GLIGEN model {self.source} does not fit the model's block "
                    f"{ldm_name} (width {width}): use a GLIGEN model made for this model"
                )
        context = int(next(iter(self.fusers.values()))["linear.weight"].shape[1])
        if context != _cross_attention_width(unet):
            raise ValueError(
                f"{name} conditioning: the GLIGEN model {self.source} makes object tokens of width {context}, "
                f"the model's text width is {_cross_attention_width(unet)}: use a GLIGEN model made for this model"
            )

    def modules_for(self, unet: Any) -> dict[str, torch.nn.Module]:
        """The modules to attach to `unet` (dotted name -> module): its blocks' fusers and the position net."""
        parameter = next(unet.parameters())
        blocks = self.blocks_of(unet)
        heads = tuple((module, int(unet.get_submodule(module).attn1.heads)) for module in blocks)
        key = (heads, parameter.device, parameter.dtype)
        if key not in self._built:
            modules: dict[str, torch.nn.Module] = {}
            for module_name, count in heads:
                weights = self.fusers[blocks[module_name]]
                query, context = (int(n) for n in weights["linear.weight"].shape)
                # heads as the UNet's own attention has them: ComfyUI's rule for SD1 (8) and SD2 (64 wide) files
                fuser = GatedSelfAttentionDense(query, context, count, query // count)
                fuser.load_state_dict(weights)
                modules[f"{module_name}.fuser"] = fuser.eval().to(parameter.device, parameter.dtype)
            position_net = copy.deepcopy(self.position_net)  # the cached model stays where it was loaded
            modules["position_net"] = position_net.to(parameter.device, parameter.dtype)
            self._built[key] = modules
        return self._built[key]


def transformer_blocks(unet: Any) -> dict[str, str]:
    """A diffusers UNet's transformer blocks: module name -> original-layout name (`input_blocks.1.1....`)."""
    names = [name for name, module in unet.named_modules() if isinstance(module, BasicTransformerBlock)]
    renamed = unet_to_ldm({f"{name}.norm1.weight": torch.zeros(0) for name in names}, unet.config)
    ldm = [key[len(UNET_PREFIX) : -len(".norm1.weight")] for key in renamed]
    return dict(zip(names, ldm, strict=True))


def _cross_attention_width(unet: Any) -> int:
    width = unet.config.cross_attention_dim
    return int(width[0] if isinstance(width, (list, tuple)) else width)


Box = tuple[Tensor, int, int, int, int]
"""A grounding box: the phrase's text embedding [1, W], then height, width, top and left in latent cells."""


@dataclass(frozen=True, eq=False)
class GligenBoxes:
    """The GLIGEN grounding of one conditioning entry: the model and its boxes (ComfyUI's cond["gligen"])."""

    model: GligenModel
    boxes: tuple[Box, ...]

    def __post_init__(self) -> None:
        if len(self.boxes) > MAX_OBJECTS:
            raise ValueError(f"GLIGEN grounds at most {MAX_OBJECTS} boxes per conditioning, got {len(self.boxes)}")

    def check(self, unet: Any, name: str) -> None:
        """A clear error when the GLIGEN model does not fit `unet`."""
        self.model.check(unet, name)

    def inputs(self, batch: int, height: int, width: int) -> dict[str, Tensor]:
        """The position net's inputs for a latent (or crop) of height x width cells: boxes as fractions (x1, y1,
        x2, y2), masks and text embeddings in MAX_OBJECTS slots, repeated over the batch (ComfyUI's set_position)."""
        boxes = torch.zeros(MAX_OBJECTS, 4)
        masks = torch.zeros(MAX_OBJECTS)
        embeddings = torch.zeros(MAX_OBJECTS, self.model.text_width)
        for index, (embedding, box_height, box_width, top, left) in enumerate(self.boxes):
            boxes[index] = torch.tensor(
                [left / width, top / height, (left + box_width) / width, (top + box_height) / height]
            )
            masks[index] = 1.0
            embeddings[index] = embedding.reshape(-1).float()
        return {
            "boxes": boxes.expand(batch, -1, -1),
            "masks": masks.expand(batch, -1),
            "positive_embeddings": embeddings.expand(batch, -1, -1),
        }

    def unet_patch(self, unet: Any, batch: int, height: int, width: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """The modules to attach to `unet` for one call, and the call's cross_attention_kwargs."""
        parameter = next(unet.parameters())
        inputs = {k: v.to(parameter.device, parameter.dtype) for k, v in self.inputs(batch, height, width).items()}
        return self.model.modules_for(unet), {"gligen": inputs}


def gligen_from_state_dict(state: Mapping[str, Tensor], source: str) -> GligenModel:
    """A GLIGEN model from original-layout weights (optionally under `model.diffusion_model.`)."""
    state = {k.removeprefix(UNET_PREFIX): v for k, v in state.items()}
    fusers: dict[str, StateDict] = {}
    for key, value in state.items():
        if FUSER in key:
            block, _, inner = key.partition(FUSER)
            fusers.setdefault(block, {})[inner] = value
    net = {k[len(POSITION_NET) :]: v for k, v in state.items() if k.startswith(POSITION_NET)}
    if not fusers or "null_positive_feature" not in net or "linears.4.weight" not in net:
        sample = ", ".join(sorted(state)[:4]) or "(no keys)"
        raise ValueError(
            f"{source} is not a GLIGEN box-grounding model: expected 'position_net.*' and "
            f"'<block>{FUSER}*' weights; found keys like: {sample}"
        )
    position_net = GLIGENTextBoundingboxProjection(
        positive_len=int(net["null_positive_feature"].shape[0]), out_dim=int(net["linears.4.weight"].shape[0])
    )
    result = position_net.load_state_dict(net, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"{source}: its position net does not match GLIGEN's text-box one "
            f"(missing {result.missing_keys[:3]}, unexpected {result.unexpected_keys[:3]})"
        )
    return GligenModel(position_net.eval(), fusers, source)


def load_gligen(path: str | os.PathLike[str], cache: ModelCache | None = None) -> GligenModel:
    """A GLIGEN model from a file in models/gligen; never downloads."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"GLIGEN model not found: {path}")
    key = ("gligen", *file_identity(path))
    return cached(cache, key, lambda: gligen_from_state_dict(load_state_dict(path), str(path)))


def gligen_weights_of(gated_unet: Any) -> StateDict:
    """The original-layout GLIGEN weights of a diffusers UNet built with attention_type "gated" (tests, tools)."""
    out: StateDict = {}
    for name, ldm_name in transformer_blocks(gated_unet).items():
        for key, value in gated_unet.get_submodule(name).fuser.state_dict().items():
            out[f"{ldm_name}{FUSER}{key}"] = value.detach().clone()
    for key, value in gated_unet.position_net.state_dict().items():
        out[POSITION_NET + key] = value.detach().clone()
    return out
