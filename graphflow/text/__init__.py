"""Text encoding: tokenizers, prompt weights and the CLIP text encoder value."""

from graphflow.text.chunks import TokenChunk, tokenize_weighted
from graphflow.text.encoder import FAMILIES, ClipPart, TextEncoder, TextEncoderError
from graphflow.text.tokenizers import (
    ClipBpeTokenizer,
    FolderTokenizer,
    Tokenizer,
    clip_bpe_tokenizer,
    tokenizer_from_folder,
)
from graphflow.text.weights import parse_weighted

__all__ = [
    "FAMILIES",
    "ClipBpeTokenizer",
    "ClipPart",
    "FolderTokenizer",
    "TextEncoder",
    "TextEncoderError",
    "TokenChunk",
    "Tokenizer",
    "clip_bpe_tokenizer",
    "parse_weighted",
    "tokenize_weighted",
    "tokenizer_from_folder",
]
