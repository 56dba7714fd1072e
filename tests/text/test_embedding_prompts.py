"""`embedding:name` in a prompt: where names end, how many token positions they take, and what the model sees.

The reference for the encodings is the other way of using an embedding: a copy of the text model with
the vectors added to its vocabulary as new tokens (as diffusers' load_textual_inversion does).
"""

import copy
import dataclasses
from pathlib import Path

import pytest
import torch

from graphflow.patches import WeightPatch, applied
from graphflow.text import (
    ClipPart,
    Embedding,
    EmbeddingError,
    TextEncoder,
    TextEncoderError,
    clip_bpe_tokenizer,
    embedding_names,
    tokenize_weighted,
    tokenizer_from_folder,
)
from graphflow.text.embedding_syntax import EmbeddingRef, split_references
from graphflow.text.embeddings import ANY_PART

CAT = 2368  # "cat" in CLIP's vocabulary
BOS, EOS = 49406, 49407


def vectors(count: int, width: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(count, width, generator=torch.Generator().manual_seed(seed))


def lookup(**embeddings: Embedding):
    return lambda name: embeddings[name]


def generic(rows: torch.Tensor, name: str = "x") -> Embedding:
    return Embedding(Path(f"{name}.safetensors"), {ANY_PART: rows})


def with_added_tokens(part: ClipPart, rows: torch.Tensor) -> tuple[torch.nn.Module, list[int]]:
    """A copy of the part's model whose vocabulary ends with `rows`, pooling at the first EOS; the new ids."""
    model = copy.deepcopy(part.model)
    vocab = int(model.config.vocab_size)
    model.resize_token_embeddings(vocab + len(rows))
    with torch.no_grad():
        model.get_input_embeddings().weight[vocab:] = rows
    getattr(model, "text_model", model).eos_token_id = part.tokenizer.eos_id
    return model, list(range(vocab, vocab + len(rows)))


def reference(part: ClipPart, rows: torch.Tensor, before: str, after: str):
    """The added-tokens model's outputs for `before <embedding> after` as one padded chunk."""
    model, new_ids = with_added_tokens(part, rows)
    tok = part.tokenizer
    ids = [tok.bos_id, *tok.ids(before), *new_ids, *tok.ids(after), tok.eos_id]
    ids += [tok.pad_id] * (77 - len(ids))
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids]), output_hidden_states=True)


@pytest.mark.parametrize(
    ("prompt", "pieces"),
    [
        ("a embedding:shiny cat", ["a ", EmbeddingRef("shiny"), " cat"]),
        ("embedding:shiny, cat", [EmbeddingRef("shiny"), ", cat"]),
        ("cat,embedding:a/b.pt,dog", ["cat,", EmbeddingRef("a/b.pt"), ",dog"]),
        ("embedding:x:1.2", [EmbeddingRef("x:1.2")]),
        ("myembedding:x", ["myembedding:x"]),
        ("embedding: x", ["embedding: x"]),
    ],
)
def test_an_embedding_name_runs_to_whitespace_or_punctuation(prompt, pieces):
    assert split_references(prompt) == pieces


def test_names_are_found_inside_the_weight_syntax_once_each_in_order():
    prompt = "(embedding:b:1.2), a [embedding:a] and ((embedding:b)) \\(embedding:c\\)"
    assert embedding_names(prompt) == ["b", "a", "c"]


def test_an_embedding_takes_one_position_per_vector_with_bos_as_its_placeholder():
    (chunk,) = tokenize_weighted("a embedding:x cat", clip_bpe_tokenizer(), {"x": 3})
    assert chunk.ids[:7] == (BOS, 320, BOS, BOS, BOS, CAT, EOS)
    assert [(s.position, s.name, s.index) for s in chunk.slots] == [(2, "x", 0), (3, "x", 1), (4, "x", 2)]


