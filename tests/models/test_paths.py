"""Model folder layout: listing, resolving, refusing names that leave the folder."""

from pathlib import Path

import pytest

from graphflow.models.paths import ModelNotFoundError, UnsafeModelPathError, list_models, resolve_model


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")


def test_list_models_gives_sorted_relative_names_of_model_files_only(tmp_path: Path) -> None:
    for name in ("b.safetensors", "a.ckpt", "sub/c.pt", "notes.txt", "d.json"):
        _touch(tmp_path / "checkpoints" / name)
    _touch(tmp_path / "checkpoints" / "pipe" / "model_index.json")
    assert list_models(tmp_path, "checkpoints") == ["a.ckpt", "b.safetensors", "pipe", "sub/c.pt"]


def test_a_model_resolves_inside_its_kinds_folder(tmp_path: Path) -> None:
    _touch(tmp_path / "vae" / "v.safetensors")
    assert list_models(tmp_path, "vae") == ["v.safetensors"]
    assert resolve_model(tmp_path, "vae", "v.safetensors") == tmp_path / "vae" / "v.safetensors"


def test_missing_model_error_lists_what_is_there(tmp_path: Path) -> None:
    _touch(tmp_path / "checkpoints" / "present.safetensors")
    with pytest.raises(ModelNotFoundError) as error:
        resolve_model(tmp_path, "checkpoints", "absent.safetensors")
    assert "absent.safetensors" in str(error.value) and "present.safetensors" in str(error.value)


@pytest.mark.parametrize("name", ["../secret.safetensors", "/etc/passwd", "sub/../../x.ckpt"])
def test_names_escaping_the_folder_are_refused(tmp_path: Path, name: str) -> None:
    _touch(tmp_path / "secret.safetensors")
    with pytest.raises(UnsafeModelPathError):
        resolve_model(tmp_path, "checkpoints", name)


def test_a_symlink_inside_the_models_folder_is_followed_wherever_it_points(tmp_path: Path) -> None:
    _touch(tmp_path / "other-disk" / "outside.safetensors")
    _touch(tmp_path / "other-disk" / "shelf" / "deep.safetensors")
    (tmp_path / "models" / "loras").mkdir(parents=True)
    (tmp_path / "models" / "loras" / "link.safetensors").symlink_to(tmp_path / "other-disk" / "outside.safetensors")
    (tmp_path / "models" / "loras" / "shelf").symlink_to(tmp_path / "other-disk" / "shelf", target_is_directory=True)
    assert list_models(tmp_path / "models", "loras") == ["link.safetensors", "shelf/deep.safetensors"]
    resolved = resolve_model(tmp_path / "models", "loras", "shelf/deep.safetensors")
    assert resolved.resolve() == (tmp_path / "other-disk" / "shelf" / "deep.safetensors").resolve()


def test_unknown_kind_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown model kind 'weights'"):
        list_models(tmp_path, "weights")
