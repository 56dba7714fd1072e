"""Text encoding for the flow families (SD3, Flux, flow-demo) against diffusers' encode_prompt on tiny models."""

from pathlib import Path

import pytest
import torch
from diffusers import FluxPipeline, StableDiffusion3Pipeline
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer, T5TokenizerFast

from graphflow.demo.tokenizer import build_tokenizer
from graphflow.models.tiny_t5 import save_t5_tokenizer, tiny_t5
from graphflow.text import ClipPart, TextEncoder, TextEncoderError, tokenizer_from_folder
from graphflow.text.t5 import t5_tokenizer_from_folder

WORDS = ["a", "red", "green", "cat", "on", "the", "mat", "circle"]
PROMPT = "a red cat on the mat"


def tiny_clip_model(tokenizer: CLIPTokenizer, width: int, projection: bool, seed: int) -> CLIPTextModel:
    """A random CLIP text model whose special ids are the tokenizer's (so pooling finds its EOS)."""
    torch.manual_seed(seed)
    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=width,
        intermediate_size=2 * width,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=77,
        projection_dim=width,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config).eval()


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("flow_text")
    build_tokenizer(WORDS).save_pretrained(root / "clip")
    return {"clip": root / "clip", "t5": save_t5_tokenizer(root / "t5")}


@pytest.fixture(scope="module")
def models(folders) -> dict[str, torch.nn.Module]:
    clip_tokenizer = CLIPTokenizer.from_pretrained(str(folders["clip"]))
    return {
        "clip_l": tiny_clip_model(clip_tokenizer, 8, projection=True, seed=1),
        "clip_g": tiny_clip_model(clip_tokenizer, 16, projection=True, seed=2),
        "clip_l_plain": tiny_clip_model(clip_tokenizer, 8, projection=False, seed=3),
        "t5xxl": tiny_t5(seed=4),
    }


def part(name: str, models, folders, model_key: str | None = None) -> ClipPart:
    if name == "t5xxl":
        return ClipPart(name, models[name], t5_tokenizer_from_folder(folders["t5"]))
    return ClipPart(name, models[model_key or name], tokenizer_from_folder(folders["clip"]))


def sd3_pipeline(models, folders, t5: bool = True) -> StableDiffusion3Pipeline:
    clip_tokenizer = CLIPTokenizer.from_pretrained(str(folders["clip"]))
    return StableDiffusion3Pipeline(
        transformer=None,
        scheduler=None,
        vae=None,
        text_encoder=models["clip_l"],
        tokenizer=clip_tokenizer,
        text_encoder_2=models["clip_g"],
        tokenizer_2=clip_tokenizer,
        text_encoder_3=models["t5xxl"] if t5 else None,
        tokenizer_3=T5TokenizerFast.from_pretrained(str(folders["t5"])),
    )


def flux_pipeline(models, folders) -> FluxPipeline:
    return FluxPipeline(
        scheduler=None,
        vae=None,
        text_encoder=models["clip_l_plain"],
        tokenizer=CLIPTokenizer.from_pretrained(str(folders["clip"])),
        text_encoder_2=models["t5xxl"],
        tokenizer_2=T5TokenizerFast.from_pretrained(str(folders["t5"])),
        transformer=None,
    )


def test_sd3_matches_diffusers_encode_prompt(models, folders):
    encoder = TextEncoder([part(n, models, folders) for n in ("t5xxl", "clip_g", "clip_l")], "sd3")
    (entry,) = encoder.encode(PROMPT)
    with torch.no_grad():
        context, _, pooled, _ = sd3_pipeline(models, folders).encode_prompt(
            PROMPT, None, None, device="cpu", do_classifier_free_guidance=False
        )
    assert entry.context.shape == (1, 77 + 256, 32) and encoder.context_dim == 32
    assert entry.pooled is not None and entry.pooled.shape == (1, 24) and encoder.pooled_dim == 24
    torch.testing.assert_close(entry.context, context, rtol=0, atol=1e-5)
    torch.testing.assert_close(entry.pooled, pooled, rtol=0, atol=1e-5)


def test_flux_matches_diffusers_encode_prompt_and_carries_guidance(models, folders):
    encoder = TextEncoder([part("clip_l", models, folders, "clip_l_plain"), part("t5xxl", models, folders)], "flux")
    (entry,) = encoder.encode(PROMPT)
    with torch.no_grad():
        context, pooled, _ = flux_pipeline(models, folders).encode_prompt(PROMPT, None, device="cpu")
    assert entry.context.shape == (1, 512, 32) and entry.extras["guidance"] == 3.5
    assert encoder.context_dim == 32 and encoder.pooled_dim == 8
    torch.testing.assert_close(entry.context, context, rtol=0, atol=1e-5)
    torch.testing.assert_close(entry.pooled, pooled, rtol=0, atol=1e-5)


def test_flux_schnell_length_matches_diffusers_with_256_tokens(models, folders):
    parts = [part("clip_l", models, folders, "clip_l_plain"), part("t5xxl", models, folders)]
    (entry,) = TextEncoder(parts, "flux", t5_length=256).encode(PROMPT)
    with torch.no_grad():
        context, _, _ = flux_pipeline(models, folders).encode_prompt(
            PROMPT, None, device="cpu", max_sequence_length=256
        )
    torch.testing.assert_close(entry.context, context, rtol=0, atol=1e-5)


