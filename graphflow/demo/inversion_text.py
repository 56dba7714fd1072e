"""Prompts with `embedding:<name>` words, for training and scoring textual-inversion embeddings.

A name in a prompt stands for its embedding's vectors, one token position each, in place of token
embeddings (before the text encoder adds positions), as ComfyUI and A1111 put them: the rest of the
prompt is tokenized as usual between begin and end tokens and padded to the tokenizer's length.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from transformers import CLIPTextModel, CLIPTokenizer

EMBEDDING_WORD = re.compile(r"embedding:([^\s,]+)")


@dataclass(frozen=True)
class Slot:
    """One token position taken by row `row` of embedding `name`."""

    position: int
    name: str
    row: int


def prompt_ids(tokenizer: CLIPTokenizer, prompt: str, sizes: Mapping[str, int]) -> tuple[list[int], list[Slot]]:
    """Token ids of a prompt padded to the tokenizer's length, and the slots its embeddings fill.

    `sizes` gives each known embedding's number of vectors; an unknown name is a KeyError naming it.
    """
    ids, slots = [tokenizer.bos_token_id], []
    cursor = 0
    for match in [*EMBEDDING_WORD.finditer(prompt), None]:
        text = prompt[cursor : match.start() if match else len(prompt)]
        if text.strip():
            ids += tokenizer(text.strip(), add_special_tokens=False).input_ids
        if match is None:
            break
        name = match.group(1)
        if name not in sizes:
            raise KeyError(f"prompt {prompt!r}: no embedding named {name!r} (known: {', '.join(sizes) or 'none'})")
        for row in range(sizes[name]):
            slots.append(Slot(len(ids), name, row))
            ids.append(tokenizer.pad_token_id)
        cursor = match.end()
    length = tokenizer.model_max_length
    ids = [*ids[: length - 1], tokenizer.eos_token_id]
    return ids + [tokenizer.pad_token_id] * (length - len(ids)), [s for s in slots if s.position < length - 1]


def batch_ids(
    tokenizer: CLIPTokenizer, prompts: Sequence[str], sizes: Mapping[str, int]
) -> tuple[torch.Tensor, list[list[Slot]]]:
    """prompt_ids() of several prompts: ids [B, L] and each prompt's slots."""
    pairs = [prompt_ids(tokenizer, p, sizes) for p in prompts]
    return torch.tensor([ids for ids, _ in pairs]), [slots for _, slots in pairs]


@contextmanager
def vectors_in_place(
    text_encoder: CLIPTextModel, slots: Sequence[Sequence[Slot]], vectors: Mapping[str, torch.Tensor]
) -> Iterator[None]:
    """While active, the text encoder's token embeddings at each prompt's slots are the named vectors."""
    table = text_encoder.get_input_embeddings()

    def replace(_module: torch.nn.Module, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
        rows = [[b, s.position] for b, prompt in enumerate(slots) for s in prompt]
        if not rows:
            return output
        values = torch.stack([vectors[s.name][s.row] for prompt in slots for s in prompt]).to(output.dtype)
        index = torch.tensor(rows)
        return output.index_put((index[:, 0], index[:, 1]), values)

    handle = table.register_forward_hook(replace)
    try:
        yield
    finally:
        handle.remove()


def encode(
    text_encoder: CLIPTextModel, tokenizer: CLIPTokenizer, prompts: Sequence[str], vectors: Mapping[str, torch.Tensor]
) -> torch.Tensor:
    """The text encoder's last hidden states [B, L, width] for prompts that may name embeddings."""
    ids, slots = batch_ids(tokenizer, prompts, {name: len(v) for name, v in vectors.items()})
    with vectors_in_place(text_encoder, slots, vectors):
        return text_encoder(ids)[0]
