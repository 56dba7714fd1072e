"""A normal (not editable) install works: the wheel carries the nodes, the editor and the example workflows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import urllib.request
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with graphflow installed from a freshly built wheel; its dependencies are this venv's."""
    root = tmp_path_factory.mktemp("install")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next((root / "dist").glob("graphflow-*.whl"))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True)
    python = root / "venv" / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # torch, diffusers and the rest come from this venv (installing them again would take minutes)
    Path(site, "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([*pip, "--python", str(python), "install", "--no-deps", str(wheel)], check=True, capture_output=True)
    return root


def _run(installed: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    return subprocess.run(
        [str(installed / "venv" / "bin" / "graphflow"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_wheel_holds_the_nodes_the_editor_the_examples_and_the_addons_and_no_setup_py(installed: Path):
    names = zipfile.ZipFile(next((installed / "dist").glob("*.whl"))).namelist()
    for wanted in (
        "graphflow/nodes/sampler.py",
        "graphflow/web/index.html",
        "graphflow/workflows/txt2img.json",
        "graphflow/workflows/inputs/shapes.png",
        "graphflow/workflows/comfyui/txt2img_api.json",
        "graphflow/demo/weights/shapes-demo/model_index.json",
        "graphflow/demo/weights/loras/shapes-magenta.safetensors",
        "graphflow/demo/weights/embeddings/shapes-sun.safetensors",
        "graphflow/demo/weights/controlnet/shapes-silhouette/config.json",
        "graphflow/control/configs/sd1/controlnet/config.json",
    ):
        assert wanted in names
    assert not any(n.startswith(("tests/", "graphflow_nodes/")) for n in names)
    assert not (ROOT / "setup.py").exists()


def test_the_installed_package_runs_an_example_from_outside_the_checkout(installed: Path, tmp_path: Path):
    where = subprocess.run(
        [str(installed / "venv" / "bin" / "python"), "-c", "import graphflow; print(graphflow.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert Path(where).is_relative_to(installed / "venv")
    done = _run(installed, "run", "img2img", "--set", "sampler.steps=2", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert Path(tmp_path, done.stdout.strip()).is_file() and done.stdout.strip().startswith("output/img2img_")


def test_the_installed_server_serves_the_editor_and_the_node_catalogue(installed: Path, tmp_path: Path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    server = subprocess.Popen(
        [str(installed / "venv" / "bin" / "graphflow"), "serve", "--port", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = server.stdout.readline()  # "graphflow: serving on http://127.0.0.1:PORT/"
        assert "serving on" in line, line
        url = line.split("serving on ", 1)[1].split()[0]
        with urllib.request.urlopen(url, timeout=30) as page:
            assert "graphflow" in page.read().decode() and page.status == 200
        with urllib.request.urlopen(url + "api/nodes", timeout=60) as answer:
            types = {n["type"] for n in json.load(answer)["nodes"]}
        assert {"graphflow.loaders.checkpoint", "graphflow.sampling.sample", "graphflow.image.save"} <= types
        with urllib.request.urlopen(url + "api/workflows", timeout=30) as answer:
            assert "txt2img.json" in {w["name"] for w in json.load(answer)["workflows"]}
    finally:
        server.terminate()
        server.wait(30)
