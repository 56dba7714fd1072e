"""The layout tells the truth: the engine modules import no diffusion code, directly or lazily."""

import ast
from pathlib import Path

import graphflow

PACKAGE = Path(graphflow.__file__).resolve().parent
# The application entry point (`cli.py`) glues engine and diffusion together, as the server does.
ENGINE = sorted(p for p in PACKAGE.glob("*.py") if p.name != "cli.py")
HEAVY = {"torch", "diffusers", "transformers", "safetensors", "accelerate", "numpy", "scipy", "torchsde"}
DIFFUSION = {
    "graphflow.models",
    "graphflow.sampling",
    "graphflow.text",
    "graphflow.upscale",
    "graphflow.demo",
    "graphflow.imaging",
    "graphflow.nodes",
    "graphflow.server",
    "graphflow.interop",
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for item in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(item, ast.Import):
            names |= {alias.name for alias in item.names}
        elif isinstance(item, ast.ImportFrom) and item.module and not item.level:
            names.add(item.module)
            names |= {f"{item.module}.{alias.name}" for alias in item.names}
    return names


def test_the_engine_modules_are_the_ones_the_architecture_names():
    assert {p.stem for p in ENGINE} >= {
        "api",
        "declaration",
        "types",
        "context",
        "settings",
        "runs",
        "hookspecs",
        "plugins",
        "registry",
        "workflow",
        "graph",
        "executor",
        "cache",
    }


def test_no_engine_module_imports_torch_or_other_numeric_libraries_anywhere():
    offenders = {p.name: sorted(n for n in _imports(p) if n.split(".")[0] in HEAVY) for p in ENGINE}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_no_engine_module_imports_the_diffusion_server_or_interop_layers():
    offenders = {
        p.name: sorted(n for n in _imports(p) if any(n == d or n.startswith(d + ".") for d in DIFFUSION))
        for p in ENGINE
    }
    assert {name: found for name, found in offenders.items() if found} == {}