def test_an_embedding_that_does_not_fit_moves_whole_to_the_next_chunk():
    chunks = tokenize_weighted("cat " * 73 + "embedding:x", clip_bpe_tokenizer(), {"x": 3})
    assert len(chunks) == 2 and not chunks[0].slots
    assert chunks[0].ids.count(CAT) == 73 and chunks[0].ids[74] == EOS
    assert [s.position for s in chunks[1].slots] == [1, 2, 3] and chunks[1].ids[4] == EOS


def test_an_embedding_of_eight_vectors_or_more_is_split_across_chunks_like_a_long_word():
    chunks = tokenize_weighted("cat " * 70 + "embedding:x", clip_bpe_tokenizer(), {"x": 10})
    assert [s.index for s in chunks[0].slots] == [0, 1, 2, 3, 4]
    assert [s.position for s in chunks[0].slots] == [71, 72, 73, 74, 75]
    assert [(s.position, s.index) for s in chunks[1].slots] == [(1, 5), (2, 6), (3, 7), (4, 8), (5, 9)]


def test_weights_apply_to_every_vector_of_an_embedding():
    (chunk,) = tokenize_weighted("a (embedding:x:1.2) cat", clip_bpe_tokenizer(), {"x": 2})
    assert chunk.weights[:5] == (1.0, 1.0, 1.2, 1.2, 1.0)


def test_an_sd1_prompt_with_an_embedding_encodes_like_the_vectors_added_as_tokens(sd1_part):
    rows = vectors(2, 32)
    (entry,) = TextEncoder([sd1_part], "sd1").encode("a embedding:x cat", lookup(x=generic(rows)))
    expected = reference(sd1_part, rows, "a", "cat").last_hidden_state
    torch.testing.assert_close(entry.context, expected, rtol=0, atol=1e-6)
    (plain,) = TextEncoder([sd1_part], "sd1").encode("a cat")
    assert not torch.allclose(entry.context, plain.context)


def test_the_demo_family_takes_an_embedding_for_a_word_its_tokenizer_does_not_know(word_tokenizer_folder, make_clip):
    tokenizer = tokenizer_from_folder(word_tokenizer_folder)
    part = ClipPart("clip_l", make_clip(16, layers=2, vocab=tokenizer.vocab_size), tokenizer)
    rows = vectors(1, 16)
    (entry,) = TextEncoder([part], "demo").encode("a embedding:sun circle", lookup(sun=generic(rows)))
    expected = reference(part, rows, "a", "circle").last_hidden_state
    torch.testing.assert_close(entry.context, expected, rtol=0, atol=1e-6)


