"""A tiny LoRA for training (no peft), kohya/A1111 file keys, and merging a LoRA file into weights.

Training adds `strength * alpha / rank * up(down(x))` to a Linear layer's output through a forward hook,
so the base model is never replaced or copied. A file holds, per layer, `<key>.lora_down.weight` [rank, in],
`<key>.lora_up.weight` [out, rank] and `<key>.alpha`, with keys `lora_unet_<diffusers module path>` and
`lora_te_text_model_<transformers module path>` (dots as underscores), as kohya's scripts write them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import torch
from torch import nn

UNET_PREFIX, TEXT_PREFIX = "lora_unet", "lora_te"
UNET_TARGETS = tuple(f"{attn}.{proj}" for attn in ("attn1", "attn2") for proj in ("to_q", "to_k", "to_v", "to_out.0"))
TEXT_TARGETS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj", "mlp.fc1", "mlp.fc2")


class LoraAdapter(nn.Module):
    """The low-rank update of one Linear layer: up(down(x)) * alpha / rank * strength (up starts at zero)."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.down = nn.Linear(base.in_features, rank, bias=False)
        self.up = nn.Linear(rank, base.out_features, bias=False)
        nn.init.kaiming_uniform_(self.down.weight, a=5**0.5)
        nn.init.zeros_(self.up.weight)
        self.rank, self.alpha, self.strength = rank, alpha, 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The update to add to the base layer's output for input x."""
        return self.up(self.down(x)) * (self.alpha / self.rank * self.strength)


def kohya_key(prefix: str, module_path: str) -> str:
    """A module's kohya key: ("lora_te", "encoder.layers.0.mlp.fc1") -> lora_te_text_model_encoder_layers_0_mlp_fc1.

    Text-encoder paths get transformers' `text_model.` root, which newer transformers leave out of CLIPTextModel.
    """
    if prefix == TEXT_PREFIX and not module_path.startswith("text_model."):
        module_path = "text_model." + module_path
    return f"{prefix}_{module_path.replace('.', '_')}"


def target_layers(model: nn.Module, prefix: str, suffixes: Sequence[str]) -> dict[str, nn.Linear]:
    """kohya key -> Linear layer, for every Linear whose module path ends with one of `suffixes`."""
    found = {
        kohya_key(prefix, name): module
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and any(name == s or name.endswith("." + s) for s in suffixes)
    }
    if not found:
        raise ValueError(f"no Linear layer of {type(model).__name__} ends with any of {', '.join(suffixes)}")
    return found


class LoraSet(nn.Module):
    """Adapters for some layers of one or more models, attached through forward hooks (remove() takes them off)."""

    def __init__(self) -> None:
        super().__init__()
        self.adapters = nn.ModuleDict()
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def attach(self, model: nn.Module, prefix: str, suffixes: Sequence[str], rank: int, alpha: float) -> None:
        """Give every targeted Linear of `model` an adapter whose output is added to the layer's."""
        for key, layer in target_layers(model, prefix, suffixes).items():
            adapter = LoraAdapter(layer, rank, alpha).to(layer.weight.device)
            self.adapters[key] = adapter
            self._handles.append(layer.register_forward_hook(_adding(adapter)))

    def remove(self) -> None:
        """Take every hook off; the models compute exactly what they did before attach()."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def set_strength(self, strength: float) -> None:
        """Scale every adapter's contribution."""
        for adapter in self.adapters.values():
            adapter.strength = strength  # type: ignore[assignment]

    def kohya_state_dict(self, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
        """The adapters as a kohya/A1111 LoRA state dict (lora_down, lora_up, alpha per layer)."""
        state = {}
        for key, adapter in self.adapters.items():
            state[f"{key}.lora_down.weight"] = adapter.down.weight.detach().to(dtype).contiguous()
            state[f"{key}.lora_up.weight"] = adapter.up.weight.detach().to(dtype).contiguous()
            state[f"{key}.alpha"] = torch.tensor(float(adapter.alpha), dtype=dtype)
        return state


def _adding(adapter: LoraAdapter) -> Callable[[nn.Module, tuple[torch.Tensor, ...], torch.Tensor], torch.Tensor]:
    def hook(_module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
        return output + adapter(inputs[0])

    return hook


def lora_deltas(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """kohya key -> the full weight update alpha / rank * up @ down, from a kohya state dict."""
    deltas = {}
    for name, down in state.items():
        if not name.endswith(".lora_down.weight"):
            continue
        key = name.removesuffix(".lora_down.weight")
        up = state[f"{key}.lora_up.weight"].float()
        rank = down.shape[0]
        alpha = float(state[f"{key}.alpha"]) if f"{key}.alpha" in state else float(rank)
        deltas[key] = (alpha / rank) * (up @ down.float())
    return deltas


@contextmanager
def merged(models: Mapping[str, nn.Module], state: Mapping[str, torch.Tensor], strength: float) -> Iterator[None]:
    """Add a kohya LoRA into the weights of {prefix: model} for the block's duration, then put them back.

    Raises KeyError naming the file's keys that match no layer.
    """
    layers: dict[str, nn.Linear] = {}
    for prefix, model in models.items():
        layers.update(_all_linear(model, prefix))
    deltas = lora_deltas(state)
    unmatched = sorted(set(deltas) - set(layers))
    if unmatched:
        raise KeyError(f"{len(unmatched)} LoRA keys match no layer, e.g. {unmatched[0]}")
    saved = {key: layers[key].weight.detach().clone() for key in deltas}
    try:
        with torch.no_grad():
            for key, delta in deltas.items():
                layers[key].weight.add_(delta.to(layers[key].weight.dtype), alpha=strength)
        yield
    finally:
        with torch.no_grad():
            for key, weight in saved.items():
                layers[key].weight.copy_(weight)


def _all_linear(model: nn.Module, prefix: str) -> dict[str, nn.Linear]:
    return {kohya_key(prefix, n): m for n, m in model.named_modules() if isinstance(m, nn.Linear)}
