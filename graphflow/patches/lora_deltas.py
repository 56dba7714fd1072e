"""The weight change of a LoRA-family layer, computed in float32 from its small factors, and its shape.

- LoRA (and LoCon): up @ down over the rank, the kernel taken from down; with a "mid" (LoCon's Tucker
  form) the rank-to-rank convolution sits between them.
- LoHa: (w1_a @ w1_b) * (w2_a @ w2_b), elementwise; with t1/t2, each product goes through its Tucker core.
- LoKr: kron(w1, w2), each given whole or as a product of two factors (w2 possibly through a core t2).
- full: the stored difference itself ("diff", and "diff_b" for the bias).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from graphflow.patches.lora_format import LoraLayer

Shape = tuple[int, ...]


def weight_delta(layer: LoraLayer, weight: Tensor) -> Tensor:
    """The layer's change to `weight` (before scale and strength), float32 on the weight's device, shaped like it."""
    factor = _getter(layer, weight)
    if layer.kind == "lora":
        delta = _lora(factor("up"), factor("down"), factor("mid") if "mid" in layer.tensors else None)
    elif layer.kind == "loha":
        first = _tucker_product(layer, factor, "hada_w1_a", "hada_w1_b", "hada_t1")
        delta = first * _tucker_product(layer, factor, "hada_w2_a", "hada_w2_b", "hada_t2")
    elif layer.kind == "lokr":
        delta = _lokr(factor, layer)
    else:
        delta = factor("diff")
    return delta.reshape(weight.shape)


def bias_delta(layer: LoraLayer, bias: Tensor) -> Tensor:
    """The layer's full change to a bias ("diff_b"), float32 on the bias' device."""
    return _getter(layer, bias)("diff_b").reshape(bias.shape)


def delta_shape(layer: LoraLayer) -> Shape | None:
    """The shape the layer's factors give its weight change, or None when the factors do not fit each other."""
    shape = layer.tensors.get
    if layer.kind == "lora":
        down, up, mid = shape("down"), shape("up"), shape("mid")
        assert down is not None and up is not None
        if mid is not None:
            fits = mid.shape[0] == up.shape[1] and mid.shape[1] == down.shape[0]
            return (up.shape[0], down.shape[1], *mid.shape[2:]) if fits else None
        return (up.shape[0], *down.shape[1:]) if up.shape[1] == down.shape[0] else None
    if layer.kind == "loha":
        first = _product_shape(layer, "hada_w1_a", "hada_w1_b", "hada_t1")
        second = _product_shape(layer, "hada_w2_a", "hada_w2_b", "hada_t2")
        return first if first is not None and first == second else None
    if layer.kind == "lokr":
        w1 = _whole_or_product_shape(layer, "lokr_w1", "lokr_w1_a", "lokr_w1_b", None)
        w2 = _whole_or_product_shape(layer, "lokr_w2", "lokr_w2_a", "lokr_w2_b", "lokr_t2")
        if w1 is None or w2 is None or len(w1) != 2:
            return None
        return (w1[0] * w2[0], w1[1] * w2[1], *w2[2:])
    diff = shape("diff")
    return tuple(diff.shape) if diff is not None else None


def fits(shape: Shape | None, weight_shape: Shape) -> bool:
    """Whether a change of `shape` can be added to a weight of `weight_shape` (same outputs, same size)."""
    return (
        shape is not None
        and len(weight_shape) > 0
        and shape[0] == weight_shape[0]
        and math.prod(shape) == math.prod(weight_shape)
    )


def _getter(layer: LoraLayer, like: Tensor) -> Callable[[str], Tensor]:
    return lambda role: layer.tensors[role].to(device=like.device, dtype=torch.float32)


def _lora(up: Tensor, down: Tensor, mid: Tensor | None) -> Tensor:
    if mid is not None:
        return torch.einsum("oa,ajkl,ji->oikl", up.flatten(1), mid, down.flatten(1))
    return (up.flatten(1) @ down.flatten(1)).reshape(up.shape[0], *down.shape[1:])


def _tucker_product(layer: LoraLayer, factor: Callable[[str], Tensor], a: str, b: str, core: str) -> Tensor:
    """a @ b, or with a Tucker core t [r, r, kh, kw]: out[p, q, k, l] = sum t[i, j, k, l] b[j, q] a[i, p]."""
    if core not in layer.tensors:
        return factor(a) @ factor(b)
    return torch.einsum("ijkl,jq,ip->pqkl", factor(core), factor(b), factor(a))


def _lokr(factor: Callable[[str], Tensor], layer: LoraLayer) -> Tensor:
    w1 = factor("lokr_w1") if "lokr_w1" in layer.tensors else factor("lokr_w1_a") @ factor("lokr_w1_b")
    if "lokr_w2" in layer.tensors:
        w2 = factor("lokr_w2")
    else:
        w2 = _tucker_product(layer, factor, "lokr_w2_a", "lokr_w2_b", "lokr_t2")
    if w2.ndim == 4:
        w1 = w1[:, :, None, None]
    return torch.kron(w1, w2)


def _product_shape(layer: LoraLayer, a: str, b: str, core: str | None) -> Shape | None:
    first, second = layer.tensors[a].shape, layer.tensors[b].shape
    t = layer.tensors.get(core) if core else None
    if t is not None:
        fits_core = t.ndim == 4 and first[0] == t.shape[0] and second[0] == t.shape[1]
        return (first[1], second[1], *t.shape[2:]) if fits_core else None
    return (first[0], second[1]) if len(first) == 2 and len(second) == 2 and first[1] == second[0] else None


def _whole_or_product_shape(layer: LoraLayer, whole: str, a: str, b: str, core: str | None) -> Shape | None:
    if whole in layer.tensors:
        return tuple(layer.tensors[whole].shape)
    return _product_shape(layer, a, b, core)
