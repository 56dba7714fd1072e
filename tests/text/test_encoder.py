"""The CLIP text encoder value: family layer rules, weights, long prompts, clip skip, SDXL pooled."""

from pathlib import Path

import pytest
import torch

from graphflow.sampling.conditioning import CondEntry
from graphflow.text import ClipPart, TextEncoder, TextEncoderError, clip_bpe_tokenizer, tokenizer_from_folder


def run_model(part: ClipPart, text: str) -> object:
    """The transformers outputs for one unweighted, single-chunk prompt, computed directly."""
    tok = part.tokenizer
    ids = [tok.bos_id, *tok.ids(text), tok.eos_id]
    ids += [tok.pad_id] * (77 - len(ids))
    with torch.no_grad():
        return part.model(input_ids=torch.tensor([ids]), output_hidden_states=True)


def final_norm(model):
    return getattr(model, "text_model", model).final_layer_norm


def test_sd1_uses_the_last_layer_with_final_norm(sd1_part):
    (entry,) = TextEncoder([sd1_part], "sd1").encode("a photo of a cat")
    assert isinstance(entry, CondEntry)
    assert entry.context.shape == (1, 77, 32) and entry.pooled is None
    assert torch.equal(entry.context, run_model(sd1_part, "a photo of a cat").last_hidden_state)


def test_sd2_uses_the_penultimate_layer_with_final_norm(sd2_part):
    (entry,) = TextEncoder([sd2_part], "sd2").encode("a cat")
    out = run_model(sd2_part, "a cat")
    assert entry.context.shape == (1, 77, 40)
    with torch.no_grad():
        expected = final_norm(sd2_part.model)(out.hidden_states[-2])
    torch.testing.assert_close(entry.context, expected, rtol=0, atol=0)
    assert not torch.allclose(entry.context, out.last_hidden_state)


def test_sdxl_joins_penultimate_layers_without_norm_and_pools_clip_g(sdxl_parts):
    clip_l, clip_g = sdxl_parts
    encoder = TextEncoder([clip_g, clip_l], "sdxl")  # order given does not matter
    (entry,) = encoder.encode("a cat")
    assert entry.context.shape == (1, 77, 80) and encoder.context_dim == 80
    assert entry.pooled is not None and entry.pooled.shape == (1, 24) and encoder.pooled_dim == 24
    out_l, out_g = run_model(clip_l, "a cat"), run_model(clip_g, "a cat")
    assert torch.equal(entry.context[..., :32], out_l.hidden_states[-2])
    assert torch.equal(entry.context[..., 32:], out_g.hidden_states[-2])
    assert torch.equal(entry.pooled, out_g.text_embeds)


def test_sdxl_pooled_comes_from_the_first_chunk(sdxl_parts):
    encoder = TextEncoder(list(sdxl_parts), "sdxl")
    (short,) = encoder.encode("a cat")
    (long,) = encoder.encode("a cat " + "dog " * 80)
    assert long.context.shape[1] == 154
    (first_chunk_only,) = encoder.encode("a cat " + "dog " * 73)
    assert torch.equal(long.pooled, first_chunk_only.pooled)
    assert not torch.equal(long.pooled, short.pooled)


def test_hundred_token_prompt_gives_two_chunks_encoded_separately(sd1_part):
    encoder = TextEncoder([sd1_part], "sd1")
    (entry,) = encoder.encode("cat " * 100)
    assert entry.context.shape == (1, 154, 32)
    (tail,) = encoder.encode("cat " * 25)
    assert torch.equal(entry.context[:, 77:], tail.context)


def test_weight_one_everywhere_is_exactly_the_unweighted_encoding(sd1_part):
    encoder = TextEncoder([sd1_part], "sd1")
    (plain,) = encoder.encode("a red cat on a mat")
    (ones,) = encoder.encode("(a red:1.0) cat (on a mat:1)")
    assert torch.equal(plain.context, ones.context)


