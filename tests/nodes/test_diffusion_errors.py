"""Mistakes a user will make with the diffusion nodes end in one clear message naming the fault and the fix."""

from pathlib import Path

import pytest
import torch
from diffusers import AutoencoderKL
from PIL import Image
from safetensors.torch import save_file

from graphflow.executor import NodeExecutionError
from graphflow.models.convert import vae_to_ldm
from tests.nodes.conftest import WORKFLOWS, checkpoint_name, link, run_graph, txt2img_args

SD1 = checkpoint_name("sd1", "file")
WIDE_VAE = "wide-latent-vae.safetensors"


@pytest.fixture(scope="module")
def wide_vae(models_root: Path) -> str:
    """An original-layout VAE file in models/vae whose latents have 16 channels (SD1's have 4)."""
    torch.manual_seed(0)
    vae = AutoencoderKL(
        latent_channels=16,
        block_out_channels=[32, 32, 64, 64],
        layers_per_block=1,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
    )
    path = models_root / "vae" / WIDE_VAE
    path.parent.mkdir(exist_ok=True)
    save_file(vae_to_ldm(vae.state_dict(), vae.config), str(path))
    return WIDE_VAE


def _write_image(folder: Path, name: str, frames: int = 1, size: tuple[int, int] = (64, 64)) -> str:
    pictures = [Image.new("RGBA", size, (40 * k, 90, 200, 255)) for k in range(frames)]
    pictures[0].save(folder / name, save_all=frames > 1, append_images=pictures[1:])
    return name


def test_a_missing_checkpoint_is_named_with_the_models_that_are_there(graphflow_cli, tmp_path):
    run = graphflow_cli(*txt2img_args("sd1", "sd15-pruned.safetensors", tmp_path))
    assert run.status == 2
    assert "'sd15-pruned.safetensors' is not one of" in run.stderr
    assert f"'{SD1}'" in run.stderr and "'tiny-sdxl'" in run.stderr
    assert "node 'checkpoint', input 'checkpoint'" in run.stderr


def test_the_sdxl_prompt_node_refuses_an_sd1_text_encoder(graphflow_cli, tmp_path):
    run = graphflow_cli(*txt2img_args("sdxl", SD1, tmp_path))
    assert run.status == 1
    assert "node 'prompt' (graphflow.conditioning.encode_sdxl)" in run.stderr
    assert "needs an SDXL text encoder, but the CLIP input is sd1; use Encode Prompt instead" in run.stderr
    assert "Traceback" not in run.stderr


def test_asking_for_cuda_on_a_machine_without_it_says_so(graphflow_cli, tmp_path):
    assert not torch.cuda.is_available(), "this test describes a machine without CUDA"
    run = graphflow_cli(*txt2img_args("sd1", SD1, tmp_path), "--device", "cuda")
    assert run.status == 1
    assert "device 'cuda' was requested but no CUDA GPU is available" in run.stderr
    assert "choose 'auto' or 'cpu'" in run.stderr


