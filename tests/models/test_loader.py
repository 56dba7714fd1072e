"""Loading tiny checkpoints from single files and diffusers folders, offline, with the shared cache."""

import os
import re
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from graphflow.cache import ModelCache
from graphflow.models.files import load_state_dict
from graphflow.models.loader import load_checkpoint, load_vae
from graphflow.models.vae import Vae
from graphflow.sampling.model import DiffusionModel
from graphflow.text.encoder import TextEncoder

PROMPT = "a photo of a cat"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection attempt during loading fails the test."""
    assert os.environ.get("HF_HUB_OFFLINE") == "1"

    def refuse(*args, **kwargs):
        raise AssertionError("loading tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def _outputs(model: DiffusionModel, clip: TextEncoder, vae: Vae) -> dict[str, torch.Tensor]:
    cond = clip.encode(PROMPT)[0]
    generator = torch.Generator().manual_seed(0)
    latent = torch.randn(1, 4, 8, 8, generator=generator)
    image = torch.rand(1, 64, 64, 3, generator=generator)
    extra = {}
    if model.family == "sdxl":
        extra = {
            "added_cond_kwargs": {"text_embeds": cond.pooled, "time_ids": torch.tensor([[64.0, 64, 0, 0, 64, 64]])}
        }
    with torch.no_grad():
        unet = model.unet(latent, torch.tensor([500]), encoder_hidden_states=cond.context, **extra).sample
    outputs = {"context": cond.context, "unet": unet, "decoded": vae.decode(latent), "encoded": vae.encode(image)}
    if cond.pooled is not None:
        outputs["pooled"] = cond.pooled
    return outputs


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
def test_single_file_and_diffusers_folder_give_the_same_outputs(saved_tiny, family: str) -> None:
    tiny = saved_tiny[family]
    from_file = load_checkpoint(tiny.checkpoint, device="cpu", cache=ModelCache())
    from_folder = load_checkpoint(tiny.folder, device="cpu", cache=ModelCache())
    for loaded in (from_file, from_folder):
        model, clip, vae = loaded
        assert (model.family, clip.family) == (family, family)
        assert model.sampling.prediction_type == tiny.models.prediction
        assert model.latent_format.scaling_factor == vae.scaling_factor == tiny.models.vae.config.scaling_factor
    a, b = _outputs(*from_file), _outputs(*from_folder)
    assert a.keys() == b.keys() and (family != "sdxl" or "pooled" in a)
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-5, msg=f"{family} {name} differs")
    # and both match the models that were saved
    with torch.no_grad():
        original = tiny.models.vae.decode(
            torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0)) / tiny.models.vae.config.scaling_factor
        ).sample
    torch.testing.assert_close(a["decoded"], ((original + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1))


def test_prediction_argument_overrides_the_file(saved_tiny) -> None:
    model, _, _ = load_checkpoint(
        saved_tiny["sd1"].checkpoint, device="cpu", prediction="v_prediction", cache=ModelCache()
    )
    assert model.sampling.prediction_type == "v_prediction"


def test_checkpoint_with_a_missing_weight_is_refused_naming_it(saved_tiny, tmp_path: Path) -> None:
    state = load_state_dict(saved_tiny["sd1"].checkpoint)
    dropped = "model.diffusion_model.input_blocks.1.0.in_layers.2.weight"
    del state[dropped]
    path = tmp_path / "broken.safetensors"
    save_file(state, str(path))
    with pytest.raises(
        ValueError, match=re.escape("missing weights, e.g. down_blocks.0.resnets.0.conv1.weight")
    ) as error:
        load_checkpoint(path, device="cpu", cache=ModelCache())
    assert "broken.safetensors: UNet" in str(error.value)


def test_checkpoint_without_vae_is_reported(saved_tiny, tmp_path: Path) -> None:
    state = {
        k: v for k, v in load_state_dict(saved_tiny["sd1"].checkpoint).items() if not k.startswith("first_stage_model.")
    }
    path = tmp_path / "novae.safetensors"
    save_file(state, str(path))
    with pytest.raises(ValueError, match="has no VAE weights"):
        load_checkpoint(path, device="cpu", cache=ModelCache())


def test_same_file_is_loaded_once_and_shared(saved_tiny) -> None:
    cache = ModelCache()
    first = load_checkpoint(saved_tiny["sd1"].checkpoint, device="cpu", cache=cache)
    second = load_checkpoint(saved_tiny["sd1"].checkpoint, device="cpu", cache=cache)
    assert first is second and (cache.hits, cache.misses) == (1, 1)


def test_changed_file_is_reloaded(saved_tiny, tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    shutil.copy(saved_tiny["sd1"].checkpoint, path)
    cache = ModelCache()
    first = load_checkpoint(path, device="cpu", cache=cache)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert load_checkpoint(path, device="cpu", cache=cache) is not first


def test_cache_evicts_least_recently_used_past_its_byte_budget(saved_tiny) -> None:
    probe = ModelCache()
    load_checkpoint(saved_tiny["sd1"].checkpoint, device="cpu", cache=probe)
    one_model = probe.total_bytes
    cache = ModelCache(max_bytes=int(one_model * 1.5))
    first = load_checkpoint(saved_tiny["sd1"].checkpoint, device="cpu", cache=cache)
    load_checkpoint(saved_tiny["sd1"].folder, device="cpu", cache=cache)
    assert len(cache) == 1 and cache.total_bytes <= cache.max_bytes
    assert load_checkpoint(saved_tiny["sd1"].checkpoint, device="cpu", cache=cache) is not first


def test_standalone_vae_file_and_vae_folder_decode_alike(saved_tiny, tmp_path: Path) -> None:
    tiny = saved_tiny["sd1"]
    prefix = "first_stage_model."
    vae_only = {k[len(prefix) :]: v for k, v in load_state_dict(tiny.checkpoint).items() if k.startswith(prefix)}
    path = tmp_path / "vae.safetensors"
    save_file(vae_only, str(path))
    latent = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    from_file = load_vae(path, device="cpu", cache=ModelCache()).decode(latent)
    from_folder = load_vae(tiny.folder, device="cpu", cache=ModelCache()).decode(latent)
    torch.testing.assert_close(from_file, from_folder)


def test_missing_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.safetensors", device="cpu")


def test_diffusers_folder_with_its_own_tokenizer_uses_it(saved_tiny, tmp_path: Path) -> None:
    from graphflow.demo.tokenizer import build_tokenizer  # the demo model's word-level CLIP tokenizer

    folder = tmp_path / "worded"
    shutil.copytree(saved_tiny["sd1"].folder, folder)
    words = build_tokenizer(["red", "circle", "left"])
    words.save_pretrained(folder / "tokenizer")
    _, clip, _ = load_checkpoint(folder, device="cpu", cache=ModelCache())
    expected = words("red circle", add_special_tokens=False)["input_ids"]
    assert clip.parts[0].tokenizer.ids("red circle") == expected and len(expected) == 2


def _narrow_vae() -> Any:
    """A VAE of 16 channels per level in 8 normalisation groups, as the demo model's is."""
    from diffusers import AutoencoderKL

    from graphflow.models.detect import family_config

    torch.manual_seed(3)
    config = {**family_config("sd1", "vae"), "block_out_channels": [16, 16, 32, 32], "norm_num_groups": 8}
    return AutoencoderKL(**config).eval()