def test_an_sd2_prompt_with_an_embedding_uses_the_penultimate_layer_and_zero_padding(sd2_part):
    rows = vectors(1, 40)
    (entry,) = TextEncoder([sd2_part], "sd2").encode("embedding:x a cat", lookup(x=generic(rows)))
    out = reference(sd2_part, rows, "", "a cat")
    with torch.no_grad():
        expected = getattr(sd2_part.model, "text_model", sd2_part.model).final_layer_norm(out.hidden_states[-2])
    torch.testing.assert_close(entry.context, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("pooling", ["highest id", "first eos id"])
def test_sdxl_parts_get_their_own_vectors_and_the_pooled_output_stays_at_the_end_token(sdxl_parts, pooling):
    clip_l, clip_g = sdxl_parts
    if pooling == "first eos id":  # transformers pools at config.eos_token_id when it is not the legacy 2
        model = copy.deepcopy(clip_g.model)
        model.text_model.eos_token_id = EOS
        clip_g = dataclasses.replace(clip_g, model=model)
    rows_l, rows_g = vectors(2, 32, seed=1), vectors(2, 48, seed=2)
    embedding = Embedding(Path("xl.safetensors"), {"clip_l": rows_l, "clip_g": rows_g})
    (entry,) = TextEncoder([clip_l, clip_g], "sdxl").encode("a embedding:xl cat", lookup(xl=embedding))
    out_l, out_g = reference(clip_l, rows_l, "a", "cat"), reference(clip_g, rows_g, "a", "cat")
    torch.testing.assert_close(entry.context[..., :32], out_l.hidden_states[-2], rtol=0, atol=1e-6)
    torch.testing.assert_close(entry.context[..., 32:], out_g.hidden_states[-2], rtol=0, atol=1e-6)
    torch.testing.assert_close(entry.pooled, out_g.text_embeds, rtol=0, atol=1e-6)


def test_a_weighted_embedding_moves_from_the_empty_prompt_by_its_weight(sd1_part):
    encoder = TextEncoder([sd1_part], "sd1")
    found = lookup(x=generic(vectors(2, 32)))
    (plain,) = encoder.encode("a embedding:x cat", found)
    (weighted,) = encoder.encode("a (embedding:x:1.2) cat", found)
    (empty,) = encoder.encode("")
    expected = plain.context.clone()
    expected[:, 2:4] = empty.context[:, 2:4] + (plain.context[:, 2:4] - empty.context[:, 2:4]) * 1.2
    torch.testing.assert_close(weighted.context, expected, rtol=0, atol=1e-6)
    assert torch.equal(weighted.context[:, 4:], plain.context[:, 4:])


def test_a_multi_vector_embedding_pushes_the_rest_of_a_long_prompt_into_the_next_chunk(sd1_part):
    encoder = TextEncoder([sd1_part], "sd1")
    found = lookup(x=generic(vectors(3, 32)))
    (entry,) = encoder.encode("cat " * 73 + "embedding:x", found)
    assert entry.context.shape == (1, 154, 32)
    (head,) = encoder.encode("cat " * 73)
    (tail,) = encoder.encode("embedding:x", found)
    assert torch.equal(entry.context[:, :77], head.context)
    assert torch.equal(entry.context[:, 77:], tail.context)


def test_encoding_leaves_the_cached_model_as_it_was(sd1_part):
    before = {k: v.clone() for k, v in sd1_part.model.state_dict().items()}
    encoder = TextEncoder([sd1_part], "sd1")
    (plain_before,) = encoder.encode("a cat")
    encoder.encode("a (embedding:x:1.3) cat", lookup(x=generic(vectors(2, 32))))
    after = sd1_part.model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert not sd1_part.model.get_input_embeddings()._forward_hooks
    (plain_after,) = encoder.encode("a cat")
    assert torch.equal(plain_before.context, plain_after.context)


def test_weight_patches_still_apply_while_an_embedding_is_used(sd1_part):
    key = next(name for name, _ in sd1_part.model.named_parameters() if name.endswith("final_layer_norm.bias"))
    patch = WeightPatch(key, lambda weight: torch.ones_like(weight), 0.5)
    found = lookup(x=generic(vectors(1, 32)))
    (patched,) = TextEncoder([sd1_part], "sd1").with_patches({"clip_l": [patch]}).encode("embedding:x cat", found)
    with applied(sd1_part.model, [patch]):
        (expected,) = TextEncoder([sd1_part], "sd1").encode("embedding:x cat", found)
    assert torch.equal(patched.context, expected.context)
    (unpatched,) = TextEncoder([sd1_part], "sd1").encode("embedding:x cat", found)
    assert not torch.equal(patched.context, unpatched.context)


def test_a_vector_too_narrow_for_clip_g_names_the_file_and_the_part(sdxl_parts):
    encoder = TextEncoder(list(sdxl_parts), "sdxl")
    with pytest.raises(EmbeddingError, match=r"sd15\.safetensors has vectors of width 32, but the text part clip_g"):
        encoder.encode("a embedding:sd15 cat", lookup(sd15=generic(vectors(1, 32), "sd15")))


def test_a_prompt_naming_an_embedding_needs_somewhere_to_find_it(sd1_part):
    with pytest.raises(TextEncoderError, match="names embedding:x, but this text encoder was not given"):
        TextEncoder([sd1_part], "sd1").encode("a embedding:x")
