"""unCLIP: image embeddings noised as ComfyUI and diffusers noise them, an unCLIP model sampled as diffusers'
StableUnCLIPImg2ImgPipeline samples it, SDXL revision, the unCLIP checkpoint loader, and clear errors."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from graphflow.models.clip_vision import ClipVision
from graphflow.models.detect import family_config
from graphflow.models.tiny import build_tiny, save_tiny_checkpoint
from graphflow.models.tiny_unclip import (
    build_tiny_unclip,
    save_tiny_unclip_checkpoint,
    save_tiny_unclip_diffusers,
)
from graphflow.models.unclip_checkpoint import load_unclip_checkpoint
from graphflow.sampling.conditioning import CondEntry, UnclipImage
from graphflow.sampling.denoiser import cfg_denoiser, with_image_inputs
from graphflow.sampling.latent import Latent
from graphflow.sampling.model import SD1_LATENT_FORMAT, DiffusionModel, ModelSampling
from graphflow.sampling.sample import sample
from graphflow.sampling.unclip import augment, unclip_adm
from graphflow.workflow import parse_workflow

SEED = 77
STEPS = 10  # 999 / (STEPS - 1) is whole: graphflow's "normal" equals diffusers' linspace Euler
CFG = 4.0
NOISE_LEVEL = 100


@pytest.fixture(scope="module")
def unclip() -> SimpleNamespace:
    torch.set_num_threads(1)
    models, vision = build_tiny_unclip(seed=0)
    return SimpleNamespace(models=models, vision=vision)


@pytest.fixture
def models_dir(tmp_path_factory: pytest.TempPathFactory, unclip: SimpleNamespace) -> Path:
    root = tmp_path_factory.mktemp("unclip_models")
    save_tiny_unclip_checkpoint(unclip.models, unclip.vision, root / "checkpoints" / "tiny-unclip.safetensors")
    save_tiny_unclip_diffusers(unclip.models, unclip.vision, root / "checkpoints" / "tiny-unclip")
    save_tiny_checkpoint(build_tiny("sd1"), root / "checkpoints" / "tiny-sd1.safetensors")
    return root


def _noising(dim: int) -> SimpleNamespace:
    """What StableUnCLIPImg2ImgPipeline.noise_image_embeddings reads from the pipeline (stats mean 0, std 1)."""
    from diffusers import DDPMScheduler
    from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import StableUnCLIPImageNormalizer

    return SimpleNamespace(
        image_normalizer=StableUnCLIPImageNormalizer(embedding_dim=dim),
        image_noising_scheduler=DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2"),
    )


@pytest.mark.parametrize("level", [0, 100, 998])
def test_an_image_embedding_is_noised_as_diffusers_stable_unclip_noises_it(level: int) -> None:
    from diffusers import StableUnCLIPImg2ImgPipeline

    embeds = torch.randn(1, 16, generator=torch.Generator().manual_seed(1))
    noise = torch.randn(1, 16, generator=torch.Generator().manual_seed(SEED - 10))
    expected = StableUnCLIPImg2ImgPipeline.noise_image_embeddings(_noising(16), embeds, level, noise=noise)  # type: ignore[arg-type]
    ours = unclip_adm([UnclipImage(embeds, 1.0, level / 999)], SEED, merge_level=0.05)
    assert torch.allclose(ours, expected, atol=1e-5)


def test_strength_weighs_the_embedding_and_its_level_and_several_images_merge() -> None:
    embeds = torch.randn(2, 8, generator=torch.Generator().manual_seed(2))
    single = unclip_adm([UnclipImage(embeds[:1], 2.0, 0.5)], SEED, merge_level=0.05)
    assert torch.allclose(single, 2.0 * augment(embeds[:1], 500, SEED - 10))
    merged = unclip_adm([UnclipImage(embeds, 0.5, 0.2)], SEED, merge_level=0.05)
    summed = 0.5 * (augment(embeds[:1], 200, SEED - 10) + augment(embeds[1:], 200, SEED - 10))
    assert torch.allclose(merged, augment(summed[:, :8], 50, SEED - 10))


def _stable_unclip_latents(folder: Path, vision: torch.nn.Module, pixels: torch.Tensor, context, negative, noise):
    from diffusers import (
        AutoencoderKL,
        DDPMScheduler,
        EulerDiscreteScheduler,
        StableUnCLIPImg2ImgPipeline,
        UNet2DConditionModel,
    )
    from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import StableUnCLIPImageNormalizer

    pipe = StableUnCLIPImg2ImgPipeline(
        feature_extractor=None,
        image_encoder=vision,
        image_normalizer=StableUnCLIPImageNormalizer(embedding_dim=vision.config.projection_dim),
        image_noising_scheduler=DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2"),
        tokenizer=None,
        text_encoder=None,
        unet=UNet2DConditionModel.from_pretrained(folder, subfolder="unet", local_files_only=True),
        scheduler=EulerDiscreteScheduler.from_config(family_config("sd2", "scheduler"), timestep_spacing="linspace"),
        vae=AutoencoderKL.from_pretrained(folder, subfolder="vae", local_files_only=True),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe(
        image=pixels,
        prompt_embeds=context,
        negative_prompt_embeds=negative,
        latents=noise * pipe.scheduler.init_noise_sigma,  # given latents are not scaled by this pipeline
        num_inference_steps=STEPS,
        guidance_scale=CFG,
        noise_level=NOISE_LEVEL,
        generator=torch.Generator().manual_seed(SEED - 10),  # draws the embedding's noise first, as graphflow does
        height=64,
        width=64,
        output_type="latent",
    ).images


def test_sampling_an_unclip_model_matches_diffusers_stable_unclip_pipeline(
    unclip: SimpleNamespace, models_dir: Path
) -> None:
    folder = models_dir / "checkpoints" / "tiny-unclip"
    model, _, _, vision = load_unclip_checkpoint(folder, device="cpu")
    picture = torch.rand(1, 48, 40, 3, generator=torch.Generator().manual_seed(5))
    encoded = vision.encode_image(picture)
    generator = torch.Generator().manual_seed(6)
    context, negative = torch.randn(1, 77, 32, generator=generator), torch.randn(1, 77, 32, generator=generator)
    noise = torch.randn(1, 4, 8, 8, generator=generator)
    image = UnclipImage(encoded.image_embeds, 1.0, NOISE_LEVEL / 999)

    def ours(*images: UnclipImage) -> torch.Tensor:
        return sample(
            model,
            positive=(CondEntry(context=context, unclip=images),),
            negative=(CondEntry(context=negative),),
            latent=Latent(torch.zeros(1, 4, 8, 8)),
            seed=SEED,
            steps=STEPS,
            cfg=CFG,
            sampler_name="euler",
            scheduler="normal",
            noise=noise,
        )

    expected = _stable_unclip_latents(folder, unclip.vision, vision.preprocess(picture), context, negative, noise)
    # float32 round-off through 10 steps: a plain SD2 txt2img run agrees with StableDiffusionPipeline to ~0.006
    assert torch.allclose(ours(image), expected, atol=0.02), float((ours(image) - expected).abs().max())
    assert (ours() - expected).abs().max() > 0.2  # without the picture it is another result


def test_an_entry_without_an_image_gives_an_unclip_model_zeros_as_comfyui_does(unclip: SimpleNamespace) -> None:
    model = _model(unclip.models.unet)
    (entry,) = with_image_inputs(model, (CondEntry(context=torch.zeros(1, 77, 32)),), "negative")
    assert entry.class_labels is not None and entry.class_labels.shape == (1, 32) and not entry.class_labels.any()


def _model(unet: torch.nn.Module, family: str = "sd2") -> DiffusionModel:
    return DiffusionModel(
        unet, ModelSampling.from_betas(), family, SD1_LATENT_FORMAT, torch.device("cpu"), torch.float32
    )


def _image(width: int) -> UnclipImage:
    return UnclipImage(torch.randn(1, width, generator=torch.Generator().manual_seed(3)), 1.0, 0.0)


def test_unclip_on_a_model_without_image_input_names_the_problem() -> None:
    model = _model(build_tiny("sd1").unet, "sd1")
    entry = CondEntry(context=torch.zeros(1, 77, 32), unclip=(_image(16),))
    with pytest.raises(
        ValueError, match=r"positive conditioning carries unCLIP image embeddings .* this sd1 model has no"
    ):
        cfg_denoiser(model, (entry,), (), 1.0)


def test_an_embedding_of_the_wrong_width_names_the_encoder_to_use(unclip: SimpleNamespace) -> None:
    entry = CondEntry(context=torch.zeros(1, 77, 32), unclip=(_image(24),))
    with pytest.raises(ValueError, match="width 24, but this unCLIP model takes embeddings of width 16"):
        cfg_denoiser(_model(unclip.models.unet), (entry,), (), 1.0)


def test_sdxl_revision_replaces_the_pooled_text_with_the_noised_image_embedding() -> None:
    model = _model(build_tiny("sdxl").unet, "sdxl")  # pooled width 32
    image = _image(32)
    entry = CondEntry(context=torch.zeros(1, 77, 64), pooled=torch.ones(1, 32), unclip=(image,))
    (revised,) = with_image_inputs(model, (entry,), "positive", seed=SEED)
    assert torch.allclose(revised.pooled, augment(image.image_embeds, 0, SEED - 10)[:, :32])
    x = torch.randn(1, 4, 8, 8)
    assert cfg_denoiser(model, (entry,), (), 1.0, seed=SEED)(x, torch.tensor([1.0])).shape == x.shape
    with pytest.raises(ValueError, match="for SDXL revision encode the image with CLIP ViT-bigG"):
        with_image_inputs(model, (entry.replace(unclip=(_image(16),)),), "positive")


@pytest.mark.parametrize("name", ["tiny-unclip.safetensors", "tiny-unclip"])
def test_an_unclip_checkpoint_loads_with_its_image_encoder(
    name: str, unclip: SimpleNamespace, models_dir: Path
) -> None:
    model, _, _, vision = load_unclip_checkpoint(models_dir / "checkpoints" / name, device="cpu")
    assert model.family == "sd2" and model.sampling.prediction_type == "v_prediction"
    assert model.unet.config.class_embed_type == "projection" and isinstance(vision, ClipVision)
    x, labels = torch.randn(1, 4, 8, 8), torch.randn(1, 32)
    context = torch.randn(1, 77, 32)
    with torch.no_grad():
        ours = model.unet(x, 10, context, class_labels=labels).sample
        expected = unclip.models.unet(x, 10, context, class_labels=labels).sample
        picture = torch.rand(1, 3, 32, 32)
        assert torch.allclose(vision.model(pixel_values=picture).image_embeds, unclip.vision(picture).image_embeds)
    assert torch.allclose(ours, expected, atol=1e-5)


def test_a_plain_checkpoint_is_refused_by_the_unclip_loader(models_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"no image-embedding input .* use Load Checkpoint"):
        load_unclip_checkpoint(models_dir / "checkpoints" / "tiny-sd1.safetensors", device="cpu")


def _unclip_workflow(strength: float) -> dict:
    clip = {"clip": {"node": "checkpoint", "output": "clip"}}
    return {
        "format": "graphflow.workflow",
        "version": 1,
        "nodes": {
            "checkpoint": {
                "type": "graphflow.loaders.unclip_checkpoint",
                "inputs": {"checkpoint": "tiny-unclip.safetensors"},
            },
            "picture": {"type": "graphflow.image.load", "inputs": {"image": "picture.png"}},
            "encode": {
                "type": "graphflow.conditioning.clip_vision_encode",
                "links": {
                    "clip_vision": {"node": "checkpoint", "output": "clip_vision"},
                    "image": {"node": "picture", "output": "pixels"},
                },
            },
            "prompt": {"type": "graphflow.conditioning.encode", "inputs": {"text": "a shape"}, "links": clip},
            "negative": {"type": "graphflow.conditioning.encode", "inputs": {"text": ""}, "links": clip},
            "unclip": {
                "type": "graphflow.conditioning.unclip",
                "inputs": {"strength": strength, "noise_augmentation": 0.1},
                "links": {
                    "conditioning": {"node": "prompt", "output": "conditioning"},
                    "clip_vision_output": {"node": "encode", "output": "clip_vision_output"},
                },
            },
            "latent": {"type": "graphflow.latent.empty", "inputs": {"width": 64, "height": 64}},
            "sampler": {
                "type": "graphflow.sampling.sample",
                "inputs": {"seed": 3, "steps": 4, "cfg": 3.0, "sampler_name": "euler", "scheduler": "normal"},
                "links": {
                    "model": {"node": "checkpoint", "output": "model"},
                    "positive": {"node": "unclip", "output": "result"},
                    "negative": {"node": "negative", "output": "conditioning"},
                    "latent": {"node": "latent", "output": "latent"},
                },
            },
        },
    }


def test_the_unclip_nodes_run_in_a_workflow_and_the_picture_steers_sampling(executor, folder_settings: Path) -> None:
    pixels = (np.random.default_rng(1).random((64, 64, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(folder_settings / "picture.png")
    results = []
    for strength in (0.0, 1.0):
        result = executor.run(parse_workflow(_unclip_workflow(strength)), targets=["sampler", "unclip"])
        assert result.status == "success", result.error
        results.append(result.outputs)
    assert results[0]["unclip"]["result"][0].unclip == ()
    assert len(results[1]["unclip"]["result"][0].unclip) == 1
    assert not torch.allclose(results[0]["sampler"]["result"].samples, results[1]["sampler"]["result"].samples)
