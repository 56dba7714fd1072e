"""Shared test setup: offline hub, one torch thread, fresh folders per test."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # the engine tests do not need torch
    pass


import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

COUNTING_PLUGIN = '''
"""Test nodes that count how often they run."""
from graphflow.api import FLOAT, INT, Context, Input, Output, hookimpl, node

RUNS: list[str] = []


@node("test.value", version="1.0.0", category="test")
class Value:
    """A number."""
    value = Input(FLOAT, default=0.0)
    result = Output(FLOAT)

    def run(self, ctx: Context, value: float) -> float:
        RUNS.append(ctx.node_id)
        return value


@node("test.add", version="1.0.0", category="test")
class Add:
    """Sum of two numbers."""
    a = Input(FLOAT, default=0.0)
    b = Input(FLOAT, default=0.0)
    result = Output(FLOAT)

    def run(self, ctx: Context, a: float, b: float) -> float:
        RUNS.append(ctx.node_id)
        return a + b


@node("test.sink", version="1.0.0", category="test", output=True)
class Sink:
    """Keeps a number as the run's result."""
    value = Input(FLOAT)

    def run(self, ctx: Context, value: float) -> None:
        RUNS.append(ctx.node_id)
        ctx.add_ui("values", value)


@node("test.negate", version="1.0.0", category="test")
class Negate:
    """Minus a number (its input has no default)."""
    value = Input(FLOAT)
    result = Output(FLOAT)

    def run(self, ctx: Context, value: float) -> float:
        RUNS.append(ctx.node_id)
        return -value


@node("test.noisy", version="1.0.0", category="test", cacheable=False)
class Noisy:
    """Not cacheable: always runs."""
    value = Input(FLOAT, default=0.0)
    result = Output(FLOAT)

    def run(self, ctx: Context, value: float) -> float:
        RUNS.append(ctx.node_id)
        return value


@node("test.fail", version="1.0.0", category="test")
class Fail:
    """Raises."""
    value = Input(FLOAT, default=0.0)
    result = Output(FLOAT)

    def run(self, ctx: Context, value: float) -> float:
        raise RuntimeError("boom")


@node("test.steps", version="1.0.0", category="test")
class Steps:
    """Reports progress and checks for cancellation at every step."""
    steps = Input(INT, default=3, min=1, max=1000)
    result = Output(FLOAT)

    def run(self, ctx: Context, steps: int) -> float:
        RUNS.append(ctx.node_id)
        for i in range(1, steps + 1):
            ctx.progress(i, steps)
        return float(steps)


@hookimpl
def register_nodes(register):
    for cls in (Value, Add, Sink, Negate, Noisy, Fail, Steps):
        register(cls)
'''


@pytest.fixture(autouse=True, scope="session")
def cpu_without_bf16_units() -> Iterator[None]:
    """Tests compute alike on every CPU: auto precision acts as on one without AMX (its bf16 VAE is tested alone).

    Session-wide, so that module-scoped fixtures loading models see it too."""
    try:
        import graphflow.models.precision as precision
    except ImportError:  # the engine tests run without torch
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(precision, "cpu_computes_bf16_fast", lambda: False)
        yield


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write plugin modules into a fresh local plugins folder; returns a writer(name, source)."""
    folder = tmp_path / "plugins"
    folder.mkdir()

    def write(name: str, source: str) -> Path:
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
        return folder

    return write


@pytest.fixture
def counting_plugins(plugin_dir):
    """Plugins with the built-ins plus the counting test nodes; `.runs` lists node ids as they run."""
    import sys

    from graphflow.plugins import build_plugins

    folder = plugin_dir("counting", COUNTING_PLUGIN)
    plugins = build_plugins(folder, entry_points=False)
    assert not plugins.registry.problems, plugins.registry.problems
    plugins.runs = sys.modules["graphflow_local_plugins.counting"].RUNS
    return plugins