def _single_file(saved_tiny, vae: Any, path: Path, metadata: dict[str, str] | None = None) -> Path:
    """The tiny SD1 UNet and text encoder with `vae`, as one original-layout file."""
    from graphflow.models.convert import ldm_checkpoint

    models = saved_tiny["sd1"].models
    save_file(ldm_checkpoint("sd1", models.unet, vae, models.text_models, v_prediction=False), str(path), metadata)
    return path


def _public(config: Any) -> dict[str, Any]:
    return {k: v for k, v in config.items() if not k.startswith("_")}


def test_a_checkpoint_whose_settings_its_weights_do_not_tell_is_refused_naming_the_file_and_the_way_out(
    saved_tiny, tmp_path: Path
) -> None:
    from graphflow.models.detect import UninferableSettingsError

    path = _single_file(saved_tiny, _narrow_vae(), tmp_path / "narrow-vae.safetensors")
    with pytest.raises(UninferableSettingsError) as error:
        load_checkpoint(path, device="cpu", cache=ModelCache())
    message = str(error.value)
    assert message.startswith(f"{path}: the VAE's settings cannot be inferred from its weights")
    assert "(16, 16, 32, 32)" in message and "norm_num_groups" in message
    assert "diffusers folder" in message and "'graphflow.configs'" in message and "graphflow.demo.export" in message
    assert "must be divisible" not in message  # not diffusers' raw construction error


def test_the_same_checkpoint_carrying_its_configs_in_its_metadata_loads(saved_tiny, tmp_path: Path) -> None:
    from graphflow.models.embedded import embed

    vae = _narrow_vae()
    configs = {"vae": _public(vae.config), "unet": _public(saved_tiny["sd1"].models.unet.config)}
    path = _single_file(saved_tiny, vae, tmp_path / "described.safetensors", embed(configs))
    _, _, loaded = load_checkpoint(path, device="cpu", cache=ModelCache())
    latent = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = ((vae.decode(latent / vae.config.scaling_factor).sample + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1)
    torch.testing.assert_close(loaded.decode(latent), expected)


def test_settings_in_metadata_that_do_not_fit_the_weights_are_reported_as_such(saved_tiny, tmp_path: Path) -> None:
    from graphflow.models.detect import UninferableSettingsError
    from graphflow.models.embedded import embed

    vae = _narrow_vae()
    wrong = _public(saved_tiny["sd1"].models.unet.config) | {"block_out_channels": [64, 128]}
    path = _single_file(
        saved_tiny, vae, tmp_path / "wrong.safetensors", embed({"unet": wrong, "vae": _public(vae.config)})
    )
    with pytest.raises(UninferableSettingsError, match=re.escape(f"{path}: the UNet settings in its metadata")):
        load_checkpoint(path, device="cpu", cache=ModelCache())
