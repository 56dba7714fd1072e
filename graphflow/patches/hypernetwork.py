"""Hypernetwork files (A1111's format): small networks that rewrite what the U-Net's attention reads keys and
values from, one pair per input width.

A `.pt` file (loaded weights-only) maps each width (768 for SD1's text, 320/640/1280 for its blocks) to a
pair of state dicts [keys, values] of `linear.N.weight/bias` layers, with options beside them:
`activation_func`, `is_layer_norm`, `activate_output`, `use_dropout`, `last_layer_dropout`. graphflow also
reads the same in a `.safetensors` file: tensors named `<width>.<0 for keys, 1 for values>.linear.N.weight`
and the options as JSON values in the metadata. Linear layers get the activation after each one but the
last (unless `activate_output`); 1-D weights are layer norms. Dropout only acts in training, so it is left out.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from graphflow.models.files import (
    SAFETENSORS_SUFFIXES,
    CheckpointFormatError,
    load_metadata,
    load_state_dict,
    load_torch_weights_only,
)

ACTIVATIONS: dict[str, type[torch.nn.Module]] = {
    "linear": torch.nn.Identity,
    "relu": torch.nn.ReLU,
    "leakyrelu": torch.nn.LeakyReLU,
    "elu": torch.nn.ELU,
    "swish": torch.nn.Hardswish,
    "tanh": torch.nn.Tanh,
    "sigmoid": torch.nn.Sigmoid,
    "softsign": torch.nn.Softsign,
    "mish": torch.nn.Mish,
}
_OPTIONS = ("activation_func", "is_layer_norm", "activate_output", "use_dropout", "last_layer_dropout")
_LAYER = re.compile(r"^linear\.(\d+)\.(weight|bias)$")
_FLAT = re.compile(r"^(\d+)\.([01])\.(linear\.\d+\.(?:weight|bias))$")


class HypernetworkFormatError(ValueError):
    """A hypernetwork file graphflow cannot read; the message names the file."""


@dataclass(frozen=True, eq=False)
class Hypernetwork:
    """The networks of one file: input width -> (keys network, values network), each x -> change to x."""

    layers: Mapping[int, tuple[torch.nn.Module, torch.nn.Module]]
    activation: str
    source: str

    @property
    def widths(self) -> tuple[int, ...]:
        """The input widths this hypernetwork has networks for."""
        return tuple(sorted(self.layers))

    def to(self, device: torch.device | str) -> Hypernetwork:
        """A copy on `device` (float32); this one is left where it is."""
        moved = {w: tuple(copy.deepcopy(n).to(device).float() for n in pair) for w, pair in self.layers.items()}
        return Hypernetwork(moved, self.activation, self.source)  # type: ignore[arg-type]

    def byte_size(self) -> int:
        """Bytes held by the networks' weights."""
        return sum(p.numel() * p.element_size() for pair in self.layers.values() for n in pair for p in n.parameters())


def read_hypernetwork(path: str | os.PathLike[str]) -> Hypernetwork:
    """Read a hypernetwork file (.pt weights-only, or .safetensors in graphflow's layout); errors name the file."""
    path = Path(path)
    if path.suffix.lower() in SAFETENSORS_SUFFIXES:
        tables, options = _from_safetensors(path)
    else:
        tables, options = _from_torch(path)
    return build_hypernetwork(tables, options, path.name)


def _from_torch(path: Path) -> tuple[dict[int, list[Mapping[str, Tensor]]], dict[str, Any]]:
    data = load_torch_weights_only(path)
    if not isinstance(data, dict):
        raise HypernetworkFormatError(f"{path.name} holds a {type(data).__name__}, not a hypernetwork's dict")
    tables = {int(k): v for k, v in data.items() if isinstance(k, int) or (isinstance(k, str) and k.isdigit())}
    return tables, {k: data[k] for k in _OPTIONS if k in data}


