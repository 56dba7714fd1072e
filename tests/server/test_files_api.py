"""File routes: view, list, image and mask uploads with their limits."""

from __future__ import annotations

import io
from dataclasses import replace

import aiohttp
from PIL import Image, PngImagePlugin

from graphflow.server import create_app


def png(mode: str = "RGB", size: tuple[int, int] = (8, 6), colour=(10, 20, 30)) -> bytes:
    """Encoded PNG bytes of a plain image."""
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def form(data: bytes, filename: str = "cat.png", **fields: str) -> aiohttp.FormData:
    """A multipart form with the file under 'image' and extra text fields."""
    body = aiohttp.FormData()
    for name, value in fields.items():
        body.add_field(name, value)
    body.add_field("image", data, filename=filename, content_type="application/octet-stream")
    return body


async def test_image_upload_lands_in_input_and_never_overwrites_unless_asked(client, config):
    first = await (await client.post("/api/upload/image", data=form(png()))).json()
    assert first == {"filename": "cat.png", "subfolder": "", "type": "input", "name": "cat.png"}  # name: ComfyUI's
    second = await (await client.post("/api/upload/image", data=form(png(colour=(1, 1, 1))))).json()
    assert second["filename"] == "cat_1.png"
    replaced = await (await client.post("/api/upload/image", data=form(png(size=(3, 3)), overwrite="true"))).json()
    assert replaced["filename"] == "cat.png"
    with Image.open(config.settings.input_dir / "cat.png") as image:
        assert image.size == (3, 3)
    nested = await (await client.post("/api/upload/image", data=form(png(), subfolder="pets/cats"))).json()
    assert nested == {"filename": "cat.png", "subfolder": "pets/cats", "type": "input", "name": "cat.png"}
    view = await client.get("/api/view", params={"filename": "cat.png", "subfolder": "pets/cats", "type": "input"})
    assert view.status == 200 and await view.read() == png()


async def test_mask_upload_keeps_the_alpha_channel_or_the_grey_level(client, config):
    rgba = await (
        await client.post("/api/upload/mask", data=form(png("RGBA", colour=(255, 0, 0, 77)), filename="m.webp"))
    ).json()
    assert rgba["filename"] == "m.png"
    with Image.open(config.settings.input_dir / "m.png") as mask:
        assert mask.mode == "L" and mask.getpixel((0, 0)) == 77
    grey = await (
        await client.post("/api/upload/mask", data=form(png(colour=(200, 200, 200)), filename="g.png"))
    ).json()
    with Image.open(config.settings.input_dir / grey["filename"]) as mask:
        assert mask.mode == "L" and mask.getpixel((0, 0)) == 200


async def test_non_images_are_refused_and_nothing_is_written(client, config):
    for data in (b"#!/bin/sh\nrm -rf /\n", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, b"GIF89a-not-really"):
        response = await client.post("/api/upload/image", data=form(data, filename="evil.png"))
        assert response.status == 415 and (await response.json())["error"] == "unsupported_media_type"
    assert list(config.settings.input_dir.iterdir()) == []
    missing = await client.post("/api/upload/image", data=aiohttp.FormData({"subfolder": "x"}))
    assert missing.status == 400


async def test_uploads_over_the_size_limit_are_refused(aiohttp_client, config):
    small = await aiohttp_client(create_app(replace(config, max_upload_bytes=1000)))
    response = await small.post("/api/upload/image", data=form(png(size=(300, 300), colour=None) + b"\x00" * 2000))
    assert response.status == 413 and (await response.json())["error"] == "too_large"
    huge = await aiohttp_client(create_app(replace(config, settings=config.settings.replace(max_image_pixels=100))))
    response = await huge.post("/api/upload/image", data=form(png(size=(20, 20))))
    assert response.status == 413


async def test_view_serves_files_with_a_sandbox_policy_and_404s_missing_ones(client, config):
    (config.settings.output_dir / "page.html").write_text("<script>alert(1)</script>")
    response = await client.get("/api/view", params={"filename": "page.html"})
    assert response.status == 200 and "sandbox" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    (config.settings.temp_dir / "t.txt").write_text("temp")
    assert await (await client.get("/api/view", params={"filename": "t.txt", "type": "temp"})).text() == "temp"
    assert (await client.get("/api/view", params={"filename": "nope.png"})).status == 404
    assert (await client.get("/api/view", params={"filename": "x", "type": "secrets"})).status == 400
    assert (await client.get("/api/view")).status == 400


async def test_file_lists_show_names_and_subfolders(client, config):
    (config.settings.output_dir / "a").mkdir()
    (config.settings.output_dir / "a" / "one.png").write_bytes(png())
    (config.settings.output_dir / "two.png").write_bytes(png())
    listing = await (await client.get("/api/files/output")).json()
    assert listing["type"] == "output"
    assert sorted((f["subfolder"], f["filename"]) for f in listing["files"]) == [("", "two.png"), ("a", "one.png")]
    assert (await client.get("/api/files/elsewhere")).status == 400


async def test_the_workflow_inside_a_png_can_be_extracted(client):
    info = PngImagePlugin.PngInfo()
    info.add_text("graphflow.workflow", '{"format": "graphflow.workflow", "version": 1, "nodes": {}}')
    buffer = io.BytesIO()
    Image.new("RGB", (2, 2)).save(buffer, format="PNG", pnginfo=info)
    body = aiohttp.FormData()
    body.add_field("file", buffer.getvalue(), filename="w.png")
    extracted = await (await client.post("/api/workflows/extract", data=body)).json()
    assert extracted["format"] == "graphflow.workflow" and extracted["nodes"] == {}
    plain = aiohttp.FormData()
    plain.add_field("file", png(), filename="p.png")
    assert (await client.post("/api/workflows/extract", data=plain)).status == 422


async def test_the_example_inputs_are_served_after_the_input_folder(client, config):
    shipped = await client.get("/api/view", params={"filename": "shapes.png", "type": "input"})
    assert shipped.status == 200 and (await shipped.read()).startswith(b"\x89PNG")
    config.settings.input_dir.mkdir(parents=True, exist_ok=True)
    (config.settings.input_dir / "shapes.png").write_bytes(png())
    mine = await client.get("/api/view", params={"filename": "shapes.png", "type": "input"})
    assert await mine.read() == png()