def test_graphflow_device_cuda_in_the_environment_fails_the_same_way(graphflow_cli, monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHFLOW_DEVICE", "cuda")
    run = graphflow_cli(*txt2img_args("sd1", SD1, tmp_path))
    assert run.status == 1 and "device 'cuda' was requested" in run.stderr


def test_a_width_that_is_not_a_multiple_of_8_names_the_nearest_good_ones(graphflow_cli, tmp_path):
    run = graphflow_cli(*txt2img_args("sd1", SD1, tmp_path), "--set", "latent.width=60")
    assert run.status == 1
    assert "node 'latent' (graphflow.latent.empty)" in run.stderr
    assert "width 60 is not a multiple of 8; use 56 or 64" in run.stderr


def test_decoding_a_4_channel_latent_with_a_16_channel_vae_is_refused(executor, wide_vae):
    nodes = {
        "latent": {"type": "graphflow.latent.empty", "inputs": {"width": 64, "height": 64}},
        "vae": {"type": "graphflow.loaders.vae", "inputs": {"vae_name": wide_vae, "family": "sd3"}},
        "decode": {
            "type": "graphflow.vae.decode",
            "links": {"latent": link("latent", "latent"), "vae": link("vae", "vae")},
        },
    }
    expected = r"node 'decode'.*expects latents \[B, 16, h, w\], got shape \(1, 4, 8, 8\)"
    with pytest.raises(NodeExecutionError, match=expected):
        run_graph(executor, nodes, "decode")


def test_sampling_a_latent_from_another_vae_is_refused(executor, wide_vae, folder_settings):
    nodes = {
        "checkpoint": {"type": "graphflow.loaders.checkpoint", "inputs": {"checkpoint": SD1}},
        "text": {
            "type": "graphflow.conditioning.encode",
            "inputs": {"text": "a cat"},
            "links": {"clip": link("checkpoint", "clip")},
        },
        "image": {"type": "graphflow.image.load", "inputs": {"image": _write_image(folder_settings, "in.png")}},
        "vae": {"type": "graphflow.loaders.vae", "inputs": {"vae_name": wide_vae, "family": "sd3"}},
        "encode": {
            "type": "graphflow.vae.encode",
            "links": {"image": link("image", "pixels"), "vae": link("vae", "vae")},
        },
        "sampler": {
            "type": "graphflow.sampling.sample",
            "inputs": {"steps": 2},
            "links": {
                "model": link("checkpoint", "model"),
                "positive": link("text", "conditioning"),
                "negative": link("text", "conditioning"),
                "latent": link("encode", "latent"),
            },
        },
    }
    expected = "node 'sampler'.*the latent has 16 channels but this sd1 model works on 4"
    with pytest.raises(NodeExecutionError, match=expected):
        run_graph(executor, nodes, "sampler")


def test_a_noise_mask_batch_that_does_not_fit_the_latent_batch_is_refused(executor, folder_settings):
    two_frames = _write_image(folder_settings, "two.png", frames=2)
    nodes = {
        "image": {"type": "graphflow.image.load", "inputs": {"image": two_frames}},
        "latent": {"type": "graphflow.latent.empty", "inputs": {"width": 64, "height": 64, "batch_size": 3}},
        "masked": {
            "type": "graphflow.inpaint.set_noise_mask",
            "links": {"latent": link("latent", "latent"), "mask": link("image", "mask")},
        },
    }
    with pytest.raises(NodeExecutionError, match="noise mask has 2 items but the latent batch has 3"):
        run_graph(executor, nodes, "masked")


def test_a_mask_of_another_shape_than_the_latent_is_refused(executor, folder_settings):
    nodes = {
        "image": {
            "type": "graphflow.image.load",
            "inputs": {"image": _write_image(folder_settings, "wide.png", size=(128, 32))},
        },
        "latent": {"type": "graphflow.latent.empty", "inputs": {"width": 64, "height": 64}},
        "masked": {
            "type": "graphflow.inpaint.set_noise_mask",
            "links": {"latent": link("latent", "latent"), "mask": link("image", "mask")},
        },
    }
    with pytest.raises(NodeExecutionError, match="the mask is 128x32 but the latent is 8x8"):
        run_graph(executor, nodes, "masked")


def test_load_image_names_a_file_that_is_not_an_image(executor, folder_settings):
    (folder_settings / "broken.png").write_bytes(b"this is not a PNG")
    nodes = {"image": {"type": "graphflow.image.load", "inputs": {"image": "broken.png"}}}
    with pytest.raises(NodeExecutionError, match=r"node 'image'.*'broken\.png' is not a readable image"):
        run_graph(executor, nodes, "image")


def test_the_sdxl_workflow_has_no_problem_but_its_absent_default_checkpoint(graphflow_cli):
    run = graphflow_cli("validate", WORKFLOWS / "txt2img_sdxl.json")
    assert run.status == 2
    assert "txt2img_sdxl.json: 1 problem" in run.stderr
    assert "'sd_xl_base_1.0.safetensors' is not one of" in run.stderr