@pytest.mark.parametrize("family_part", ["sd1_part", "sd2_part"])
def test_a_weighted_token_moves_from_the_empty_prompt_by_its_weight_only(family_part, request):
    part = request.getfixturevalue(family_part)
    encoder = TextEncoder([part], "sd1" if family_part == "sd1_part" else "sd2")
    (plain,) = encoder.encode("a cat sits")
    (weighted,) = encoder.encode("a (cat:1.5) sits")
    (empty,) = encoder.encode("")
    others = torch.ones(77, dtype=torch.bool)
    others[2] = False  # BOS, "a", "cat" -> cat is position 2
    assert torch.equal(weighted.context[0, others], plain.context[0, others])
    expected = empty.context[0, 2] + (plain.context[0, 2] - empty.context[0, 2]) * 1.5
    torch.testing.assert_close(weighted.context[0, 2], expected)
    assert not torch.allclose(weighted.context[0, 2], plain.context[0, 2])


def test_clip_skip_minus_two_gives_the_penultimate_hidden_state(sd1_part):
    encoder = TextEncoder([sd1_part], "sd1").with_clip_skip(-2)
    assert encoder.layer == -2
    (entry,) = encoder.encode("a cat")
    with torch.no_grad():
        expected = final_norm(sd1_part.model)(run_model(sd1_part, "a cat").hidden_states[-2])
    assert torch.equal(entry.context, expected)


def test_clip_skip_minus_one_on_sdxl_uses_the_last_layer_without_norm(sdxl_parts):
    encoder = TextEncoder(list(sdxl_parts), "sdxl").with_clip_skip(-1)
    (entry,) = encoder.encode("a cat")
    assert torch.equal(entry.context[..., :32], run_model(sdxl_parts[0], "a cat").hidden_states[-1])


def test_with_clip_skip_leaves_the_original_unchanged(sd1_part):
    encoder = TextEncoder([sd1_part], "sd1")
    skipped = encoder.with_clip_skip(-2)
    assert encoder.layer == -1 and skipped.layer == -2 and skipped.parts == encoder.parts


@pytest.mark.parametrize("layer", [0, 1, -4, 2.0])
def test_clip_skip_out_of_range_is_a_clear_error(sd1_part, layer):
    with pytest.raises(TextEncoderError, match=r"clip skip .* out of range .*-1"):
        TextEncoder([sd1_part], "sd1").with_clip_skip(layer)


def test_demo_family_encodes_with_a_word_tokenizer_like_sd1(word_tokenizer_folder: Path, make_clip):
    tokenizer = tokenizer_from_folder(word_tokenizer_folder)
    part = ClipPart("clip_l", make_clip(16, layers=2, vocab=tokenizer.vocab_size), tokenizer)
    (entry,) = TextEncoder([part], "demo").encode("a (red:1.2) circle on the left")
    assert entry.context.shape == (1, 77, 16)
    (plain,) = TextEncoder([part], "demo").encode("a red circle on the left")
    assert torch.equal(plain.context, run_model(part, "a red circle on the left").last_hidden_state)


def test_sdxl_with_one_part_names_what_is_missing(sd1_part):
    with pytest.raises(TextEncoderError, match="sdxl text encoder needs clip_l \\+ clip_g; got clip_l"):
        TextEncoder([sd1_part], "sdxl")


def test_sdxl_clip_g_without_projection_is_rejected(sd1_part, make_clip):
    plain_g = ClipPart("clip_g", make_clip(48), clip_bpe_tokenizer(pad_with_end=False))
    with pytest.raises(TextEncoderError, match="CLIPTextModelWithProjection"):
        TextEncoder([sd1_part, plain_g], "sdxl")


def test_unknown_family_lists_the_known_ones(sd1_part):
    with pytest.raises(
        TextEncoderError, match="unknown model family 'sd4'; known: sd1, demo, sd2, sdxl, sd3, flux, flow-demo"
    ):
        TextEncoder([sd1_part], "sd4")


def test_tokenizer_bigger_than_the_model_vocabulary_is_reported(make_clip):
    small = ClipPart("clip_l", make_clip(16, layers=2, vocab=100), clip_bpe_tokenizer())
    with pytest.raises(TextEncoderError, match="does not belong to this text model"):
        TextEncoder([small], "sd1").encode("a photo of a cat")
