"""Two servers in one process, each with its own folders, never see each other's files."""

from __future__ import annotations

from pathlib import Path

from aiohttp import FormData
from PIL import Image

from graphflow.models.builtin import builtin_models
from graphflow.server import ServerConfig, create_app
from tests.running import settings_under
from tests.server.helpers import SERVER_PLUGIN, submit, wait_finished, workflow


def _server_config(root: Path, plugins: Path, name: str) -> ServerConfig:
    """A server whose input folder holds `<name>.png` and whose checkpoints folder holds `<name>.safetensors`."""
    settings = settings_under(root, temp_dir=root / "user" / "temp")
    settings.input_dir.mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(settings.input_dir / f"{name}.png")
    (settings.models_dir / "checkpoints").mkdir(parents=True)
    (settings.models_dir / "checkpoints" / f"{name}.safetensors").write_bytes(b"not read")
    return ServerConfig(settings=settings, user_dir=root / "user", plugins_dir=plugins, entry_points=False)


def _choices(catalogue: dict, node_type: str, input_name: str) -> list[str]:
    schema = next(n for n in catalogue["nodes"] if n["type"] == node_type)
    return next(i for i in schema["inputs"] if i["name"] == input_name)["choices"]


async def test_two_servers_in_one_process_keep_their_own_folders(aiohttp_client, tmp_path, plugin_dir):
    plugins = plugin_dir("servertest", SERVER_PLUGIN)
    configs = {name: _server_config(tmp_path / name, plugins, name) for name in ("alpha", "beta")}
    clients = {name: await aiohttp_client(create_app(config)) for name, config in configs.items()}

    for name, client in clients.items():
        other = "beta" if name == "alpha" else "alpha"
        catalogue = await (await client.get("/api/nodes")).json()
        images = _choices(catalogue, "graphflow.image.load", "image")
        checkpoints = _choices(catalogue, "graphflow.loaders.checkpoint", "checkpoint")
        assert f"{name}.png" in images and f"{other}.png" not in images
        assert f"{name}.safetensors" in checkpoints and f"{other}.safetensors" not in checkpoints
        files = await (await client.get("/api/models/checkpoints")).json()
        assert files["files"] == [*builtin_models("checkpoints"), f"{name}.safetensors"]

    form = FormData()
    form.add_field("image", (configs["alpha"].settings.input_dir / "alpha.png").read_bytes(), filename="up.png")
    assert (await clients["alpha"].post("/api/upload/image", data=form)).status == 200
    assert (configs["alpha"].settings.input_dir / "up.png").is_file()
    assert not (configs["beta"].settings.input_dir / "up.png").exists()
    assert (await clients["beta"].get("/api/view", params={"filename": "up.png", "type": "input"})).status == 404

    for name, client in clients.items():
        queued = await submit(client, workflow(label=name))
        assert (await wait_finished(client, queued["prompt_id"]))["status"] == "success"
    for name, config in configs.items():
        assert [p.name for p in config.settings.output_dir.iterdir()] == [f"{name}_00001_.png"]
