"""Text encoding: tokenizers, prompt weights, textual-inversion embeddings and the CLIP text encoder value."""

from graphflow.text.chunks import EmbeddingSlot, TokenChunk, tokenize_weighted
from graphflow.text.embedding_library import EmbeddingLoader, EmbeddingNotFoundError, embedding_choices
from graphflow.text.embedding_syntax import embedding_names
from graphflow.text.embeddings import Embedding, EmbeddingError, read_embedding
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
    "Embedding",
    "EmbeddingError",
    "EmbeddingLoader",
    "EmbeddingNotFoundError",
    "EmbeddingSlot",
    "FolderTokenizer",
    "TextEncoder",
    "TextEncoderError",
    "TokenChunk",
    "Tokenizer",
    "clip_bpe_tokenizer",
    "embedding_choices",
    "embedding_names",
    "parse_weighted",
    "read_embedding",
    "tokenize_weighted",
    "tokenizer_from_folder",
]
