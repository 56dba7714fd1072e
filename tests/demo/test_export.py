"""`python -m graphflow.demo.export` writes the shipped demo model as one self-describing .safetensors file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from graphflow.cache import ModelCache
from graphflow.demo import CLASS_MODEL_DIR, DEMO_MODEL_DIR
from graphflow.demo.export import main
from graphflow.models.detect import UninferableSettingsError
from graphflow.models.loader import load_checkpoint

PROMPT = "a small red circle on the left"


def _outputs(loaded) -> dict[str, torch.Tensor]:
    model, clip, vae = loaded
    generator = torch.Generator().manual_seed(0)
    latent = torch.randn(1, 4, 8, 8, generator=generator)
    context = clip.encode(PROMPT)[0].context
    with torch.no_grad():
        eps = model.unet(latent, torch.tensor([500]), encoder_hidden_states=context).sample
    return {"context": context, "unet": eps, "decoded": vae.decode(latent)}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("export") / "shapes-demo.safetensors"
    assert main([str(dest)]) == 0  # the shipped shapes-demo folder by default
    return dest


def test_the_single_file_loads_and_draws_exactly_what_the_shipped_folder_draws(exported: Path) -> None:
    from_file = load_checkpoint(exported, device="cpu", cache=ModelCache())
    from_folder = load_checkpoint(DEMO_MODEL_DIR, device="cpu", cache=ModelCache())
    assert from_file[0].sampling.prediction_type == from_folder[0].sampling.prediction_type == "v_prediction"
    assert from_file[1].parts[0].tokenizer.ids(PROMPT) == from_folder[1].parts[0].tokenizer.ids(PROMPT)
    ours, theirs = _outputs(from_file), _outputs(from_folder)
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], rtol=1e-5, atol=1e-5, msg=name)


def test_without_its_metadata_the_file_is_refused_with_what_to_do(exported: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare.safetensors"
    save_file(load_file(exported), str(bare))  # the weights alone: the demo's 16-channel VAE cannot be inferred
    with pytest.raises(UninferableSettingsError) as error:
        load_checkpoint(bare, device="cpu", cache=ModelCache())
    assert str(bare) in str(error.value) and "python -m graphflow.demo.export" in str(error.value)


def test_sources_it_cannot_export_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "x.safetensors"), "--source", str(tmp_path)]) == 2
    assert "neither an exported pipeline folder" in capsys.readouterr().err
    assert main([str(tmp_path / "x.safetensors"), "--source", str(CLASS_MODEL_DIR)]) == 2
    assert "class-conditional" in capsys.readouterr().err
    assert main([str(tmp_path / "folder"), "--source", str(DEMO_MODEL_DIR)]) == 2
    assert "already is a diffusers folder" in capsys.readouterr().err
