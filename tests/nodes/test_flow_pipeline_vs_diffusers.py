"""The whole SD3/SD3.5 and Flux path, model files -> graphflow nodes -> picture, equals diffusers' pipelines.

graphflow runs real workflows through the executor on tiny random models saved to disk (graphflow.models.tiny_flow):
SD3 and SD3.5 as a diffusers folder and as an all-in-one original-layout single file, each through Load Checkpoint
-> Encode Prompt (positive, negative) -> Empty SD3 Latent -> Sampler (euler, `normal`, cfg 4) -> VAE Decode; Flux
dev as ComfyUI's pieces (an original-layout transformer through Load Diffusion Model, CLIP-L and T5 through Dual
CLIP Loader, the 16-channel VAE through Load VAE, Encode Prompt (Flux)) and as a diffusers folder (Load Checkpoint,
Encode Prompt + Flux Guidance), then Model Sampling Flux at the picture's size -> Custom Sampler (Advanced) with
Basic Guider, Random Noise, euler and the `simple` schedule -> VAE Decode; Flux schnell from its folder, with Model
Sampling SD3 at the shipped scheduler's shift 1 (diffusers' schnell schedule is unshifted; graphflow's loader gives
ComfyUI's schnell shift, mu = 1). diffusers' StableDiffusion3Pipeline / FluxPipeline read the diffusers folder with
the same prompts, guidance, steps and size, starting from graphflow's start noise for the seed
(graphflow.sampling.noise.prepare_noise; packed into Flux's 2x2 tokens by the pipeline's own _pack_latents).

The schedules agree by construction (tests/sampling/test_flow_sampling.py): graphflow's `normal` is diffusers' SD3
default, `simple` over Flux's table is diffusers' linspace(1, 1/N, N) after dynamic shifting, and Model Sampling
Flux's shift for width x height is diffusers' mu for that image sequence length (checked against the shipped
scheduler configs below). The CLIP tokenizers given to diffusers are CLIP's BPE restricted to the prompt words,
with CLIP's ids (checked below against graphflow's tokenizer): the tiny folders ship no CLIP tokenizer, and no CLIP
vocabulary file is available offline. graphflow runs at precision fp32: `auto` on the CPU stores text encoders
in fp16 (and may run the VAE in bf16), which is a storage choice, not the pipeline's maths being compared.

At precision auto the pictures are not compared with diffusers (the bf16 VAE of CPUs with AMX alone moves them by
up to ~8 levels here); the last test checks there that T5 files (the all-in-one SD3 file, a Flux t5xxl file) encode
exactly as the diffusers folder does.

Pictures are compared as floats in 0..255: at most 2 levels apart, the tolerance of the SD1 match
(tests/nodes/test_diffusion_vs_diffusers.py); float32 round-off through four steps and the VAE stays far below it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from graphflow.cache import ModelCache
from graphflow.executor import Executor
from graphflow.models.tiny_flow import (
    build_tiny_flow,
    save_tiny_flow_checkpoint,
    save_tiny_flow_folder,
    save_tiny_flow_transformer,
    save_tiny_flow_vae,
    save_tiny_text_encoder,
)
from graphflow.plugins import Plugins
from graphflow.sampling.flow import FLUX_BASE_SHIFT, FLUX_BASE_TOKENS, FLUX_MAX_TOKENS, FLUX_SHIFT
from graphflow.sampling.latent import Latent
from graphflow.sampling.noise import prepare_noise
from graphflow.text.tokenizers import CLIP_BOS, CLIP_EOS, CLIP_MAX_LENGTH, clip_bpe_tokenizer
from tests.nodes.conftest import link, run_graph
from tests.running import executor_for

HEIGHT, WIDTH = 64, 96  # an 8 x 12 latent: not square, so rows and columns cannot be swapped unnoticed
STEPS = 4
SEED = 7
SD3_CFG = 4.0
FLUX_GUIDANCE = 3.5
T5_LENGTH = 512  # graphflow's Flux T5 length, FluxPipeline's default max_sequence_length
PROMPT = "a red circle on the left"
NEGATIVE = "blurry photo"
FLUX_PROMPT = "a photo of a green cat"
MAX_PIXEL_DIFF = 2.0  # in 8-bit levels, as tests/nodes/test_diffusion_vs_diffusers.py holds the SD1 match
SD3_VARIANTS = ("sd3", "sd35")
FLUX_VARIANTS = ("flux-dev", "flux-schnell")
CHECKPOINTS, DIFFUSION_MODELS, TEXT_ENCODERS, VAES = "checkpoints", "diffusion_models", "text_encoders", "vae"


def _folder(variant: str) -> str:
    return f"tiny-{variant}"


def _single_file(variant: str) -> str:
    return f"tiny-{variant}.safetensors"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder holding each tiny flow model as people store it (replaces the SD1 models of conftest)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("flow-models")
    for variant in SD3_VARIANTS:
        models = build_tiny_flow(variant)
        save_tiny_flow_folder(models, root / CHECKPOINTS / _folder(variant))
        save_tiny_flow_checkpoint(models, root / CHECKPOINTS / _single_file(variant))
    for variant in FLUX_VARIANTS:
        save_tiny_flow_folder(build_tiny_flow(variant), root / CHECKPOINTS / _folder(variant))
    flux = build_tiny_flow("flux-dev")
    save_tiny_flow_transformer(flux, root / DIFFUSION_MODELS / "tiny-flux1-dev.safetensors")
    for part in ("clip_l", "t5xxl"):
        save_tiny_text_encoder(flux, part, root / TEXT_ENCODERS / "flux" / f"{part}.safetensors")
    save_tiny_flow_vae(flux, root / VAES / "tiny-flux-ae.safetensors")
    return root


@pytest.fixture(scope="module")
def flow_models() -> Iterator[dict[str, ModelCache]]:
    """This module's own model caches, one per precision: shared by its tests and by no other module's."""
    yield {"fp32": ModelCache(), "auto": ModelCache()}


@pytest.fixture
def executor(plugins: Plugins, tmp_path: Path, models_dir: Path, flow_models: dict[str, ModelCache]) -> Executor:
    """An executor on the tiny flow models in fp32 (diffusers' dtype), writing into this test's folders."""
    return executor_for(plugins, tmp_path, models_dir=models_dir, models=flow_models["fp32"], precision="fp32")


@pytest.fixture
def auto_executor(plugins: Plugins, tmp_path: Path, models_dir: Path, flow_models: dict[str, ModelCache]) -> Executor:
    """The same at the default precision: on the CPU, text encoders stored in fp16 and computed in fp32."""
    return executor_for(plugins, tmp_path, models_dir=models_dir, models=flow_models["auto"], precision="auto")


# --- diffusers' side ------------------------------------------------------------------------------------------


def _bytes_to_unicode() -> list[str]:
    """CLIP's (GPT-2's) byte alphabet in vocabulary order: printable bytes as themselves, the rest shifted."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    rest = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + n) for n in range(len(rest))]


