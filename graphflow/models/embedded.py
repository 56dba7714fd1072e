"""Single-file checkpoints that describe themselves: configs and tokenizer in the .safetensors metadata.

Weights alone do not tell a UNet's attention head count, a VAE's scaling factor or a text encoder's
vocabulary; Stable Diffusion files leave those to their family's published configs. A model with its own
shapes (such as graphflow's demo model) writes them under `graphflow.*` metadata keys, which the
single-file loader prefers to what it reads off the weights.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from graphflow.text.tokenizers import FolderTokenizer, Tokenizer

CONFIGS_KEY = "graphflow.configs"
TOKENIZER_KEY = "graphflow.tokenizer"
SPECIAL_TOKENS_KEY = "graphflow.special_tokens"
SPECIAL_TOKENS = ("bos_token", "eos_token", "pad_token", "unk_token")


def embed(configs: Mapping[str, Any], tokenizer: Any | None = None) -> dict[str, str]:
    """Metadata holding `configs` ({"unet", "vae", "text": {part: config}, "scheduler"}) and a fast tokenizer."""
    metadata = {CONFIGS_KEY: json.dumps(configs)}
    if tokenizer is not None:
        metadata[TOKENIZER_KEY] = tokenizer.backend_tokenizer.to_str()
        specials = {name: getattr(tokenizer, name) for name in SPECIAL_TOKENS if getattr(tokenizer, name) is not None}
        metadata[SPECIAL_TOKENS_KEY] = json.dumps(specials)
    return metadata


def embedded_configs(metadata: Mapping[str, str], source: str) -> dict[str, Any]:
    """The configs a file carries ({} when it carries none)."""
    if CONFIGS_KEY not in metadata:
        return {}
    try:
        configs = json.loads(metadata[CONFIGS_KEY])
    except ValueError as error:
        raise ValueError(f"{source}: its {CONFIGS_KEY!r} metadata is not valid JSON ({error})") from None
    if not isinstance(configs, dict):
        raise ValueError(f"{source}: its {CONFIGS_KEY!r} metadata is not a JSON object")
    return configs


def embedded_tokenizer(metadata: Mapping[str, str], source: str) -> Tokenizer | None:
    """The tokenizer a file carries, or None."""
    if TOKENIZER_KEY not in metadata:
        return None
    from tokenizers import Tokenizer as RustTokenizer
    from transformers import PreTrainedTokenizerFast

    try:
        specials = json.loads(metadata.get(SPECIAL_TOKENS_KEY, "{}"))
        backend = RustTokenizer.from_str(metadata[TOKENIZER_KEY])
    except Exception as error:  # the tokenizers library raises its own exception types
        raise ValueError(f"{source}: its embedded tokenizer cannot be read ({error})") from None
    return FolderTokenizer(PreTrainedTokenizerFast(tokenizer_object=backend, **specials), source=f"{source} (embedded)")
