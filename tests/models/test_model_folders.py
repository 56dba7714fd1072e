"""Model folders as users keep them: symlinks, ComfyUI's extra_model_paths.yaml, A1111 installations, settings."""

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from graphflow.cache import ModelCache
from graphflow.models.extra_paths import ExtraModelPathsError
from graphflow.models.loader import load_checkpoint
from graphflow.models.paths import ModelNotFoundError, list_models, model_folders, resolve_model
from graphflow.settings import Settings


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_a_checkpoint_symlinked_from_another_disk_is_listed_and_loads(saved_tiny, tmp_path: Path) -> None:
    models = tmp_path / "models"
    (models / "checkpoints").mkdir(parents=True)
    (models / "checkpoints" / "linked.safetensors").symlink_to(saved_tiny["sd1"].checkpoint)
    assert list_models(models, "checkpoints") == ["linked.safetensors"]
    model, _, _ = load_checkpoint(resolve_model(models, "checkpoints", "linked.safetensors"), device="cpu")
    assert model.family == "sd1"


def test_an_extra_folder_from_a_comfyui_yaml_in_the_models_folder_is_listed_and_loads(
    saved_tiny, tmp_path: Path
) -> None:
    comfy = tmp_path / "ComfyUI"
    (comfy / "models" / "checkpoints").mkdir(parents=True)
    (comfy / "models" / "checkpoints" / "comfy.safetensors").write_bytes(saved_tiny["sd1"].checkpoint.read_bytes())
    _touch(comfy / "models" / "diffusion_models" / "flux.safetensors")
    _touch(tmp_path / "shared-loras" / "style.safetensors")
    _touch(tmp_path / "more-loras" / "detail.safetensors")
    models = tmp_path / "models"
    _touch(models / "loras" / "own.safetensors")
    (models / "extra_model_paths.yaml").write_text(
        "comfyui:\n"
        "    base_path: ../ComfyUI/\n"
        "    is_default: true\n"
        "    checkpoints: models/checkpoints/\n"
        "    diffusion_models: models/diffusion_models\n"
        "    custom_nodes: custom_nodes/\n"
        "elsewhere:\n"
        f"    base_path: {tmp_path}\n"
        "    loras: |\n"
        "        shared-loras\n"
        "        more-loras\n"
    )
    assert list_models(models, "checkpoints") == ["comfy.safetensors"]
    assert list_models(models, "unet") == ["flux.safetensors"]
    assert list_models(models, "loras") == ["detail.safetensors", "own.safetensors", "style.safetensors"]
    model, _, _ = load_checkpoint(resolve_model(models, "checkpoints", "comfy.safetensors"), device="cpu")
    assert model.family == "sd1"


def test_an_a1111_installation_given_in_the_settings_is_read_in_place(saved_tiny, tmp_path: Path) -> None:
    webui = tmp_path / "stable-diffusion-webui"
    (webui / "models" / "Stable-diffusion").mkdir(parents=True)
    (webui / "models" / "Stable-diffusion" / "sd15.safetensors").symlink_to(saved_tiny["sd1"].checkpoint)
    _touch(webui / "models" / "Lora" / "a.safetensors")
    _touch(webui / "models" / "LyCORIS" / "b.safetensors")
    _touch(webui / "models" / "VAE" / "v.pt")
    _touch(webui / "embeddings" / "e.pt")
    _touch(webui / "models" / "ControlNet" / "canny.pth")
    _touch(webui / "models" / "ESRGAN" / "4x.pth")
    settings = Settings(models_dir=tmp_path / "models", extra_model_paths=(webui,))
    root = settings.models_dir
    assert list_models(root, "checkpoints") == ["sd15.safetensors"]
    assert list_models(root, "loras") == ["a.safetensors", "b.safetensors"]
    assert [list_models(root, kind) for kind in ("vae", "embeddings", "controlnet", "upscale_models")] == [
        ["v.pt"],
        ["e.pt"],
        ["canny.pth"],
        ["4x.pth"],
    ]
    model, _, _ = load_checkpoint(
        resolve_model(root, "checkpoints", "sd15.safetensors"), device="cpu", cache=ModelCache()
    )
    assert model.family == "sd1"


