"""Model merging nodes (ComfyUI's ModelMerge*, CLIPMerge*, CheckpointSave): merges travel as weight patches.

A merged MODEL or CLIP is the first input carrying patches that mix in the second's weights while it is
used; the cached models are never changed, so the unmerged models give the same pictures afterwards.
Save Checkpoint writes the merged weights (safetensors only) where Load Checkpoint can read them back.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from graphflow.api import CLIP, FLOAT, MODEL, STRING, VAE, Context, Input, Output, hookimpl, node
from graphflow.models.vae import Vae
from graphflow.patches.bake import save_checkpoint
from graphflow.patches.merge import Coefficients, MergePlan, blocks_coefficients, merge_patches
from graphflow.sampling.model import DiffusionModel
from graphflow.text.encoder import TextEncoder
from graphflow.workflow import PNG_KEY

CATEGORY = "advanced/model_merging"


def _ratio(what: str) -> Input:
    return Input(
        FLOAT, default=1.0, min=0.0, max=1.0, step=0.01, description=f"share of model1 in the {what} (1 = model1 alone)"
    )


def _merge_models(
    ctx: Context, model1: DiffusionModel, model2: DiffusionModel, coefficients: Coefficients
) -> DiffusionModel:
    plan = merge_patches(model1.unet, model2.unet, coefficients, other_patches=model2.patches, source="model2")
    _log(ctx, plan, "the denoising model")
    return model1.with_patches(plan.patches) if plan.patches else model1


def _log(ctx: Context, plan: MergePlan, what: str) -> None:
    log = ctx.log.warning if plan.only_in_other or plan.mismatched else ctx.log.info
    log("%s", plan.describe(what))


@node("graphflow.merge.models", version="1.0.0", title="Merge Models", category=CATEGORY)
class MergeModels:
    """Mix two denoising models: ratio * model1 + (1 - ratio) * model2, weight by weight (ComfyUI's ModelMergeSimple).

    Only weights both models have with the same shape are mixed; model1 keeps the rest. LoRAs already on
    model2 count as part of its weights.
    """

    model1 = Input(MODEL)
    model2 = Input(MODEL)
    ratio = _ratio("mix")
    model = Output(MODEL, "model1 carrying the merge")

    def run(self, ctx: Context, model1: DiffusionModel, model2: DiffusionModel, ratio: float) -> DiffusionModel:
        return _merge_models(ctx, model1, model2, lambda _: (ratio, 1.0 - ratio))


@node("graphflow.merge.models_add", version="1.0.0", title="Add Models", category=CATEGORY)
class AddModels:
    """model1 + model2, weight by weight (ComfyUI's ModelMergeAdd): adds a difference made by Subtract Models."""

    model1 = Input(MODEL)
    model2 = Input(MODEL)
    model = Output(MODEL, "model1 carrying the sum")

    def run(self, ctx: Context, model1: DiffusionModel, model2: DiffusionModel) -> DiffusionModel:
        return _merge_models(ctx, model1, model2, lambda _: (1.0, 1.0))


@node("graphflow.merge.models_subtract", version="1.0.0", title="Subtract Models", category=CATEGORY)
class SubtractModels:
    """multiplier * (model1 - model2), weight by weight (ComfyUI's ModelMergeSubtract): what a fine-tune added."""

    model1 = Input(MODEL)
    model2 = Input(MODEL)
    multiplier = Input(FLOAT, default=1.0, min=-10.0, max=10.0, step=0.01)
    model = Output(MODEL, "model1 carrying the difference")

    def run(self, ctx: Context, model1: DiffusionModel, model2: DiffusionModel, multiplier: float) -> DiffusionModel:
        return _merge_models(ctx, model1, model2, lambda _: (multiplier, -multiplier))


@node("graphflow.merge.models_blocks", version="1.0.0", title="Merge Models by Blocks", category=CATEGORY)
class MergeModelsByBlocks:
    """Mix two denoising models with one ratio per part of the U-Net (ComfyUI's ModelMergeBlocks).

    `input` covers the down blocks, `middle` the middle block, `out` the up blocks and the output layers;
    the time and class embeddings take the `input` ratio.
    """

    model1 = Input(MODEL)
    model2 = Input(MODEL)
    input = _ratio("input (down) blocks")
    middle = _ratio("middle block")
    out = _ratio("output (up) blocks")
    model = Output(MODEL, "model1 carrying the merge")

    def run(
        self, ctx: Context, model1: DiffusionModel, model2: DiffusionModel, input: float, middle: float, out: float
    ) -> DiffusionModel:
        return _merge_models(ctx, model1, model2, blocks_coefficients(input, middle, out))


def _merge_clips(ctx: Context, clip1: TextEncoder, clip2: TextEncoder, coefficients: Coefficients) -> TextEncoder:
    others = {part.name: part for part in clip2.parts}
    common = [part for part in clip1.parts if part.name in others]
    if not common:
        raise ValueError(
            f"clip2 ({', '.join(others)}) has no text encoder part of clip1 ({', '.join(p.name for p in clip1.parts)})"
        )
    patches = {}
    for part in common:
        other = others[part.name]
        plan = merge_patches(
            part.model, other.model, coefficients, other_patches=other.patches, source=f"clip2's {part.name}"
        )
        _log(ctx, plan, f"text encoder {part.name}")
        patches[part.name] = plan.patches
    return clip1.with_patches(patches)


@node("graphflow.merge.clips", version="1.0.0", title="Merge Text Encoders", category=CATEGORY)
class MergeClips:
    """Mix two text encoders: ratio * clip1 + (1 - ratio) * clip2, part by part (ComfyUI's CLIPMergeSimple).

    Parts are matched by name (clip_l, clip_h, clip_g); only weights of the same shape are mixed.
    """

    clip1 = Input(CLIP)
    clip2 = Input(CLIP)
    ratio = _ratio("mix")
    clip = Output(CLIP, "clip1 carrying the merge")

    def run(self, ctx: Context, clip1: TextEncoder, clip2: TextEncoder, ratio: float) -> TextEncoder:
        return _merge_clips(ctx, clip1, clip2, lambda _: (ratio, 1.0 - ratio))


@node("graphflow.merge.clips_add", version="1.0.0", title="Add Text Encoders", category=CATEGORY)
class AddClips:
    """clip1 + clip2, part by part (ComfyUI's CLIPMergeAdd)."""

    clip1 = Input(CLIP)
    clip2 = Input(CLIP)
    clip = Output(CLIP, "clip1 carrying the sum")

    def run(self, ctx: Context, clip1: TextEncoder, clip2: TextEncoder) -> TextEncoder:
        return _merge_clips(ctx, clip1, clip2, lambda _: (1.0, 1.0))


@node("graphflow.merge.clips_subtract", version="1.0.0", title="Subtract Text Encoders", category=CATEGORY)
class SubtractClips:
    """multiplier * (clip1 - clip2), part by part (ComfyUI's CLIPMergeSubtract)."""

    clip1 = Input(CLIP)
    clip2 = Input(CLIP)
    multiplier = Input(FLOAT, default=1.0, min=-10.0, max=10.0, step=0.01)
    clip = Output(CLIP, "clip1 carrying the difference")

    def run(self, ctx: Context, clip1: TextEncoder, clip2: TextEncoder, multiplier: float) -> TextEncoder:
        return _merge_clips(ctx, clip1, clip2, lambda _: (multiplier, -multiplier))


@node(
    "graphflow.merge.save_checkpoint",
    version="1.0.0",
    title="Save Checkpoint",
    category=CATEGORY,
    output=True,
    cacheable=False,
)
class SaveCheckpoint:
    """Save a model, its text encoder and VAE, with their merges and LoRAs baked in, as one .safetensors file
    in the output folder (ComfyUI's CheckpointSave; original layout, with its configs and the workflow).

    Move or link it into models/checkpoints to load it with Load Checkpoint.
    """

    model = Input(MODEL)
    clip = Input(CLIP)
    vae = Input(VAE)
    filename_prefix = Input(STRING, default="checkpoints/graphflow", source="literal")

    def run(self, ctx: Context, model: DiffusionModel, clip: TextEncoder, vae: Vae, filename_prefix: str) -> None:
        if model.hooks:
            ctx.log.warning(
                "module hooks (e.g. hypernetworks) act while sampling and are not part of the saved checkpoint"
            )
        path = ctx.output_file(filename_prefix, ".safetensors")
        try:
            save_checkpoint(path, model, clip, vae, {PNG_KEY: json.dumps(ctx.workflow, separators=(",", ":"))})
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        ctx.add_ui("checkpoints", ctx.file_ref(path))
        ctx.log.info("saved %s", path)


@hookimpl
def register_nodes(register: Callable[[type], None]) -> None:
    """Provide the model merging nodes."""
    for cls in (
        MergeModels,
        AddModels,
        SubtractModels,
        MergeModelsByBlocks,
        MergeClips,
        AddClips,
        SubtractClips,
        SaveCheckpoint,
    ):
        register(cls)
