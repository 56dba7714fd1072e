"""Class conditioning drives a class-conditional U-Net (diffusers num_class_embeds) by index or name."""

import re
from pathlib import Path

import pytest
import torch

from graphflow.context import Context
from graphflow.nodes.class_conditioning import ClassConditioning
from graphflow.sampling.latent import Latent
from graphflow.sampling.sample import sample
from tests.running import context_for
from tests.sampling.helpers import tiny_model

CLASSES = 5  # four classes and, last, the null class used for guidance


@pytest.fixture(scope="module")
def model():
    model = tiny_model(num_class_embeds=CLASSES)
    model.unet.register_to_config(id2label={"0": "tench, Tinca tinca", "1": "goldfish", "2": "shark", "3": "ray"})
    return model


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    return context_for(tmp_path, "n")


def encode(ctx, model, index: int = 0, name: str = "", null: int = -1):
    return ClassConditioning().run(ctx, model, class_index=index, class_name=name, null_class=null)


def test_the_class_entry_carries_its_label_and_an_unconditional_context(ctx, model):
    positive, negative = encode(ctx, model, index=2)
    assert len(positive) == 1 and torch.equal(positive[0].class_labels, torch.tensor([2]))
    assert positive[0].context.shape == (1, 77, 16) and not positive[0].context.any()
    assert torch.equal(negative[0].class_labels, torch.tensor([CLASSES - 1]))


def generate(model, positive, negative, seed: int = 0) -> torch.Tensor:
    return sample(
        model,
        positive=positive,
        negative=negative,
        latent=Latent(torch.zeros(1, 4, 8, 8)),
        seed=seed,
        steps=4,
        cfg=3.0,
        sampler_name="euler",
        scheduler="normal",
    )


def test_the_class_steers_sampling(ctx, model):
    goldfish, shark = encode(ctx, model, index=1), encode(ctx, model, index=2)
    first, again, other = generate(model, *goldfish), generate(model, *goldfish), generate(model, *shark)
    assert torch.equal(first, again)
    assert float((first - other).abs().max()) > 1e-3


def test_a_class_name_is_looked_up_in_the_model_labels(ctx, model):
    assert encode(ctx, model, name="Tinca tinca")[0][0].class_labels.item() == 0
    assert encode(ctx, model, index=3, name=" Goldfish ")[0][0].class_labels.item() == 1
    with pytest.raises(ValueError, match=re.escape("unknown class_name 'salmon'; this model knows e.g. goldfish, ray")):
        encode(ctx, model, name="salmon")


def test_a_class_index_out_of_range_names_the_valid_range(ctx, model):
    with pytest.raises(ValueError, match="class index 7 is out of range: this model has classes 0 to 4"):
        encode(ctx, model, index=7)
    with pytest.raises(ValueError, match="class index 9 is out of range"):
        encode(ctx, model, null=9)


def test_a_model_without_class_embedding_is_refused_clearly(ctx):
    with pytest.raises(ValueError, match=r"has no class embedding .* Encode Prompt instead"):
        encode(ctx, tiny_model())


def test_a_name_for_a_model_without_class_names_is_refused(ctx):
    with pytest.raises(ValueError, match="lists no class names; give class_index \\(0 to 2\\)"):
        encode(ctx, tiny_model(num_class_embeds=3), name="cat")


def test_sampling_a_class_model_with_text_conditioning_says_what_is_missing(ctx, model):
    text_only = (encode(ctx, model)[0][0].replace(class_labels=None),)
    with pytest.raises(ValueError, match="positive conditioning has no class labels"):
        generate(model, text_only, text_only)
