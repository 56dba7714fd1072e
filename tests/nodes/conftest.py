"""Tiny SD1/SD2/SDXL models on disk (both layouts), isolated folder settings, and helpers to run workflows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from graphflow.cache import ModelCache
from graphflow.executor import Executor
from graphflow.plugins import Plugins, build_plugins
from graphflow.runs import RunResult
from graphflow.settings import ENVIRONMENT, Settings
from graphflow.workflow import Workflow, parse_workflow
from tests.running import executor_for

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "graphflow" / "workflows"
FAMILIES = ("sd1", "sd2", "sdxl")
SIZE = 64
STEPS = 4


def checkpoint_name(family: str, layout: str) -> str:
    """The name of a tiny model in models/checkpoints: a .safetensors file ("file") or a diffusers folder."""
    return f"tiny-{family}.safetensors" if layout == "file" else f"tiny-{family}"


@pytest.fixture(scope="session")
def models_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder whose checkpoints/ holds each tiny family as a single file and as a diffusers folder."""
    import torch

    from graphflow.models.tiny import build_tiny, save_tiny_checkpoint, save_tiny_diffusers

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("models")
    for family in FAMILIES:
        models = build_tiny(family, seed=0)
        save_tiny_checkpoint(models, root / "checkpoints" / checkpoint_name(family, "file"))
        save_tiny_diffusers(models, root / "checkpoints" / checkpoint_name(family, "folder"))
    return root


@pytest.fixture
def models_dir(models_root: Path) -> Path:
    """The models root this test's executor and command line read (the tiny models unless overridden)."""
    return models_root


@pytest.fixture(autouse=True)
def folder_settings(monkeypatch: pytest.MonkeyPatch, models_dir: Path, tmp_path: Path) -> Path:
    """A fresh input folder, and the variables `graphflow run` reads at start-up pointing at it and at the
    models, for the tests that run the command line in this process. Returns the input folder."""
    inputs = tmp_path / "input"
    inputs.mkdir()
    monkeypatch.setenv(ENVIRONMENT["models_dir"], str(models_dir))
    monkeypatch.setenv(ENVIRONMENT["input_dir"], str(inputs))
    monkeypatch.setenv(ENVIRONMENT["device"], "auto")
    return inputs


@pytest.fixture(scope="session")
def shared_models() -> ModelCache:
    """One model cache for the whole session, so tests share loaded tiny models."""
    return ModelCache()


@pytest.fixture
def settings(executor: Executor) -> Settings:
    """The settings of this test's executor."""
    return executor.settings


@pytest.fixture(scope="session")
def plugins() -> Plugins:
    """The built-in nodes only."""
    return build_plugins(entry_points=False)


@pytest.fixture
def executor(
    plugins: Plugins, tmp_path: Path, folder_settings: Path, models_dir: Path, shared_models: ModelCache
) -> Executor:
    """An executor writing into this test's own output, temp and input folders, reading `models_dir`."""
    return executor_for(plugins, tmp_path, input_dir=folder_settings, models_dir=models_dir, models=shared_models)


@dataclass
class CliRun:
    """What one `graphflow ...` invocation returned and printed."""

    status: int
    stdout: str
    stderr: str

    @property
    def saved(self) -> list[Path]:
        """The files the run printed as saved."""
        return [Path(line) for line in self.stdout.splitlines() if line.strip()]


@pytest.fixture
def graphflow_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliRun]:
    """Run `graphflow ARGS...` in this process (the model cache then spans tests) and capture its output."""
    from graphflow.cli import main

    def run(*args: str | Path) -> CliRun:
        capsys.readouterr()
        status = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return CliRun(status, out, err)

    return run


def txt2img_args(
    family: str, checkpoint: str, output: Path, *, steps: int = STEPS, size: int = SIZE, seed: int = 42
) -> list[str]:
    """`graphflow run` arguments for a small txt2img run (SDXL through its own workflow and size hints)."""
    workflow = WORKFLOWS / ("txt2img_sdxl.json" if family == "sdxl" else "txt2img.json")
    sets = [
        f"checkpoint.checkpoint={checkpoint}",
        f"sampler.steps={steps}",
        f"sampler.seed={seed}",
        f"latent.width={size}",
        f"latent.height={size}",
    ]
    if family == "sdxl":
        sets += [
            f"{node}.{name}={size}"
            for node in ("prompt", "negative")
            for name in ("width", "height", "target_width", "target_height")
        ]
    return ["run", str(workflow), "--output", str(output), "--quiet", *(a for s in sets for a in ("--set", s))]


def read_pixels(path: Path) -> np.ndarray:
    """An image file's RGB pixels as uint8 [H, W, 3]."""
    with Image.open(path) as picture:
        return np.asarray(picture.convert("RGB"))


def graph(nodes: dict[str, dict[str, Any]]) -> Workflow:
    """A workflow from a nodes map written like the file format (links as {"node", "output"})."""
    return parse_workflow({"format": "graphflow.workflow", "version": 1, "nodes": nodes})


def link(node: str, output: str) -> dict[str, str]:
    """A link to `output` of `node`."""
    return {"node": node, "output": output}


def run_graph(executor: Executor, nodes: dict[str, dict[str, Any]], *targets: str, **options: Any) -> RunResult:
    """Run `nodes` up to `targets` (all output nodes if none) and fail with the node's error if it failed."""
    result = executor.run(graph(nodes), targets=list(targets) or None, **options)
    if result.status == "error":
        raise result.error
    return result
