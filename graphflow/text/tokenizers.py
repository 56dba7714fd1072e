"""Tokenizers for CLIP text encoders: CLIP's own BPE (offline) and transformers tokenizer folders."""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

CLIP_MAX_LENGTH = 77
"""Tokens per CLIP chunk: BOS, 75 text tokens, EOS (or padding)."""

CLIP_VOCAB_SIZE = 49408
CLIP_BOS = 49406
CLIP_EOS = 49407


@runtime_checkable
class Tokenizer(Protocol):
    """What a text encoder needs from a tokenizer: special ids, chunk length and text -> ids."""

    bos_id: int | None
    """The start token; None for a tokenizer without one (T5)."""
    eos_id: int
    pad_id: int
    max_length: int
    vocab_size: int

    def ids(self, text: str) -> list[int]:
        """Token ids of `text`, without BOS/EOS."""
        ...

    def decode(self, ids: Sequence[int]) -> str:
        """Text of a sequence of token ids (for display and debugging)."""
        ...


class ClipBpeTokenizer:
    """CLIP's byte-pair tokenizer (the one SD1/SD2/SDXL were trained with), fully offline."""

    def __init__(self, pad_with_end: bool = True) -> None:
        self._bpe = _clip_bpe()
        self.bos_id = CLIP_BOS
        self.eos_id = CLIP_EOS
        self.pad_id = CLIP_EOS if pad_with_end else 0
        self.max_length = CLIP_MAX_LENGTH
        self.vocab_size = CLIP_VOCAB_SIZE

    def ids(self, text: str) -> list[int]:
        """Token ids of `text` after CLIP's clean-up (HTML entities, Unicode NFC, whitespace, lower case)."""
        return [int(i) for i in self._bpe.encode(_clean(text))]

    def decode(self, ids: Sequence[int]) -> str:
        """Text of a sequence of token ids."""
        return str(self._bpe.decode([int(i) for i in ids])).strip()

    def __repr__(self) -> str:
        return f"ClipBpeTokenizer(pad_id={self.pad_id})"


class TransformersTokenizer:
    """A transformers tokenizer object behind the `Tokenizer` protocol (ids without special tokens)."""

    def __init__(self, hf_tokenizer: Any, source: str, bos: int | None, eos: int, pad: int, max_length: int) -> None:
        self._hf = hf_tokenizer
        self.source = source
        self.bos_id = bos
        self.eos_id = eos
        self.pad_id = pad
        self.max_length = max_length
        self.vocab_size = len(hf_tokenizer)

    def ids(self, text: str) -> list[int]:
        """Token ids of `text`, without start/end tokens."""
        return [int(i) for i in self._hf(text, add_special_tokens=False)["input_ids"]]

    def decode(self, ids: Sequence[int]) -> str:
        """Text of a sequence of token ids, special tokens left out."""
        return str(self._hf.decode([int(i) for i in ids], skip_special_tokens=True))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.source!r})"


class FolderTokenizer(TransformersTokenizer):
    """A CLIP tokenizer loaded from a local folder (e.g. a diffusers `tokenizer/` folder)."""

    def __init__(self, hf_tokenizer: Any, source: str, max_length: int = CLIP_MAX_LENGTH) -> None:
        bos, eos = hf_tokenizer.bos_token_id, hf_tokenizer.eos_token_id
        if bos is None or eos is None:
            raise ValueError(
                f"the tokenizer in {source} has no start/end-of-text tokens (bos/eos); "
                "a CLIP text encoder needs both: set bos_token and eos_token in tokenizer_config.json"
            )
        pad = hf_tokenizer.pad_token_id
        super().__init__(hf_tokenizer, source, int(bos), int(eos), int(eos) if pad is None else int(pad), max_length)


def clip_bpe_tokenizer(pad_with_end: bool = True) -> Tokenizer:
    """CLIP's BPE tokenizer; pad with EOS (SD1, SDXL clip_l) or with 0 (SD2, SDXL clip_g)."""
    return ClipBpeTokenizer(pad_with_end=pad_with_end)


def tokenizer_from_folder(path: str | Path, max_length: int = CLIP_MAX_LENGTH) -> Tokenizer:
    """Load a transformers tokenizer folder (tokenizer.json, or vocab.json + merges.txt) offline."""
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"tokenizer folder not found: {folder} (give the folder holding tokenizer.json)")
    if not any((folder / name).is_file() for name in ("tokenizer.json", "vocab.json")):
        hint = " (it has a 'tokenizer' subfolder: use that)" if (folder / "tokenizer").is_dir() else ""
        raise FileNotFoundError(f"{folder} holds no tokenizer.json or vocab.json{hint}")
    from transformers import AutoTokenizer

    try:
        hf_tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ValueError(f"could not load the tokenizer in {folder}: {exc}") from exc
    return FolderTokenizer(hf_tokenizer, source=str(folder), max_length=max_length)


@lru_cache(maxsize=1)
def _clip_bpe() -> Any:
    """The shared instant-clip-tokenizer instance (it carries CLIP's merges; building one is not free)."""
    import instant_clip_tokenizer

    return instant_clip_tokenizer.Tokenizer()


def _clean(text: str) -> str:
    """CLIP's text clean-up before BPE: unescape HTML twice, normalise Unicode, collapse whitespace."""
    text = html.unescape(html.unescape(text))
    return " ".join(unicodedata.normalize("NFC", text).split())
