"""Every LoRA file format gives the UNet and text outputs that diffusers + peft give with the same weights."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from graphflow.models.tiny import build_tiny
from graphflow.patches import applied
from graphflow.patches.lora import match_lora, read_lora
from tests.patches.lora_files import (
    DOTTED_DOWN_UP,
    KOHYA,
    PEFT,
    PEFT_FOLDED,
    PEFT_NAMED,
    TEXT_TARGETS,
    UNET_TARGETS,
    Layout,
    Lora,
    canonical_text_path,
    dotted_stem,
    kohya_stem,
    ldm_path,
    peft_reference,
    random_lora,
    save_lora,
)

TOLERANCE = 1e-5


@dataclass
class Case:
    """A tiny model with one random LoRA per part, and peft's outputs with them."""

    unet: torch.nn.Module
    texts: dict[str, torch.nn.Module]
    unet_lora: Lora
    text_loras: dict[str, Lora]
    unet_inputs: dict[str, Any]
    ids: torch.Tensor
    unet_reference: torch.Tensor
    text_references: dict[str, torch.Tensor]

    def unet_output(self, unet: torch.nn.Module) -> torch.Tensor:
        with torch.no_grad():
            return unet(**self.unet_inputs).sample

    def text_output(self, model: torch.nn.Module) -> torch.Tensor:
        with torch.no_grad():
            return model(input_ids=self.ids).last_hidden_state


def _case(family: str) -> Case:
    models = build_tiny(family, seed=0)
    unet, texts = models.unet, dict(models.text_models)
    unet_lora = random_lora(unet, UNET_TARGETS, rank=4, alpha=8.0, seed=1)
    text_loras = {
        part: random_lora(m, TEXT_TARGETS, rank=2, alpha=3.0, seed=2 + i) for i, (part, m) in enumerate(texts.items())
    }
    generator = torch.Generator().manual_seed(5)
    width = unet.config.cross_attention_dim
    inputs: dict[str, Any] = {
        "sample": torch.randn(1, 4, 8, 8, generator=generator),
        "timestep": torch.tensor([400]),
        "encoder_hidden_states": torch.randn(1, 7, width, generator=generator),
    }
    if family == "sdxl":
        inputs["added_cond_kwargs"] = {
            "text_embeds": torch.randn(1, 32, generator=generator),
            "time_ids": torch.tensor([[64.0, 64.0, 0.0, 0.0, 64.0, 64.0]]),
        }
    ids = torch.randint(0, 49408, (1, 77), generator=generator)
    case = Case(unet, texts, unet_lora, text_loras, inputs, ids, torch.empty(0), {})
    case.unet_reference = case.unet_output(peft_reference(unet, [(unet_lora, 1.0)]))
    case.text_references = {
        part: case.text_output(peft_reference(texts[part], [(lora, 1.0)])) for part, lora in text_loras.items()
    }
    return case


@pytest.fixture(scope="module")
def cases() -> dict[str, Case]:
    return {family: _case(family) for family in ("sd1", "sd2", "sdxl")}


def _text(lora: Lora) -> Lora:
    """The same factors under canonical CLIP paths (with `text_model.`), as files write them."""
    return Lora({canonical_text_path(p): f for p, f in lora.factors.items()}, lora.rank, lora.alpha)


def _ldm(case: Case, lora: Lora) -> Lora:
    return Lora({ldm_path(case.unet, p): f for p, f in lora.factors.items()}, lora.rank, lora.alpha)


