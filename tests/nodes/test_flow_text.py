"""The flow-family prompt nodes (Encode Prompt (SD3) / (Flux)) and the plain Encode Prompt on flow CLIPs."""

from pathlib import Path

import pytest
import torch
from transformers import CLIPTextConfig, CLIPTextModelWithProjection

from graphflow.models.tiny_t5 import save_t5_tokenizer, tiny_t5
from graphflow.nodes.conditioning import EncodePrompt
from graphflow.nodes.flow_text import EncodePromptFlux, EncodePromptSd3
from graphflow.text import ClipPart, TextEncoder, clip_bpe_tokenizer
from graphflow.text.t5 import t5_tokenizer_from_folder
from tests.running import context_for

WIDTHS = {"clip_l": 8, "clip_g": 16, "t5xxl": 32}


def clip_part(name: str, width: int) -> ClipPart:
    torch.manual_seed(width)
    config = CLIPTextConfig(
        hidden_size=width, intermediate_size=2 * width, num_hidden_layers=2, num_attention_heads=2, projection_dim=width
    )
    return ClipPart(name, CLIPTextModelWithProjection(config).eval(), clip_bpe_tokenizer(pad_with_end=name == "clip_l"))


@pytest.fixture(scope="module")
def parts(tmp_path_factory) -> dict[str, ClipPart]:
    tokenizer = t5_tokenizer_from_folder(save_t5_tokenizer(tmp_path_factory.mktemp("t5")))
    return {
        "clip_l": clip_part("clip_l", 8),
        "clip_g": clip_part("clip_g", 16),
        "t5xxl": ClipPart("t5xxl", tiny_t5(), tokenizer),
    }


def test_sd3_node_gives_each_encoder_its_own_prompt(parts, tmp_path: Path):
    clip = TextEncoder(list(parts.values()), "sd3")
    (entry,) = EncodePromptSd3().run(context_for(tmp_path), clip, "a cat", "a dog", "a red fox", "none")
    (expected,) = clip.encode_parts({"clip_l": "a cat", "clip_g": "a dog", "t5xxl": "a red fox"})
    assert entry.context.shape == (1, 77 + 256, 32) and entry.pooled.shape == (1, 24)
    assert torch.equal(entry.context, expected.context) and torch.equal(entry.pooled, expected.pooled)


def test_sd3_node_without_padding_leaves_out_empty_prompts(parts, tmp_path: Path):
    clip = TextEncoder(list(parts.values()), "sd3")
    ctx = context_for(tmp_path)
    (t5_only,) = EncodePromptSd3().run(ctx, clip, "", "", "a red fox", "none")
    (padded,) = EncodePromptSd3().run(ctx, clip, "", "", "a red fox", "empty_padding")
    (no_t5,) = EncodePromptSd3().run(ctx, clip, "a cat", "", "", "none")
    assert t5_only.context.shape == (1, 256, 32) and not t5_only.pooled.any()
    assert padded.context.shape == (1, 77 + 256, 32) and padded.pooled.any()
    assert torch.equal(t5_only.context, padded.context[:, 77:])
    assert no_t5.context.shape == (1, 77, 32)
    (empty_g,) = clip.encode_parts({"clip_l": "a cat", "clip_g": "", "t5xxl": None})
    assert torch.equal(no_t5.context, empty_g.context)  # one empty CLIP prompt encodes the empty prompt


def test_flux_node_sets_the_guidance(parts, tmp_path: Path):
    clip = TextEncoder([parts["clip_l"], parts["t5xxl"]], "flux")
    (entry,) = EncodePromptFlux().run(context_for(tmp_path), clip, "a cat", "a red fox on the mat", 2.5)
    assert entry.extras["guidance"] == 2.5 and entry.context.shape == (1, 512, 32) and entry.pooled.shape == (1, 8)
    (expected,) = clip.encode_parts({"clip_l": "a cat", "t5xxl": "a red fox on the mat"})
    assert torch.equal(entry.context, expected.context) and expected.extras["guidance"] == 3.5


def test_the_flow_prompt_nodes_name_the_family_they_need(parts, tmp_path: Path):
    sd3 = TextEncoder([parts["clip_l"], parts["clip_g"]], "sd3")
    with pytest.raises(ValueError, match=r"\(Flux\) needs a flux text encoder, but the CLIP input is sd3"):
        EncodePromptFlux().run(context_for(tmp_path), sd3, "a", "b", 3.5)
    flux = TextEncoder([parts["clip_l"], parts["t5xxl"]], "flux")
    with pytest.raises(ValueError, match="needs a sd3 text encoder, but the CLIP input is flux"):
        EncodePromptSd3().run(context_for(tmp_path), flux, "a", "b", "c", "none")


@pytest.mark.parametrize(
    ("family", "names", "shape"),
    [
        ("sd3", ("clip_l", "clip_g", "t5xxl"), (1, 77 + 256, 32)),
        ("sd3", ("clip_l", "clip_g"), (1, 77, 4096)),
        ("flux", ("clip_l", "t5xxl"), (1, 512, 32)),
        ("flow-demo", ("clip_l",), (1, 77, 8)),
    ],
)
def test_plain_encode_prompt_gives_every_part_the_same_text(parts, tmp_path: Path, family, names, shape):
    clip = TextEncoder([parts[name] for name in names], family)
    (entry,) = EncodePrompt().run(context_for(tmp_path), clip, "a (red:1.2) cat")
    (expected,) = clip.encode_parts(dict.fromkeys(names, "a (red:1.2) cat"))
    assert entry.context.shape == shape and torch.equal(entry.context, expected.context)
    assert entry.pooled is not None