def _clip_tokenizer(pad_token: str) -> Any:
    """A transformers CLIPTokenizer that spells the prompts' words as CLIP's BPE does, with CLIP's ids.

    BPE merges trained on the prompt words (each word one token), the vocabulary renumbered to CLIP's: bytes
    0..511 (bare, then word-final), each word its CLIP id, BOS/EOS 49406/49407; the merges' intermediate pieces,
    never emitted for these words, numbered past CLIP's vocabulary.
    """
    from transformers import CLIPTokenizer

    from graphflow.demo.tokenizer import build_tokenizer

    words = sorted({word for text in (PROMPT, NEGATIVE, FLUX_PROMPT) for word in text.split()})
    trained = build_tokenizer(words)
    clip = clip_bpe_tokenizer()
    alphabet = _bytes_to_unicode()
    vocab = {char: i for i, char in enumerate(alphabet)} | {char + "</w>": 256 + i for i, char in enumerate(alphabet)}
    vocab |= {word + "</w>": clip.ids(word)[0] for word in words}
    vocab |= {"<|startoftext|>": CLIP_BOS, "<|endoftext|>": CLIP_EOS}
    for piece in trained.get_vocab():
        vocab.setdefault(piece, 100_000 + len(vocab))
    merges = json.loads(trained.backend_tokenizer.to_str())["model"]["merges"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in merges]
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, pad_token=pad_token)
    tokenizer.model_max_length = CLIP_MAX_LENGTH
    return tokenizer


def _pictures(output: Any) -> np.ndarray:
    """A pipeline's output_type="np" pictures as float RGB in 0..255, [B, H, W, 3]."""
    return np.asarray(output.images, dtype=np.float64) * 255


