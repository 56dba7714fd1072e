"""Merge nodes on tiny models: the mixes ComfyUI defines, cached models untouched, and checkpoints that reload."""

from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from graphflow.models.loader import load_checkpoint
from graphflow.models.tiny import build_tiny, save_tiny_checkpoint
from graphflow.nodes import merge
from graphflow.patches import applied
from graphflow.sampling.latent import Latent
from graphflow.sampling.model import DiffusionModel
from graphflow.sampling.sample import sample
from graphflow.workflow import PNG_KEY
from tests.running import context_for

CTX = context_for(Path("test-run"))


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, models_root: Path) -> tuple:
    """Two different tiny SD1 models (seed 0 from the shared models folder, seed 1 written here)."""
    other = save_tiny_checkpoint(build_tiny("sd1", seed=1), tmp_path_factory.mktemp("other") / "tiny-sd1-b.safetensors")
    return load_checkpoint(models_root / "checkpoints" / "tiny-sd1.safetensors"), load_checkpoint(other)


def picture(model: DiffusionModel, clip, seed: int = 3) -> torch.Tensor:
    conditioning = clip.encode("a red circle")
    return sample(
        model,
        positive=conditioning,
        negative=clip.encode(""),
        latent=Latent(torch.zeros(1, 4, 8, 8)),
        seed=seed,
        steps=3,
        cfg=3.0,
        sampler_name="euler",
        scheduler="normal",
    )


def test_merging_changes_the_picture_and_leaves_both_cached_models_bit_identical(pair):
    (model1, clip, _), (model2, _, _) = pair
    first, second = picture(model1, clip), picture(model2, clip)
    merged = merge.MergeModels().run(CTX, model1=model1, model2=model2, ratio=0.5)
    assert merged.unet is model1.unet and len(merged.patches) > 0
    mixed = picture(merged, clip)
    assert not torch.allclose(mixed, first) and not torch.allclose(mixed, second)
    assert torch.equal(picture(model1, clip), first) and torch.equal(picture(model2, clip), second)


def test_ratio_one_is_model1_and_ratio_zero_is_model2(pair):
    (model1, clip, _), (model2, _, _) = pair
    assert merge.MergeModels().run(CTX, model1=model1, model2=model2, ratio=1.0) is model1
    all_second = merge.MergeModels().run(CTX, model1=model1, model2=model2, ratio=0.0)
    assert torch.allclose(picture(all_second, clip), picture(model2, clip), atol=1e-4)


def test_subtracting_then_adding_model2_gives_model1_back(pair):
    (model1, clip, _), (model2, _, _) = pair
    difference = merge.SubtractModels().run(CTX, model1=model1, model2=model2, multiplier=1.0)
    restored = merge.AddModels().run(CTX, model1=difference, model2=model2)
    assert torch.allclose(picture(restored, clip), picture(model1, clip), atol=1e-4)


def test_merge_by_blocks_mixes_only_the_blocks_asked_for(pair):
    (model1, _, _), (model2, _, _) = pair
    assert merge.MergeModelsByBlocks().run(CTX, model1=model1, model2=model2, input=1.0, middle=1.0, out=1.0) is model1
    merged = merge.MergeModelsByBlocks().run(CTX, model1=model1, model2=model2, input=1.0, middle=0.0, out=1.0)
    assert {patch.key.split(".")[0] for patch in merged.patches} == {"mid_block"}


def test_text_encoders_merge_part_by_part(pair):
    (_, clip1, _), (_, clip2, _) = pair
    before = clip1.encode("a red circle")[0].context
    assert torch.equal(
        merge.MergeClips().run(CTX, clip1=clip1, clip2=clip2, ratio=1.0).encode("a red circle")[0].context, before
    )
    halfway = merge.MergeClips().run(CTX, clip1=clip1, clip2=clip2, ratio=0.5).encode("a red circle")[0].context
    assert not torch.allclose(halfway, before)
    assert torch.equal(clip1.encode("a red circle")[0].context, before)


def test_text_encoders_subtracted_then_added_back_encode_as_before(pair):
    (_, clip1, _), (_, clip2, _) = pair
    difference = merge.SubtractClips().run(CTX, clip1=clip1, clip2=clip2, multiplier=1.0)
    restored = merge.AddClips().run(CTX, clip1=difference, clip2=clip2)
    before = clip1.encode("a red circle")[0].context
    assert torch.allclose(restored.encode("a red circle")[0].context, before, atol=1e-4)


def test_save_checkpoint_bakes_the_merge_and_load_checkpoint_reads_it_back(pair, tmp_path):
    (model1, clip, vae), (model2, _, _) = pair
    merged = merge.MergeModels().run(CTX, model1=model1, model2=model2, ratio=0.25)
    workflow = {"nodes": {"save": {"type": "graphflow.merge.save_checkpoint"}}}
    ctx = context_for(tmp_path, node_id="save", workflow=workflow)
    merge.SaveCheckpoint().run(ctx, model=merged, clip=clip, vae=vae, filename_prefix="checkpoints/merged")
    [ref] = ctx.ui["checkpoints"]
    path = tmp_path / "output" / ref["subfolder"] / ref["filename"]
    assert ref == {"filename": "merged_00001_.safetensors", "subfolder": "checkpoints", "type": "output"}
    with safe_open(str(path), framework="pt") as handle:
        assert PNG_KEY in handle.metadata() and handle.metadata()["modelspec.predict_key"] == "epsilon"
    reloaded, reclip, revae = load_checkpoint(path)
    with applied(model1.unet, merged.patches):
        for key, value in model1.unet.state_dict().items():
            assert torch.equal(reloaded.unet.state_dict()[key], value), key
    assert torch.equal(picture(reloaded, reclip), picture(merged, clip))
    assert torch.equal(revae.decode(torch.zeros(1, 4, 8, 8)), vae.decode(torch.zeros(1, 4, 8, 8)))


@pytest.mark.parametrize("family", ["sd2", "sdxl"])
def test_save_checkpoint_writes_every_family_so_that_it_reloads(models_root, tmp_path, family):
    model, clip, vae = load_checkpoint(models_root / "checkpoints" / f"tiny-{family}")
    ctx = context_for(tmp_path)
    merge.SaveCheckpoint().run(ctx, model=model, clip=clip, vae=vae, filename_prefix=family)
    reloaded, reclip, _ = load_checkpoint(tmp_path / "output" / f"{family}_00001_.safetensors")
    assert reloaded.family == family and reloaded.sampling.prediction_type == model.sampling.prediction_type
    assert [p.name for p in reclip.parts] == [p.name for p in clip.parts]
    for key, value in model.unet.state_dict().items():
        assert torch.equal(reloaded.unet.state_dict()[key], value), key


def test_save_checkpoint_refuses_a_text_encoder_of_another_family(models_root, tmp_path):
    model, _, vae = load_checkpoint(models_root / "checkpoints" / "tiny-sd1.safetensors")
    _, sdxl_clip, _ = load_checkpoint(models_root / "checkpoints" / "tiny-sdxl.safetensors")
    ctx = context_for(tmp_path)
    with pytest.raises(ValueError, match="not the sd1 model's"):
        merge.SaveCheckpoint().run(ctx, model=model, clip=sdxl_clip, vae=vae, filename_prefix="bad")
    assert not list((tmp_path / "output").glob("*.safetensors"))
