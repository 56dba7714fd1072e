"""Key layouts of the flow transformers: diffusers' SD3Transformer2DModel / FluxTransformer2DModel names <->
the original files' names (SD3's `joint_blocks.*`, Flux's `double_blocks.*` / `single_blocks.*`).

One table per family maps each diffusers weight to the original weight it is part of: its position among the
weights joined into it (q, k and v are one `qkv` matrix in the original files; Flux's single blocks join q, k,
v and the MLP input), and whether its two halves are swapped (the original final modulations give shift then
scale, diffusers scale then shift). Both directions read the same table, so they cannot drift apart.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import torch

StateDict = dict[str, torch.Tensor]
DIFFUSION_PREFIX = "model.diffusion_model."

# (diffusers name pattern, original name template, order of the `p` group's values when several join)
_Rule = tuple[str, str, tuple[str, ...]]
_QKV = ("q", "k", "v")

_COMMON: list[_Rule] = [
    (r"context_embedder\.(?P<s>\w+)", r"{txt_in}.\g<s>", ()),
    (r"proj_out\.(?P<s>\w+)", r"final_layer.linear.\g<s>", ()),
    (r"norm_out\.linear\.(?P<s>\w+)", r"final_layer.adaLN_modulation.1.\g<s>", ()),
]
_SD3: list[_Rule] = [
    (r"pos_embed\.pos_embed", "pos_embed", ()),
    (r"pos_embed\.proj\.(?P<s>\w+)", r"x_embedder.proj.\g<s>", ()),
    (r"time_text_embed\.timestep_embedder\.linear_1\.(?P<s>\w+)", r"t_embedder.mlp.0.\g<s>", ()),
    (r"time_text_embed\.timestep_embedder\.linear_2\.(?P<s>\w+)", r"t_embedder.mlp.2.\g<s>", ()),
    (r"time_text_embed\.text_embedder\.linear_1\.(?P<s>\w+)", r"y_embedder.mlp.0.\g<s>", ()),
    (r"time_text_embed\.text_embedder\.linear_2\.(?P<s>\w+)", r"y_embedder.mlp.2.\g<s>", ()),
    (
        r"transformer_blocks\.(?P<i>\d+)\.attn\.to_(?P<p>[qkv])\.(?P<s>\w+)",
        r"joint_blocks.\g<i>.x_block.attn.qkv.\g<s>",
        _QKV,
    ),
    (
        r"transformer_blocks\.(?P<i>\d+)\.attn\.add_(?P<p>[qkv])_proj\.(?P<s>\w+)",
        r"joint_blocks.\g<i>.context_block.attn.qkv.\g<s>",
        _QKV,
    ),
    (
        r"transformer_blocks\.(?P<i>\d+)\.attn2\.to_(?P<p>[qkv])\.(?P<s>\w+)",
        r"joint_blocks.\g<i>.x_block.attn2.qkv.\g<s>",
        _QKV,
    ),
    (
        r"transformer_blocks\.(?P<i>\d+)\.attn\.norm_(?P<p>[qk])\.weight",
        r"joint_blocks.\g<i>.x_block.attn.ln_\g<p>.weight",
        (),
    ),
    (
        r"transformer_blocks\.(?P<i>\d+)\.attn\.norm_added_(?P<p>[qk])\.weight",
        r"joint_blocks.\g<i>.context_block.attn.ln_\g<p>.weight",
        (),
    ),
    (
        r"transformer_blocks\.(?P<i>\d+)\.attn2\.norm_(?P<p>[qk])\.weight",
        r"joint_blocks.\g<i>.x_block.attn2.ln_\g<p>.weight",
        (),
    ),
    (r"transformer_blocks\.(?P<i>\d+)\.attn\.to_out\.0\.(?P<s>\w+)", r"joint_blocks.\g<i>.x_block.attn.proj.\g<s>", ()),
    (
        r"transformer_blocks\.(?P<i>\d+)\.attn2\.to_out\.0\.(?P<s>\w+)",
        r"joint_blocks.\g<i>.x_block.attn2.proj.\g<s>",
        (),
    ),
    (
        r"transformer_blocks\.(?P<i>\d+)\.attn\.to_add_out\.(?P<s>\w+)",
        r"joint_blocks.\g<i>.context_block.attn.proj.\g<s>",
        (),
    ),
    (
        r"transformer_blocks\.(?P<i>\d+)\.norm1\.linear\.(?P<s>\w+)",
        r"joint_blocks.\g<i>.x_block.adaLN_modulation.1.\g<s>",
        (),
    ),
    (
        r"transformer_blocks\.(?P<i>\d+)\.norm1_context\.linear\.(?P<s>\w+)",
        r"joint_blocks.\g<i>.context_block.adaLN_modulation.1.\g<s>",
        (),
    ),
    (r"transformer_blocks\.(?P<i>\d+)\.ff\.net\.0\.proj\.(?P<s>\w+)", r"joint_blocks.\g<i>.x_block.mlp.fc1.\g<s>", ()),
    (r"transformer_blocks\.(?P<i>\d+)\.ff\.net\.2\.(?P<s>\w+)", r"joint_blocks.\g<i>.x_block.mlp.fc2.\g<s>", ()),
    (
        r"transformer_blocks\.(?P<i>\d+)\.ff_context\.net\.0\.proj\.(?P<s>\w+)",
        r"joint_blocks.\g<i>.context_block.mlp.fc1.\g<s>",
        (),
    ),
    (
        r"transformer_blocks\.(?P<i>\d+)\.ff_context\.net\.2\.(?P<s>\w+)",
        r"joint_blocks.\g<i>.context_block.mlp.fc2.\g<s>",
        (),
    ),
]
_FLUX: list[_Rule] = [
    (r"time_text_embed\.timestep_embedder\.linear_1\.(?P<s>\w+)", r"time_in.in_layer.\g<s>", ()),
    (r"time_text_embed\.timestep_embedder\.linear_2\.(?P<s>\w+)", r"time_in.out_layer.\g<s>", ()),
    (r"time_text_embed\.text_embedder\.linear_1\.(?P<s>\w+)", r"vector_in.in_layer.\g<s>", ()),
    (r"time_text_embed\.text_embedder\.linear_2\.(?P<s>\w+)", r"vector_in.out_layer.\g<s>", ()),
    (r"time_text_embed\.guidance_embedder\.linear_1\.(?P<s>\w+)", r"guidance_in.in_layer.\g<s>", ()),
    (r"time_text_embed\.guidance_embedder\.linear_2\.(?P<s>\w+)", r"guidance_in.out_layer.\g<s>", ()),
    (r"x_embedder\.(?P<s>\w+)", r"img_in.\g<s>", ()),
    (r"transformer_blocks\.(?P<i>\d+)\.norm1\.linear\.(?P<s>\w+)", r"double_blocks.\g<i>.img_mod.lin.\g<s>", ()),
    (
        r"transformer_blocks\.(?P<i>\d+)\.norm1_context\.linear\.(?P<s>\w+)",
        r"double_blocks.\g<i>.txt_mod.lin.\g<s>",
        (),
    ),
    (
        r"transformer_blocks\.(?P<i>\d+)\.attn\.to_(?P<p>[qkv])\.(?P<s>\w+)",
        r"double_blocks.\g<i>.img_attn.qkv.\g<s>",
        _QKV,
    ),
    (
        r"transformer_blocks\.(?P<i>\d+)\.attn\.add_(?P<p>[qkv])_proj\.(?P<s>\w+)",
        r"double_blocks.\g<i>.txt_attn.qkv.\g<s>",
        _QKV,
    ),
    (
        r"transformer_blocks\.(?P<i>\d+)\.attn\.norm_q\.weight",
        r"double_blocks.\g<i>.img_attn.norm.query_norm.scale",
        (),
    ),
    (r"transformer_blocks\.(?P<i>\d+)\.attn\.norm_k\.weight", r"double_blocks.\g<i>.img_attn.norm.key_norm.scale", ()),
    (
        r"transformer_blocks\.(?P<i>\d+)\.attn\.norm_added_q\.weight",
        r"double_blocks.\g<i>.txt_attn.norm.query_norm.scale",
        (),
    ),
    (
        r"transformer_blocks\.(?P<i>\d+)\.attn\.norm_added_k\.weight",
        r"double_blocks.\g<i>.txt_attn.norm.key_norm.scale",
        (),
    ),
    (r"transformer_blocks\.(?P<i>\d+)\.attn\.to_out\.0\.(?P<s>\w+)", r"double_blocks.\g<i>.img_attn.proj.\g<s>", ()),
    (r"transformer_blocks\.(?P<i>\d+)\.attn\.to_add_out\.(?P<s>\w+)", r"double_blocks.\g<i>.txt_attn.proj.\g<s>", ()),
    (r"transformer_blocks\.(?P<i>\d+)\.ff\.net\.0\.proj\.(?P<s>\w+)", r"double_blocks.\g<i>.img_mlp.0.\g<s>", ()),
    (r"transformer_blocks\.(?P<i>\d+)\.ff\.net\.2\.(?P<s>\w+)", r"double_blocks.\g<i>.img_mlp.2.\g<s>", ()),
    (
        r"transformer_blocks\.(?P<i>\d+)\.ff_context\.net\.0\.proj\.(?P<s>\w+)",
        r"double_blocks.\g<i>.txt_mlp.0.\g<s>",
        (),
    ),
    (r"transformer_blocks\.(?P<i>\d+)\.ff_context\.net\.2\.(?P<s>\w+)", r"double_blocks.\g<i>.txt_mlp.2.\g<s>", ()),
    (
        r"single_transformer_blocks\.(?P<i>\d+)\.norm\.linear\.(?P<s>\w+)",
        r"single_blocks.\g<i>.modulation.lin.\g<s>",
        (),
    ),
    (
        r"single_transformer_blocks\.(?P<i>\d+)\.(?:attn\.to_(?P<p>[qkv])|(?P<p2>proj_mlp))\.(?P<s>\w+)",
        r"single_blocks.\g<i>.linear1.\g<s>",
        ("q", "k", "v", "proj_mlp"),
    ),
    (r"single_transformer_blocks\.(?P<i>\d+)\.attn\.norm_q\.weight", r"single_blocks.\g<i>.norm.query_norm.scale", ()),
    (r"single_transformer_blocks\.(?P<i>\d+)\.attn\.norm_k\.weight", r"single_blocks.\g<i>.norm.key_norm.scale", ()),
    (r"single_transformer_blocks\.(?P<i>\d+)\.proj_out\.(?P<s>\w+)", r"single_blocks.\g<i>.linear2.\g<s>", ()),
]
_TABLES = {
    "sd3": [(re.compile(p + "$"), t.replace("{txt_in}", "context_embedder"), o) for p, t, o in _SD3 + _COMMON],
    "flux": [(re.compile(p + "$"), t.replace("{txt_in}", "txt_in"), o) for p, t, o in _FLUX + _COMMON],
}
FLOW_FAMILIES = tuple(_TABLES)


@dataclass(frozen=True)
class _Place:
    """Where a diffusers weight lives in the original file."""

    original: str
    position: int
    swapped: bool


def _place(family: str, name: str, last_block: int) -> _Place:
    for pattern, template, order in _TABLES[family]:
        match = pattern.match(name)
        if match is None:
            continue
        groups = match.groupdict()
        part = groups.get("p") or groups.get("p2")
        position = order.index(part) if order and part else 0
        # the final modulation, and SD3's last context block (its "pre-only" norm), swap shift and scale
        swapped = name.startswith("norm_out.linear.") or (
            family == "sd3" and name.startswith(f"transformer_blocks.{last_block}.norm1_context.")
        )
        return _Place(match.expand(template), position, swapped)
    raise KeyError(f"no original-layout name for {family} transformer weight {name!r}")


def _last_block(names: Mapping[str, object]) -> int:
    indices = [int(name.split(".")[1]) for name in names if name.startswith("transformer_blocks.")]
    return max(indices, default=-1)


def _swap_halves(tensor: torch.Tensor) -> torch.Tensor:
    first, second = tensor.chunk(2, dim=0)
    return torch.cat([second, first])


def to_original(family: str, state_dict: Mapping[str, torch.Tensor], prefix: str = "") -> StateDict:
    """A diffusers transformer state dict in the original layout (names under `prefix`)."""
    last = _last_block(state_dict)
    joined: dict[str, list[tuple[int, torch.Tensor]]] = defaultdict(list)
    swapped: set[str] = set()
    for name, tensor in state_dict.items():
        place = _place(family, name, last)
        joined[place.original].append((place.position, tensor))
        if place.swapped:
            swapped.add(place.original)
    out: StateDict = {}
    for original, parts in joined.items():
        tensors = [tensor for _, tensor in sorted(parts, key=lambda item: item[0])]
        tensor = tensors[0] if len(tensors) == 1 else torch.cat(tensors)
        out[prefix + original] = _swap_halves(tensor) if original in swapped else tensor
    return out


def from_original(
    family: str,
    checkpoint: Mapping[str, torch.Tensor],
    target: Mapping[str, torch.Tensor],
    source: str,
    prefix: str = "",
) -> StateDict:
    """The weights `target` (a diffusers model's state dict, e.g. on the meta device) names, read from an
    original-layout `checkpoint` (names under `prefix`); joined weights are split by `target`'s shapes.

    Each original tensor is read once (a lazy `checkpoint` reads it then) and freed once split."""
    last = _last_block(target)
    wanted: dict[str, list[tuple[int, str, bool]]] = defaultdict(list)
    for name in target:
        place = _place(family, name, last)
        wanted[place.original].append((place.position, name, place.swapped))
    missing = [prefix + original for original in wanted if prefix + original not in checkpoint]
    if missing:
        raise ValueError(
            f"{source}: the file does not match the expected architecture ({len(missing)} missing weights, "
            f"e.g. {', '.join(missing[:4])})"
        )
    out: StateDict = {}
    for original, parts in wanted.items():
        tensor = checkpoint[prefix + original]
        parts.sort()
        if parts[0][2]:
            tensor = _swap_halves(tensor)
        if len(parts) == 1:
            out[parts[0][1]] = tensor
            continue
        sizes = [int(target[name].shape[0]) for _, name, _ in parts]
        for (_, name, _), piece in zip(parts, tensor.split(sizes), strict=True):
            out[name] = piece.clone()  # its own storage, so the joined tensor is freed
    return out


def transformer_prefix(names: Mapping[str, object], prefix: str = DIFFUSION_PREFIX) -> str:
    """The prefix the transformer's names carry in a file: `prefix` where any name has it, else none."""
    return prefix if any(name.startswith(prefix) for name in names) else ""
