"""ComfyScript (PyPI `comfy-script`, client mode, unmodified) runs its README's positional text-to-image example
against graphflow's server and gets the picture."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("comfy_script") is None, reason="needs `pip install 'comfy-script[client]'`"
)

# The README's example, with a checkpoint graphflow offers, a small latent and few steps; then the picture is
# fetched through the SaveImage result, as ComfyScript's docs show. It runs in its own process: ComfyScript
# patches asyncio (nest_asyncio) for the whole interpreter.
SCRIPT = """
import json, sys
from comfy_script.runtime import *
load(sys.argv[1])
from comfy_script.runtime.nodes import *

with Workflow():
    model, clip, vae = CheckpointLoaderSimple('builtin:shapes-demo')
    conditioning = CLIPTextEncode('beautiful scenery nature glass bottle landscape, , purple galaxy bottle,', clip)
    conditioning2 = CLIPTextEncode('text, watermark', clip)
    latent = EmptyLatentImage(64, 64, 1)
    latent = KSampler(model, 156680208700286, 4, 8, 'euler', 'normal', conditioning, conditioning2, latent, 1)
    image = VAEDecode(latent, vae)
    saved = SaveImage(image, 'ComfyUI')

pictures = saved.wait().wait()  # the SaveImage result, then its images fetched through /view
print(json.dumps([[p.format, *p.size] for p in pictures]))
"""


async def test_comfyscripts_readme_example_draws_a_picture_on_graphflow(client, tmp_path: Path, config):
    script = tmp_path / "readme_example.py"
    script.write_text(SCRIPT)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        str(client.make_url("/")),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=300)
    assert process.returncode == 0, err.decode()[-3000:]
    assert json.loads(out.decode().strip().splitlines()[-1]) == [["PNG", 64, 64]]
    assert [p.name for p in config.settings.output_dir.glob("ComfyUI_*.png")] == ["ComfyUI_00001_.png"]
