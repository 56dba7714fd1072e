"""The class-conditional variant: fine-tuned from a text pipeline, resumable, exported as a folder graphflow loads."""

from pathlib import Path

import pytest
import torch
from diffusers import UNet2DConditionModel

from graphflow.demo import train
from graphflow.demo.train_class import CACHE, CHECKPOINT, CLASS_NAMES, class_unet, main
from graphflow.models.loader import load_checkpoint
from graphflow.nodes.class_conditioning import ClassConditioning
from graphflow.sampling.latent import Latent
from graphflow.sampling.sample import sample
from tests.running import context_for


@pytest.fixture(scope="module")
def text_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("text") / "run"
    assert train.main(["--out", str(out), "--tiny"]) == 0
    return out / "pipeline"


def fine_tune(text_pipeline: Path, out: Path, *extra: str) -> int:
    return main(["--init", str(text_pipeline), "--out", str(out), "--steps", "2", "--images", "8", *extra])


def test_the_class_unet_starts_out_as_the_text_unet(text_pipeline):
    base = UNet2DConditionModel.from_pretrained(text_pipeline, subfolder="unet").eval()
    unet = class_unet(text_pipeline).eval()
    assert unet.config.num_class_embeds == len(CLASS_NAMES) and unet.config.class_names == list(CLASS_NAMES)
    noisy, context = torch.randn(1, 4, 8, 8), torch.zeros(1, 77, base.config.cross_attention_dim)
    expected = base(noisy, 500, encoder_hidden_states=context).sample
    for label in range(len(CLASS_NAMES)):
        got = unet(noisy, 500, encoder_hidden_states=context, class_labels=torch.tensor([label])).sample
        assert torch.equal(got, expected)


def test_fine_tuning_exports_a_class_model_that_graphflow_samples_by_class_name(text_pipeline, tmp_path):
    out, dest = tmp_path / "class", tmp_path / "shapes-class"
    assert fine_tune(text_pipeline, out) == 0
    cache = torch.load(out / CACHE, weights_only=True)
    assert cache["latents"].shape[0] == 8 and set(cache["labels"].tolist()) <= {0, 1, 2}
    assert torch.load(out / CHECKPOINT, weights_only=True)["step"] == 2
    assert main(["--out", str(out), "--export", str(dest)]) == 0
    assert "Steps trained: 2 of 2" in (dest / "TRAINING.md").read_text()

    model, _, vae = load_checkpoint(dest, device="cpu")
    ctx = context_for(tmp_path, "classes")
    positive, negative = ClassConditioning().run(ctx, model, class_index=0, class_name="Triangle", null_class=-1)
    assert positive[0].class_labels.tolist() == [2] and negative[0].class_labels.tolist() == [3]
    side = model.unet.config.sample_size
    latent = Latent(torch.zeros(2, 4, side, side))
    samples = sample(
        model,
        positive=positive,
        negative=negative,
        latent=latent,
        seed=0,
        steps=2,
        cfg=3.0,
        sampler_name="euler",
        scheduler="normal",
    )
    assert vae.decode(samples).shape == (2, 16, 16, 3)


def test_a_stopped_class_run_resumes_where_it_left_off(text_pipeline, tmp_path, capsys):
    out = tmp_path / "class"
    fine_tune(text_pipeline, out, "--minutes", "0")
    assert "[stopped]" in capsys.readouterr().out
    assert torch.load(out / CHECKPOINT, weights_only=True)["step"] == 0
    main(["--out", str(out), "--resume"])
    assert torch.load(out / CHECKPOINT, weights_only=True)["step"] == 2


def test_starting_over_a_run_or_resuming_nothing_is_refused(text_pipeline, tmp_path):
    out = tmp_path / "class"
    fine_tune(text_pipeline, out, "--minutes", "0")
    with pytest.raises(SystemExit, match="pass --resume"):
        fine_tune(text_pipeline, out)
    with pytest.raises(SystemExit, match="no run to resume"):
        main(["--out", str(tmp_path / "empty"), "--resume"])


def test_an_init_folder_that_is_not_a_demo_pipeline_is_named(tmp_path):
    with pytest.raises(SystemExit, match=r"--init .*nothing: not a demo pipeline folder"):
        main(["--init", str(tmp_path / "nothing"), "--out", str(tmp_path / "class")])
