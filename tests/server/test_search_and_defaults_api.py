"""What the editor's search and first-picture defaults read from the server: ComfyUI names in the catalogue,
native sizes of checkpoints, and the loader's default (while ComfyUI's own defaults stay as published)."""

from __future__ import annotations

import json
import struct

from graphflow.models.builtin import builtin_models
from graphflow.models.native import native_size


def _schema(body: dict, type_id: str) -> dict:
    return next(n for n in body["nodes"] if n["type"] == type_id)


async def test_catalogue_names_the_comfyui_types_each_node_imports_from(client):
    body = await (await client.get("/api/nodes")).json()
    assert "CLIPTextEncode" in _schema(body, "graphflow.conditioning.encode")["comfy_names"]
    assert "KSampler" in _schema(body, "graphflow.sampling.sample")["comfy_names"]
    assert _schema(body, "test.slow")["comfy_names"] == []


async def test_a_new_checkpoint_loader_starts_on_the_shipped_text_to_image_model(client):
    body = await (await client.get("/api/nodes")).json()
    checkpoint = _schema(body, "graphflow.loaders.checkpoint")["inputs"][0]
    assert checkpoint["default"] == checkpoint["choices"][0] == "builtin:shapes-demo"
    assert checkpoint["choices"][1:3] == ["builtin:shapes-flow", "builtin:shapes-class"]  # text-to-image first
    info = (await (await client.get("/object_info/CheckpointLoaderSimple")).json())["CheckpointLoaderSimple"]
    assert info["input"]["required"]["ckpt_name"][0][0] == "builtin:shapes-demo"


async def test_comfyui_empty_latent_keeps_its_published_512_default(client):
    info = (await (await client.get("/object_info/EmptyLatentImage")).json())["EmptyLatentImage"]
    assert info["input"]["required"]["width"][1]["default"] == 512
    assert info["input"]["required"]["height"][1]["default"] == 512


async def test_checkpoint_list_tells_the_native_size_of_the_models_it_can_read(client, config):
    folder = config.settings.models_dir / "checkpoints"
    folder.mkdir(parents=True)
    (folder / "broken.safetensors").write_bytes(b"x")
    header = b'{"model.diffusion_model.label_emb.0.0.weight": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}}'
    (folder / "xl.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0\0")
    body = await (await client.get("/api/models/checkpoints")).json()
    assert body["native_sizes"]["builtin:shapes-demo"] == 64
    assert body["native_sizes"]["xl.safetensors"] == 1024
    assert "broken.safetensors" in body["files"] and "broken.safetensors" not in body["native_sizes"]


def test_native_size_of_a_single_file_follows_its_family_and_prediction(tmp_path):
    def file(keys: list[str], metadata: dict[str, str] | None = None):
        header = {k: {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]} for k in keys}
        if metadata:
            header["__metadata__"] = metadata
        data = json.dumps(header).encode()
        path = tmp_path / f"m{len(list(tmp_path.iterdir()))}.safetensors"
        path.write_bytes(struct.pack("<Q", len(data)) + data + b"\0\0")
        return path

    assert native_size(file(["cond_stage_model.transformer.x"])) == 512
    assert native_size(file(["cond_stage_model.model.x"], {"modelspec.prediction_type": "v"})) == 768
    assert native_size(file(["conditioner.embedders.1.model.x"])) == 1024
    assert native_size(file(["model.diffusion_model.joint_blocks.0.x"])) == 1024  # SD3
    assert native_size(file(["double_blocks.0.img_attn.qkv.weight"])) == 1024  # Flux


def test_native_size_of_a_flow_pipeline_folder_comes_from_its_transformer(tmp_path):
    assert native_size(builtin_models("checkpoints")["builtin:shapes-flow"]) == 64
    (tmp_path / "transformer").mkdir()
    (tmp_path / "vae").mkdir()
    (tmp_path / "transformer" / "config.json").write_text('{"_class_name": "FluxTransformer2DModel"}')
    (tmp_path / "vae" / "config.json").write_text('{"block_out_channels": [1, 2, 3, 4]}')
    assert native_size(tmp_path) == 1024
    assert native_size(tmp_path / "missing.safetensors") is None
