"""T5 tokenizers for the flow-matching families (SD3's and Flux's `t5xxl` part), read from local folders only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graphflow.text.tokenizers import TransformersTokenizer

T5_PART = "t5xxl"
"""The part name of a T5 encoder in a TextEncoder (ComfyUI's name)."""

T5_MAX_LENGTH = 512
"""Tokens per T5 row unless a family asks for fewer (Flux dev encodes 512, SD3 256)."""

TOKENIZER_FILES = ("tokenizer.json", "spiece.model")
"""What makes a folder a T5 tokenizer folder: the fast tokenizer's JSON, or the SentencePiece model."""


class T5PromptTokenizer(TransformersTokenizer):
    """A T5 tokenizer: no start token, ends with EOS (id 1), pads with <pad> (id 0)."""

    def __init__(self, hf_tokenizer: Any, source: str, max_length: int = T5_MAX_LENGTH) -> None:
        eos, pad = hf_tokenizer.eos_token_id, hf_tokenizer.pad_token_id
        if eos is None or pad is None:
            raise ValueError(
                f"the T5 tokenizer in {source} has no end or padding token: set eos_token and pad_token "
                "in tokenizer_config.json"
            )
        super().__init__(hf_tokenizer, source, None, int(eos), int(pad), max_length)


def find_t5_tokenizer_folder(*folders: str | Path) -> Path:
    """The first of `folders` holding tokenizer.json or spiece.model; an error names every folder looked in."""
    for folder in map(Path, folders):
        if any((folder / name).is_file() for name in TOKENIZER_FILES):
            return folder
    looked = ", ".join(str(Path(folder)) for folder in folders) or "no folders given"
    raise FileNotFoundError(
        f"no T5 tokenizer ({' or '.join(TOKENIZER_FILES)}) found; looked in: {looked}. "
        "Tokenizers are never downloaded: put the T5 tokenizer files next to the text encoder"
    )


def t5_tokenizer_from_folder(*folders: str | Path, max_length: int = T5_MAX_LENGTH) -> T5PromptTokenizer:
    """Load the T5 tokenizer from the first of `folders` that holds one, offline."""
    folder = find_t5_tokenizer_folder(*folders)
    from transformers import T5TokenizerFast

    try:
        hf_tokenizer = T5TokenizerFast.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, ImportError) as exc:
        raise ValueError(f"could not load the T5 tokenizer in {folder}: {exc}") from exc
    return T5PromptTokenizer(hf_tokenizer, source=str(folder), max_length=max_length)
