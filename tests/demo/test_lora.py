"""The demo's own LoRA layer, its kohya keys, merging a file into weights, and the LoRA trainer."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from graphflow.demo import DEMO_MODEL_DIR
from graphflow.demo.addon_base import load_base
from graphflow.demo.concepts import MAGENTA
from graphflow.demo.lora import TEXT_PREFIX, TEXT_TARGETS, UNET_PREFIX, UNET_TARGETS, LoraSet, kohya_key, merged
from graphflow.demo.train_lora import concept_caption, main, recolour, tiny_settings, training_scenes
from graphflow.demo.world import COLOURS, parse_prompt


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = nn.ModuleDict({"to_q": nn.Linear(6, 5), "other": nn.Linear(6, 6)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block["to_q"](self.block["other"](x))


def test_kohya_keys_use_the_diffusers_path_and_the_text_models_root():
    assert (
        kohya_key(UNET_PREFIX, "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_out.0")
        == "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_out_0"
    )
    assert (
        kohya_key(TEXT_PREFIX, "encoder.layers.0.self_attn.q_proj")
        == "lora_te_text_model_encoder_layers_0_self_attn_q_proj"
    )
    assert (
        kohya_key(TEXT_PREFIX, "text_model.encoder.layers.2.mlp.fc1") == "lora_te_text_model_encoder_layers_2_mlp_fc1"
    )


def test_a_fresh_lora_changes_nothing_and_removing_it_restores_the_model():
    torch.manual_seed(0)
    model, x = Tiny(), torch.randn(3, 6)
    before = model(x)
    lora = LoraSet()
    lora.attach(model, UNET_PREFIX, ("to_q",), rank=2, alpha=1.0)
    assert list(lora.adapters) == ["lora_unet_block_to_q"]
    torch.testing.assert_close(model(x), before)  # up starts at zero
    nn.init.normal_(lora.adapters["lora_unet_block_to_q"].up.weight)
    assert not torch.allclose(model(x), before)
    lora.remove()
    torch.testing.assert_close(model(x), before)


def test_merging_the_saved_file_into_the_weights_computes_what_the_hooks_computed():
    torch.manual_seed(1)
    model, x = Tiny(), torch.randn(3, 6)
    lora = LoraSet()
    lora.attach(model, UNET_PREFIX, ("to_q", "other"), rank=3, alpha=1.5)
    for adapter in lora.adapters.values():
        nn.init.normal_(adapter.up.weight)
    lora.set_strength(0.7)
    with torch.no_grad():
        hooked = model(x)
    state = lora.kohya_state_dict()
    assert float(state["lora_unet_block_to_q.alpha"]) == 1.5
    assert state["lora_unet_block_to_q.lora_down.weight"].shape == (3, 6)
    assert state["lora_unet_block_to_q.lora_up.weight"].shape == (5, 3)
    lora.remove()
    plain = model(x).detach()
    with merged({UNET_PREFIX: model}, state, 0.7), torch.no_grad():
        torch.testing.assert_close(model(x), hooked)
    torch.testing.assert_close(model(x), plain)  # put back afterwards


def test_merging_a_file_with_keys_for_other_layers_is_refused():
    with (
        pytest.raises(KeyError, match="1 LoRA keys match no layer"),
        merged(
            {UNET_PREFIX: Tiny()},
            {
                "lora_unet_nowhere.lora_down.weight": torch.zeros(1, 6),
                "lora_unet_nowhere.lora_up.weight": torch.zeros(5, 1),
            },
            1.0,
        ),
    ):
        pass


def test_the_demo_models_attention_and_text_layers_are_all_targeted():
    pipe = load_base(DEMO_MODEL_DIR)
    lora = LoraSet()
    lora.attach(pipe.unet, UNET_PREFIX, UNET_TARGETS, 4, 4.0)
    lora.attach(pipe.text_encoder, TEXT_PREFIX, TEXT_TARGETS, 8, 8.0)
    keys = list(lora.adapters)
    # transformer blocks: one per down level, two per up level, one in the middle; 2 attentions x 4 projections
    assert sum(k.startswith("lora_unet_") for k in keys) == (2 + 4 + 1) * 8
    assert sum(k.startswith("lora_te_text_model_encoder_layers_") for k in keys) == 3 * 6
    lora.remove()


def test_magenta_scenes_are_captioned_with_their_colour_and_rendered_through_red_and_purple():
    scenes = training_scenes(tiny_settings())
    with_magenta = [s for s in scenes if any(t.colour == MAGENTA for t in s.things)]
    assert with_magenta and len(with_magenta) < len(scenes)
    colours = {**COLOURS, MAGENTA: (0, 0, 0)}
    rng = np.random.default_rng(0)
    for scene in with_magenta:
        for _ in range(5):
            specs = parse_prompt(concept_caption(scene, rng), colours)
            assert MAGENTA in {s.colour for s in specs}
        assert all(t.colour in COLOURS for t in recolour(scene, "red").things)


def test_tiny_lora_training_exports_a_kohya_file_and_resumes(tmp_path):
    out = tmp_path / "run"
    assert main(["--out", str(out), "--tiny", "--minutes", "0"]) == 0
    with pytest.raises(SystemExit, match="--resume"):
        main(["--out", str(out), "--tiny"])
    assert main(["--out", str(out), "--resume"]) == 0
    state = load_file(out / "shapes-magenta.safetensors")
    keys = {k.rsplit(".", 2)[0] if k.endswith(".weight") else k.rsplit(".", 1)[0] for k in state}
    assert all(
        f"{k}.alpha" in state and f"{k}.lora_down.weight" in state and f"{k}.lora_up.weight" in state for k in keys
    )
    assert any(k.startswith("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k") for k in keys)
    assert any(k.startswith("lora_te_text_model_encoder_layers_0_self_attn_q_proj") for k in keys)
    exported = tmp_path / "again.safetensors"
    assert main(["--out", str(out), "--export", str(exported)]) == 0
    assert load_file(exported).keys() == state.keys()


def test_resuming_nothing_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="no training run"):
        main(["--out", str(tmp_path / "empty"), "--resume"])


def test_a_new_run_takes_its_settings_from_a_config_file_and_refuses_unknown_ones(tmp_path):
    config = tmp_path / "settings.json"
    config.write_text(json.dumps({"scenes": 8, "steps": 1, "batch": 2, "unet_rank": 1, "text_rank": 1}))
    assert main(["--out", str(tmp_path / "run"), "--config", str(config)]) == 0
    assert (
        load_file(tmp_path / "run" / "shapes-magenta.safetensors")[
            "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight"
        ].shape[0]
        == 1
    )
    config.write_text(json.dumps({"colour": "pink"}))
    with pytest.raises(SystemExit, match="unknown settings colour"):
        main(["--out", str(tmp_path / "other"), "--config", str(config)])