def test_a_models_folder_without_extras_in_its_settings_reads_only_its_own(tmp_path: Path) -> None:
    other = tmp_path / "other"
    _touch(other / "checkpoints" / "there.safetensors")
    Settings(models_dir=tmp_path / "with", extra_model_paths=(other,))
    Settings(models_dir=tmp_path / "without")
    assert list_models(tmp_path / "with", "checkpoints") == ["there.safetensors"]
    assert list_models(tmp_path / "without", "checkpoints") == []


def test_a_worker_process_that_unpickles_the_settings_sees_the_extra_folders(tmp_path: Path) -> None:
    other = tmp_path / "other"
    _touch(other / "checkpoints" / "there.safetensors")
    settings = Settings(models_dir=tmp_path / "models", extra_model_paths=(other,))
    script = (
        "import pickle, sys\n"
        "from graphflow.models.paths import list_models\n"
        "settings = pickle.loads(sys.stdin.buffer.read())\n"
        "print(list_models(settings.models_dir, 'checkpoints'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], input=pickle.dumps(settings), capture_output=True, check=True
    ).stdout
    assert out.decode().strip() == "['there.safetensors']"


def test_a_missing_model_error_names_every_folder_searched_and_the_file(tmp_path: Path) -> None:
    other = tmp_path / "other"
    _touch(other / "checkpoints" / "there.safetensors")
    Settings(models_dir=tmp_path / "models", extra_model_paths=(other,))
    (tmp_path / "models" / "checkpoints").mkdir(parents=True)
    with pytest.raises(ModelNotFoundError) as error:
        resolve_model(tmp_path / "models", "checkpoints", "absent.safetensors")
    message = str(error.value)
    assert "absent.safetensors" in message and "there.safetensors" in message
    assert str((tmp_path / "models" / "checkpoints").resolve()) in message
    assert str((other / "checkpoints").resolve()) in message
    assert model_folders(tmp_path / "models", "checkpoints")[1] == other / "checkpoints"


def test_a_dangling_symlink_is_reported_with_where_it_points(tmp_path: Path) -> None:
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "gone.safetensors").symlink_to(tmp_path / "unplugged-disk" / "gone.safetensors")
    with pytest.raises(ModelNotFoundError, match="unplugged-disk"):
        resolve_model(tmp_path, "checkpoints", "gone.safetensors")


def test_a_symlink_loop_in_the_models_folder_is_listed_once(tmp_path: Path) -> None:
    _touch(tmp_path / "loras" / "sub" / "x.safetensors")
    (tmp_path / "loras" / "sub" / "again").symlink_to(tmp_path / "loras", target_is_directory=True)
    assert list_models(tmp_path, "loras") == ["sub/x.safetensors"]


@pytest.mark.parametrize(
    ("content", "complaint"),
    [("comfyui: [1, 2]\n", "is not a mapping"), ("a: {checkpoints: 3}\n", "one a line"), ("a: [\n", "cannot be read")],
)
def test_a_broken_extra_model_paths_file_is_an_error_naming_it(tmp_path: Path, content: str, complaint: str) -> None:
    path = tmp_path / "extra_model_paths.yaml"
    path.write_text(content)
    Settings(models_dir=tmp_path / "models", extra_model_paths=(path,))
    with pytest.raises(ExtraModelPathsError, match=complaint) as error:
        model_folders(tmp_path / "models", "checkpoints")
    assert str(path) in str(error.value)


def test_the_extra_model_paths_option_and_variable_reach_the_settings(tmp_path: Path) -> None:
    from graphflow.cli import _parser
    from graphflow.models.options import model_settings

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    args = _parser().parse_args(["validate", "w.json", "--extra-model-paths", str(a), "--extra-model-paths", str(b)])
    assert Settings.from_environment({}, **model_settings(args)).extra_model_paths == (a, b)
    environ = {"GRAPHFLOW_EXTRA_MODEL_PATHS": f"{a}:{b}"}
    assert Settings.from_environment(environ).extra_model_paths == (a, b)
    with pytest.raises(SystemExit):
        _parser().parse_args(["validate", "w.json", "--extra-model-paths", str(tmp_path / "none.yaml")])