def test_flux_pools_clip_l_without_its_projection(models, folders):
    (entry,) = TextEncoder([part("clip_l", models, folders), part("t5xxl", models, folders)], "flux").encode(PROMPT)
    ids = torch.tensor([CLIPTokenizer.from_pretrained(str(folders["clip"]))(PROMPT, padding="max_length").input_ids])
    with torch.no_grad():
        expected = models["clip_l"].text_model(input_ids=ids).pooler_output
    torch.testing.assert_close(entry.pooled, expected, rtol=0, atol=1e-6)


def test_flow_demo_gives_the_last_hidden_state_and_the_pooler_output(models, folders):
    (entry,) = TextEncoder([part("clip_l", models, folders, "clip_l_plain")], "flow-demo").encode(PROMPT)
    ids = torch.tensor([CLIPTokenizer.from_pretrained(str(folders["clip"]))(PROMPT, padding="max_length").input_ids])
    with torch.no_grad():
        out = models["clip_l_plain"](input_ids=ids)
    assert entry.context.shape == (1, 77, 8) and entry.pooled.shape == (1, 8) and "guidance" not in entry.extras
    torch.testing.assert_close(entry.context, out.last_hidden_state, rtol=0, atol=1e-6)
    torch.testing.assert_close(entry.pooled, out.pooler_output, rtol=0, atol=1e-6)


def test_sd3_without_clip_g_puts_zeros_in_its_place(models, folders):
    full = TextEncoder([part(n, models, folders) for n in ("clip_l", "clip_g", "t5xxl")], "sd3")
    widths = {"clip_l": 8, "clip_g": 16, "t5xxl": 32}
    without_g = TextEncoder([part(n, models, folders) for n in ("clip_l", "t5xxl")], "sd3", missing_widths=widths)
    (a,), (b,) = full.encode(PROMPT), without_g.encode(PROMPT)
    assert b.context.shape == a.context.shape and without_g.pooled_dim == 24
    assert torch.equal(b.context[:, :77, :8], a.context[:, :77, :8])
    assert torch.equal(b.context[:, 77:], a.context[:, 77:])
    assert not b.context[:, :77, 8:].any()
    assert torch.equal(b.pooled[:, :8], a.pooled[:, :8]) and not b.pooled[:, 8:].any()


def test_sd3_without_t5_adds_no_t5_tokens_as_comfyui(models, folders):
    full = TextEncoder([part(n, models, folders) for n in ("clip_l", "clip_g", "t5xxl")], "sd3")
    encoder = TextEncoder([part(n, models, folders) for n in ("clip_l", "clip_g")], "sd3", missing_widths={"t5xxl": 32})
    (entry,), (reference,) = encoder.encode(PROMPT), full.encode(PROMPT)
    assert entry.context.shape == (1, 77, 32) and encoder.context_dim == 32
    assert torch.equal(entry.context, reference.context[:, :77]) and torch.equal(entry.pooled, reference.pooled)


def test_sd3_with_t5_alone_has_zero_pooled(models, folders):
    widths = {"clip_l": 8, "clip_g": 16}
    (entry,) = TextEncoder([part("t5xxl", models, folders)], "sd3", missing_widths=widths).encode(PROMPT)
    assert entry.context.shape == (1, 256, 32)
    assert entry.pooled.shape == (1, 24) and not entry.pooled.any()


def test_a_weighted_word_moves_the_t5_tokens_from_the_empty_prompt(models, folders):
    encoder = TextEncoder([part("t5xxl", models, folders)], "sd3", missing_widths={"clip_l": 8, "clip_g": 16})
    (plain,), (weighted,), (empty,) = (encoder.encode(t) for t in ("a cat", "a (cat:1.5)", ""))
    # "a" is one token, "cat" one more: position 1 is the only weighted one.
    others = torch.ones(256, dtype=torch.bool)
    others[1] = False
    assert torch.equal(weighted.context[0, others], plain.context[0, others])
    expected = empty.context[0, 1] + (plain.context[0, 1] - empty.context[0, 1]) * 1.5
    torch.testing.assert_close(weighted.context[0, 1], expected)


def test_a_long_prompt_gives_more_t5_rows_encoded_separately(models, folders):
    parts = [part("clip_l", models, folders, "clip_l_plain"), part("t5xxl", models, folders)]
    encoder = TextEncoder(parts, "flux", t5_length=16)
    (entry,) = encoder.encode("a cat " * 10)  # 20 one-token words: rows of 15 and 5, each + EOS + padding
    (head,), (tail,) = encoder.encode("a cat " * 7 + "a"), encoder.encode("cat " + "a cat " * 2)
    assert entry.context.shape == (1, 32, 32)
    assert torch.equal(entry.context[:, :16], head.context)
    assert torch.equal(entry.context[:, 16:], tail.context)


def test_flux_without_t5_is_a_clear_error(models, folders):
    with pytest.raises(TextEncoderError, match=r"a flux text encoder needs clip_l \+ t5xxl; got clip_l"):
        TextEncoder([part("clip_l", models, folders, "clip_l_plain")], "flux")


def test_a_clip_model_named_t5xxl_is_refused(models, folders):
    wrong = ClipPart("t5xxl", models["clip_g"], t5_tokenizer_from_folder(folders["t5"]))
    with pytest.raises(TextEncoderError, match="t5xxl must be a transformers T5EncoderModel, not CLIPTextModel"):
        TextEncoder([part("clip_l", models, folders, "clip_l_plain"), wrong], "flux")