def _start_noise() -> torch.Tensor:
    """graphflow's start noise for SEED on an Empty SD3 Latent of the picture's size."""
    return prepare_noise(Latent(torch.zeros(1, 16, HEIGHT // 8, WIDTH // 8)), SEED)


def _sd3_pipeline_pictures(folder: Path) -> np.ndarray:
    from diffusers import StableDiffusion3Pipeline

    pipe = StableDiffusion3Pipeline.from_pretrained(
        folder,
        local_files_only=True,
        tokenizer=_clip_tokenizer("<|endoftext|>"),  # CLIP-L pads with its end token
        tokenizer_2=_clip_tokenizer("!"),  # CLIP-G (OpenCLIP) pads with id 0, "!"
    )
    pipe.set_progress_bar_config(disable=True)
    with torch.no_grad():
        output = pipe(
            prompt=PROMPT,
            negative_prompt=NEGATIVE,
            guidance_scale=SD3_CFG,
            num_inference_steps=STEPS,
            height=HEIGHT,
            width=WIDTH,
            latents=_start_noise(),
            output_type="np",
        )
    return _pictures(output)


def _flux_pipeline_pictures(folder: Path) -> np.ndarray:
    from diffusers import FluxPipeline

    pipe = FluxPipeline.from_pretrained(folder, local_files_only=True, tokenizer=_clip_tokenizer("<|endoftext|>"))
    pipe.set_progress_bar_config(disable=True)
    noise = _start_noise()
    with torch.no_grad():
        output = pipe(
            prompt=FLUX_PROMPT,
            guidance_scale=FLUX_GUIDANCE,
            num_inference_steps=STEPS,
            height=HEIGHT,
            width=WIDTH,
            max_sequence_length=T5_LENGTH,
            latents=pipe._pack_latents(noise, *noise.shape),
            output_type="np",
        )
    return _pictures(output)


# --- graphflow's side -----------------------------------------------------------------------------------------


def _decoded(executor: Executor, nodes: dict[str, dict[str, Any]]) -> np.ndarray:
    """Run the workflow up to its "decode" node; the picture as float RGB in 0..255, [B, H, W, 3]."""
    image = run_graph(executor, nodes, "decode").outputs["decode"]["image"]
    return image.double().numpy() * 255


def _sd3_workflow(checkpoint: str) -> dict[str, dict[str, Any]]:
    """Load Checkpoint -> Encode Prompt x2 -> Empty SD3 Latent -> Sampler -> VAE Decode."""
    return {
        "checkpoint": {"type": "graphflow.loaders.checkpoint", "inputs": {"checkpoint": checkpoint}},
        "positive": {
            "type": "graphflow.conditioning.encode",
            "inputs": {"text": PROMPT},
            "links": {"clip": link("checkpoint", "clip")},
        },
        "negative": {
            "type": "graphflow.conditioning.encode",
            "inputs": {"text": NEGATIVE},
            "links": {"clip": link("checkpoint", "clip")},
        },
        "latent": {"type": "graphflow.latent.empty_sd3", "inputs": {"width": WIDTH, "height": HEIGHT}},
        "sampler": {
            "type": "graphflow.sampling.sample",
            "inputs": {
                "seed": SEED,
                "steps": STEPS,
                "cfg": SD3_CFG,
                "sampler_name": "euler",
                "scheduler": "normal",  # diffusers' SD3 default schedule (tests/sampling/test_flow_sampling.py)
                "denoise": 1.0,
            },
            "links": {
                "model": link("checkpoint", "model"),
                "positive": link("positive", "conditioning"),
                "negative": link("negative", "conditioning"),
                "latent": link("latent", "latent"),
            },
        },
        "decode": {
            "type": "graphflow.vae.decode",
            "links": {"latent": link("sampler", "result"), "vae": link("checkpoint", "vae")},
        },
    }


def _model_sampling_flux(model: dict[str, str]) -> dict[str, Any]:
    """Model Sampling Flux for the picture's size, with the shifts diffusers' Flux scheduler config ships."""
    return {
        "type": "graphflow.sampling.model_sampling_flux",
        "inputs": {"max_shift": FLUX_SHIFT, "base_shift": FLUX_BASE_SHIFT, "width": WIDTH, "height": HEIGHT},
        "links": {"model": model},
    }


def _flux_workflow(
    front: dict[str, dict[str, Any]], sampling: dict[str, Any], positive: dict[str, str], vae: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """`front` (loaders and prompt nodes) -> `sampling` (a model sampling node) -> Basic Guider on `positive`,
    Random Noise, euler, `simple` schedule, Empty SD3 Latent -> Custom Sampler (Advanced) -> VAE Decode."""
    return {
        **front,
        "sampling": sampling,
        "guider": {
            "type": "graphflow.sampling.basic_guider",
            "links": {"model": link("sampling", "result"), "conditioning": positive},
        },
        "noise": {"type": "graphflow.sampling.random_noise", "inputs": {"noise_seed": SEED}},
        "select": {"type": "graphflow.sampling.select_sampler", "inputs": {"sampler_name": "euler"}},
        "schedule": {
            "type": "graphflow.sampling.basic_scheduler",
            "inputs": {"scheduler": "simple", "steps": STEPS, "denoise": 1.0},
            "links": {"model": link("sampling", "result")},
        },
        "latent": {"type": "graphflow.latent.empty_sd3", "inputs": {"width": WIDTH, "height": HEIGHT}},
        "advanced": {
            "type": "graphflow.sampling.custom_advanced",
            "links": {
                "noise": link("noise", "noise"),
                "guider": link("guider", "guider"),
                "sampler": link("select", "sampler"),
                "sigmas": link("schedule", "sigmas"),
                "latent_image": link("latent", "latent"),
            },
        },
        "decode": {"type": "graphflow.vae.decode", "links": {"latent": link("advanced", "output"), "vae": vae}},
    }


def _flux_pieces_workflow() -> dict[str, dict[str, Any]]:
    """ComfyUI's Flux set-up: Load Diffusion Model, Dual CLIP Loader (flux), Load VAE, Encode Prompt (Flux)."""
    front = {
        "unet": {
            "type": "graphflow.loaders.diffusion_model",
            "inputs": {"unet_name": "tiny-flux1-dev.safetensors", "weight_dtype": "default"},
        },
        "clip": {
            "type": "graphflow.loaders.dual_clip",
            "inputs": {
                "clip_name1": "flux/clip_l.safetensors",
                "clip_name2": "flux/t5xxl.safetensors",
                "type": "flux",
            },
        },
        "vae": {"type": "graphflow.loaders.vae", "inputs": {"vae_name": "tiny-flux-ae.safetensors", "family": "flux"}},
        "positive": {
            "type": "graphflow.conditioning.encode_flux",
            "inputs": {"clip_l": FLUX_PROMPT, "t5xxl": FLUX_PROMPT, "guidance": FLUX_GUIDANCE},
            "links": {"clip": link("clip", "clip")},
        },
    }
    sampling = _model_sampling_flux(link("unet", "model"))
    return _flux_workflow(front, sampling, link("positive", "conditioning"), link("vae", "vae"))


def _flux_folder_workflow(variant: str) -> dict[str, dict[str, Any]]:
    """The diffusers folder through Load Checkpoint, Encode Prompt + Flux Guidance; dev's schedule shifted by
    Model Sampling Flux, schnell's by Model Sampling SD3 at its scheduler's shift 1 (left unshifted, as diffusers)."""
    front = {
        "checkpoint": {"type": "graphflow.loaders.checkpoint", "inputs": {"checkpoint": _folder(variant)}},
        "prompt": {
            "type": "graphflow.conditioning.encode",
            "inputs": {"text": FLUX_PROMPT},
            "links": {"clip": link("checkpoint", "clip")},
        },
        "guidance": {
            "type": "graphflow.conditioning.flux_guidance",
            "inputs": {"guidance": FLUX_GUIDANCE},
            "links": {"conditioning": link("prompt", "conditioning")},
        },
    }
    model = link("checkpoint", "model")
    if variant == "flux-schnell":
        sampling = {
            "type": "graphflow.sampling.model_sampling_sd3",
            "inputs": {"shift": 1.0},
            "links": {"model": model},
        }
    else:
        sampling = _model_sampling_flux(model)
    return _flux_workflow(front, sampling, link("guidance", "result"), link("checkpoint", "vae"))


# --- the tests ------------------------------------------------------------------------------------------------


def _assert_same_picture(ours: np.ndarray, expected: np.ndarray) -> None:
    assert ours.shape == expected.shape == (1, HEIGHT, WIDTH, 3)
    assert expected.std() > 1.0  # a picture, not a flat field that any two runs would agree on
    assert np.abs(ours - expected).max() <= MAX_PIXEL_DIFF


def test_diffusers_clip_tokenizers_here_give_graphflows_clip_ids() -> None:
    ours = clip_bpe_tokenizer()
    for pad_token, pad_id in (("<|endoftext|>", CLIP_EOS), ("!", 0)):
        theirs = _clip_tokenizer(pad_token)
        for text in (PROMPT, NEGATIVE, FLUX_PROMPT):
            ids = [CLIP_BOS, *ours.ids(text), CLIP_EOS]
            padded = ids + [pad_id] * (CLIP_MAX_LENGTH - len(ids))
            assert theirs(text, padding="max_length", max_length=CLIP_MAX_LENGTH).input_ids == padded


@pytest.mark.parametrize("variant", ["flux-dev", "flux-schnell"])
def test_the_shipped_flux_scheduler_shifts_over_the_lengths_model_sampling_flux_uses(
    variant: str, models_dir: Path
) -> None:
    config = json.loads(
        (models_dir / CHECKPOINTS / _folder(variant) / "scheduler" / "scheduler_config.json").read_text()
    )
    assert (config["base_image_seq_len"], config["max_image_seq_len"]) == (FLUX_BASE_TOKENS, FLUX_MAX_TOKENS)
    assert (config["base_shift"], config["max_shift"]) == (FLUX_BASE_SHIFT, FLUX_SHIFT)
    # dev shifts by the picture's size (Model Sampling Flux); schnell's schedule is shifted by `shift` alone
    assert config["use_dynamic_shifting"] is (variant == "flux-dev")
    assert variant == "flux-dev" or config["shift"] == 1.0


@pytest.mark.parametrize("variant", SD3_VARIANTS)
def test_sd3_workflow_from_the_single_file_and_the_folder_draws_the_sd3_pipelines_picture(
    variant: str, executor: Executor, models_dir: Path
) -> None:
    expected = _sd3_pipeline_pictures(models_dir / CHECKPOINTS / _folder(variant))
    for checkpoint in (_folder(variant), _single_file(variant)):
        _assert_same_picture(_decoded(executor, _sd3_workflow(checkpoint)), expected)


def test_flux_dev_workflow_from_comfyui_pieces_and_from_the_folder_draws_the_flux_pipelines_picture(
    executor: Executor, models_dir: Path
) -> None:
    expected = _flux_pipeline_pictures(models_dir / CHECKPOINTS / _folder("flux-dev"))
    _assert_same_picture(_decoded(executor, _flux_pieces_workflow()), expected)
    _assert_same_picture(_decoded(executor, _flux_folder_workflow("flux-dev")), expected)


def test_flux_schnell_workflow_from_the_folder_draws_the_flux_pipelines_picture(
    executor: Executor, models_dir: Path
) -> None:
    expected = _flux_pipeline_pictures(models_dir / CHECKPOINTS / _folder("flux-schnell"))
    _assert_same_picture(_decoded(executor, _flux_folder_workflow("flux-schnell")), expected)


def test_t5_files_encode_at_the_cpus_default_precision_as_the_diffusers_folder_does(auto_executor: Executor) -> None:
    """At precision auto on the CPU the text encoders are stored in fp16 and cast to fp32 layer by layer; T5's
    `wo`, which transformers keeps in fp32 (its caller casts the activations to that weight's dtype), is read in
    fp32 from files too, so an all-in-one file and a T5 file encode as the folder does (they failed before)."""
    pictures = [_decoded(auto_executor, _sd3_workflow(name)) for name in (_folder("sd3"), _single_file("sd3"))]
    assert np.array_equal(pictures[0], pictures[1])
    pieces, folder = _flux_pieces_workflow(), _flux_folder_workflow("flux-dev")
    result = run_graph(
        auto_executor,
        {**pieces, **{k: folder[k] for k in ("checkpoint", "prompt", "guidance")}},
        "positive",
        "guidance",
    )
    (from_files,), (from_folder,) = result.outputs["positive"]["conditioning"], result.outputs["guidance"]["result"]
    assert torch.equal(from_files.context, from_folder.context) and torch.equal(from_files.pooled, from_folder.pooled)
    assert from_files.extras["guidance"] == from_folder.extras["guidance"] == FLUX_GUIDANCE