def _from_safetensors(path: Path) -> tuple[dict[int, list[Mapping[str, Tensor]]], dict[str, Any]]:
    try:
        state = load_state_dict(path)
    except CheckpointFormatError as exc:
        raise HypernetworkFormatError(str(exc)) from None
    tables: dict[int, list[dict[str, Tensor]]] = {}
    for key, value in state.items():
        match = _FLAT.match(key)
        if match is None:
            raise HypernetworkFormatError(
                f"{path.name}: tensor {key!r} is not named <width>.<0|1>.linear.<n>.<weight|bias>"
            )
        pair = tables.setdefault(int(match[1]), [{}, {}])
        pair[int(match[2])][match[3]] = value
    options = {}
    for key, text in load_metadata(path).items():
        if key in _OPTIONS:
            try:
                options[key] = json.loads(text)
            except ValueError:
                options[key] = text  # a bare activation name
    return tables, options  # type: ignore[return-value]


def build_hypernetwork(
    tables: Mapping[int, Any], options: Mapping[str, Any], source: str = "the hypernetwork"
) -> Hypernetwork:
    """The networks from per-width [keys, values] state dicts and the file's options."""
    activation = str(options.get("activation_func") or "linear")
    if activation not in ACTIVATIONS:
        raise HypernetworkFormatError(
            f"{source}: activation {activation!r} is not supported; supported: {', '.join(ACTIVATIONS)}"
        )
    if not tables:
        raise HypernetworkFormatError(f"{source} has no networks (no entries keyed by a width such as 768)")
    activate_output = bool(options.get("activate_output", False))
    layers = {}
    for width, pair in tables.items():
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise HypernetworkFormatError(f"{source}: width {width} needs a pair [keys, values] of networks")
        layers[width] = tuple(
            _network(state, activation, activate_output, f"{source} ({width}, {part})")
            for state, part in zip(pair, ("keys", "values"), strict=True)
        )
        given = {next(iter(net)).in_features for net in layers[width]}
        if given != {width}:
            raise HypernetworkFormatError(f"{source}: the networks listed under width {width} take width {given.pop()}")
    return Hypernetwork(layers, activation, source)  # type: ignore[arg-type]


def _network(state: Mapping[str, Tensor], activation: str, activate_output: bool, where: str) -> torch.nn.Sequential:
    """Linear layers in file order, each followed by the activation (not after the last unless asked), and any
    layer norm the file has after it."""
    if not isinstance(state, Mapping):
        raise HypernetworkFormatError(f"{where}: expected a state dict, got {type(state).__name__}")
    indices = sorted({int(m[1]) for key in state if (m := _LAYER.match(str(key)))})
    if not indices:
        raise HypernetworkFormatError(f"{where}: no linear.N.weight layers")
    linears = [i for i in indices if state[f"linear.{i}.weight"].ndim == 2]
    modules: list[torch.nn.Module] = []
    for i in indices:
        weight, bias = state[f"linear.{i}.weight"], state.get(f"linear.{i}.bias")
        if bias is None:
            raise HypernetworkFormatError(f"{where}: layer linear.{i} has no bias")
        if weight.ndim == 2:
            layer: torch.nn.Module = torch.nn.Linear(weight.shape[1], weight.shape[0])
            layer.load_state_dict({"weight": weight.float(), "bias": bias.float()})
            modules.append(layer)
            if activation != "linear" and (i != linears[-1] or activate_output):
                modules.append(ACTIVATIONS[activation]())
        else:
            norm = torch.nn.LayerNorm(weight.shape[0])
            norm.load_state_dict({"weight": weight.float(), "bias": bias.float()})
            modules.append(norm)
    _check_widths(modules, where)
    return torch.nn.Sequential(*modules).eval().requires_grad_(False)


def _check_widths(modules: list[torch.nn.Module], where: str) -> None:
    linears = [m for m in modules if isinstance(m, torch.nn.Linear)]
    if linears[0].in_features != linears[-1].out_features:
        raise HypernetworkFormatError(
            f"{where}: the network maps width {linears[0].in_features} to {linears[-1].out_features}; "
            "a hypernetwork must give back its input width"
        )
    for first, second in itertools.pairwise(linears):
        if first.out_features != second.in_features:
            raise HypernetworkFormatError(f"{where}: layer widths do not chain ({first} then {second})")