def _peft_metadata(case: Case, parts: dict[str, str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"unet.r": case.unet_lora.rank, "unet.lora_alpha": case.unet_lora.alpha}
    for part, prefix in parts.items():
        meta |= {f"{prefix}.r": case.text_loras[part].rank, f"{prefix}.lora_alpha": case.text_loras[part].alpha}
    return meta


Writer = Callable[[Case], tuple[dict[str, torch.Tensor], dict[str, Any] | None]]

SD1_FORMATS: dict[str, Writer] = {
    "kohya with diffusers names": lambda c: (
        KOHYA.tensors(c.unet_lora, kohya_stem("lora_unet_"))
        | KOHYA.tensors(_text(c.text_loras["clip_l"]), kohya_stem("lora_te_")),
        None,
    ),
    "kohya with original LDM names": lambda c: (
        KOHYA.tensors(_ldm(c, c.unet_lora), kohya_stem("lora_unet_"))
        | KOHYA.tensors(_text(c.text_loras["clip_l"]), kohya_stem("lora_te_")),
        None,
    ),
    "ComfyUI LDM keys": lambda c: (
        KOHYA.tensors(_ldm(c, c.unet_lora), dotted_stem("diffusion_model."))
        | KOHYA.tensors(_text(c.text_loras["clip_l"]), dotted_stem("text_encoders.clip_l.transformer.")),
        None,
    ),
    "diffusers PEFT with alpha in the metadata": lambda c: (
        PEFT.tensors(c.unet_lora, dotted_stem("unet."))
        | PEFT.tensors(_text(c.text_loras["clip_l"]), dotted_stem("text_encoder.")),
        _peft_metadata(c, {"clip_l": "text_encoder"}),
    ),
    "diffusers PEFT without alpha": lambda c: (
        PEFT_FOLDED.tensors(c.unet_lora, dotted_stem("unet."))
        | PEFT_FOLDED.tensors(_text(c.text_loras["clip_l"]), dotted_stem("text_encoder.")),
        None,
    ),
    "lora_down and lora_up under diffusers paths": lambda c: (
        KOHYA.tensors(c.unet_lora, dotted_stem("unet."))
        | KOHYA.tensors(_text(c.text_loras["clip_l"]), dotted_stem("text_encoder.")),
        None,
    ),
    "lora.down and lora.up under diffusers paths": lambda c: (
        DOTTED_DOWN_UP.tensors(c.unet_lora, dotted_stem("unet."))
        | DOTTED_DOWN_UP.tensors(_text(c.text_loras["clip_l"]), dotted_stem("text_encoder.")),
        None,
    ),
    "peft's base_model.model. prefix with adapter names": lambda c: (
        PEFT_NAMED.tensors(c.unet_lora, dotted_stem("base_model.model."))
        | PEFT_NAMED.tensors(_text(c.text_loras["clip_l"]), dotted_stem("base_model.model.")),
        None,
    ),
}
SDXL_FORMATS: dict[str, Writer] = {
    "kohya te1 and te2 with original LDM names": lambda c: (
        KOHYA.tensors(_ldm(c, c.unet_lora), kohya_stem("lora_unet_"))
        | KOHYA.tensors(_text(c.text_loras["clip_l"]), kohya_stem("lora_te1_"))
        | KOHYA.tensors(_text(c.text_loras["clip_g"]), kohya_stem("lora_te2_")),
        None,
    ),
    "diffusers PEFT with text_encoder_2": lambda c: (
        PEFT.tensors(c.unet_lora, dotted_stem("unet."))
        | PEFT.tensors(_text(c.text_loras["clip_l"]), dotted_stem("text_encoder."))
        | PEFT.tensors(_text(c.text_loras["clip_g"]), dotted_stem("text_encoder_2.")),
        _peft_metadata(c, {"clip_l": "text_encoder", "clip_g": "text_encoder_2"}),
    ),
}
SD2_FORMATS: dict[str, Writer] = {
    "kohya lora_te for OpenCLIP-H": lambda c: (
        KOHYA.tensors(c.unet_lora, kohya_stem("lora_unet_"))
        | KOHYA.tensors(_text(c.text_loras["clip_h"]), kohya_stem("lora_te_")),
        None,
    ),
}
ALL_FORMATS = [
    *(("sd1", name) for name in SD1_FORMATS),
    *(("sdxl", name) for name in SDXL_FORMATS),
    *(("sd2", name) for name in SD2_FORMATS),
]
WRITERS = {"sd1": SD1_FORMATS, "sdxl": SDXL_FORMATS, "sd2": SD2_FORMATS}


def _check_against_peft(case: Case, path: Path, family: str) -> None:
    match = match_lora(read_lora(path), unet=case.unet, text=case.texts, family=family)
    assert match.unmatched == ()
    assert len(match.unet) == len(case.unet_lora.factors)
    unet_before = case.unet_output(case.unet)
    with applied(case.unet, match.unet):
        patched = case.unet_output(case.unet)
    assert (patched - unet_before).abs().max() > 0.05, "the LoRA should change the output"
    assert (patched - case.unet_reference).abs().max() <= TOLERANCE
    assert torch.equal(case.unet_output(case.unet), unet_before)
    assert set(match.text) == set(case.texts)
    for part, model in case.texts.items():
        assert len(match.text[part]) == len(case.text_loras[part].factors)
        with applied(model, match.text[part]):
            assert (case.text_output(model) - case.text_references[part]).abs().max() <= TOLERANCE


@pytest.mark.parametrize(("family", "form"), ALL_FORMATS)
def test_each_lora_file_format_matches_diffusers_and_peft_on_the_unet_and_text_encoders(
    cases: dict[str, Case], tmp_path: Path, family: str, form: str
) -> None:
    tensors, metadata = WRITERS[family][form](cases[family])
    path = save_lora(tmp_path / "lora.safetensors", tensors, metadata)
    _check_against_peft(cases[family], path, family)


def test_a_weights_only_torch_file_loads_like_safetensors(cases: dict[str, Case], tmp_path: Path) -> None:
    tensors, _ = SD1_FORMATS["kohya with diffusers names"](cases["sd1"])
    path = tmp_path / "lora.pt"
    torch.save(tensors, path)
    _check_against_peft(cases["sd1"], path, "sd1")


def test_diffusers_oldest_attention_processor_keys_are_read(cases: dict[str, Case], tmp_path: Path) -> None:
    case = cases["sd1"]
    unet_names = {"to_q": "to_q_lora", "to_k": "to_k_lora", "to_v": "to_v_lora", "to_out.0": "to_out_lora"}
    text_names = {"q_proj": "to_q_lora", "out_proj": "to_out_lora"}
    unet_lora = random_lora(case.unet, tuple(unet_names), rank=4, alpha=4.0, seed=7)
    text_lora = random_lora(case.texts["clip_l"], tuple(text_names), rank=4, alpha=4.0, seed=8)

    def unet_stem(path: str) -> str:  # ...attn1.to_out.0 -> unet....attn1.processor.to_out_lora
        block, _, projection = path.partition(".attn")
        number, _, name = projection.partition(".")
        return f"unet.{block}.attn{number}.processor.{unet_names[name]}"

    def text_stem(path: str) -> str:  # ...self_attn.q_proj -> text_encoder....self_attn.to_q_lora
        head, _, name = canonical_text_path(path).rpartition(".")
        return f"text_encoder.{head}.{text_names[name]}"

    old = Layout("down.weight", "up.weight", alpha="fold")
    path = save_lora(
        tmp_path / "old.safetensors", old.tensors(unet_lora, unet_stem) | old.tensors(text_lora, text_stem)
    )
    match = match_lora(read_lora(path), unet=case.unet, text=case.texts)
    assert match.unmatched == ()
    assert len(match.unet) == len(unet_lora.factors) and len(match.text["clip_l"]) == len(text_lora.factors)
    expected = case.unet_output(peft_reference(case.unet, [(unet_lora, 1.0)]))
    with applied(case.unet, match.unet):
        assert (case.unet_output(case.unet) - expected).abs().max() <= TOLERANCE
    expected_text = case.text_output(peft_reference(case.texts["clip_l"], [(text_lora, 1.0)]))
    with applied(case.texts["clip_l"], match.text["clip_l"]):
        assert (case.text_output(case.texts["clip_l"]) - expected_text).abs().max() <= TOLERANCE
