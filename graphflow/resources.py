"""Folders shipped inside the package (the editor, the example workflows and their inputs), found through
`importlib.resources`, so an installed wheel has them as well as a checkout."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

EXAMPLE_SUFFIX = ".json"


class ExampleNotFoundError(FileNotFoundError):
    """A name that is neither a file nor a shipped example workflow; the message lists the examples."""


def package_folder(name: str) -> Path:
    """A data folder inside the installed `graphflow` package, as a real path on disk."""
    folder = resources.files("graphflow").joinpath(name)
    if not isinstance(folder, Path):  # e.g. imported from a zip file: the server needs real files to serve
        raise RuntimeError(
            f"graphflow's {name!r} folder is not on disk ({folder}); install graphflow as a normal package"
        )
    return folder


def web_folder() -> Path:
    """The editor's static files."""
    return package_folder("web")


def examples_folder() -> Path:
    """The example workflows (graphflow's own, and ComfyUI files under comfyui/)."""
    return package_folder("workflows")


def example_inputs_folder() -> Path:
    """The pictures the example workflows load; Load Image falls back to them after the input folder."""
    return examples_folder() / "inputs"


def list_examples() -> list[str]:
    """Names of the example workflows, relative to the examples folder (e.g. 'txt2img.json')."""
    root = examples_folder()
    return sorted(p.relative_to(root).as_posix() for p in root.rglob(f"*{EXAMPLE_SUFFIX}"))


def example_workflow(name: str) -> Path:
    """The path of example `name` ('txt2img', 'txt2img.json' or 'comfyui/txt2img_api.json')."""
    wanted = name if name.endswith(EXAMPLE_SUFFIX) else name + EXAMPLE_SUFFIX
    if wanted in list_examples():
        return examples_folder() / wanted
    shown = ", ".join(n.removesuffix(EXAMPLE_SUFFIX) for n in list_examples())
    raise ExampleNotFoundError(f"{name}: no such file, and no example workflow of that name (examples: {shown})")
