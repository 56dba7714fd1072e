"""Output files: numbered names that never overwrite, confined to the output folder."""

from __future__ import annotations

import os
import re
from pathlib import Path

_SAFE_PREFIX = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9_\-/ .]*$")


def reserve_output_path(output_dir: Path, prefix: str, suffix: str) -> Path:
    """Create and return a new empty file `<prefix>_00001<suffix>` (next free number) inside `output_dir`.

    The prefix may contain subfolders; anything escaping the output folder is refused.
    """
    if not prefix or not _SAFE_PREFIX.match(prefix) or ".." in Path(prefix).parts:
        raise ValueError(f"filename prefix {prefix!r} must be a relative name without '..'")
    root = output_dir.resolve()
    target_dir = (root / prefix).parent.resolve()
    if not target_dir.is_relative_to(root):
        raise ValueError(f"filename prefix {prefix!r} escapes the output folder")
    target_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(prefix).name
    pattern = re.compile(rf"^{re.escape(stem)}_(\d+)_?{re.escape(suffix)}$")
    numbers = [int(m.group(1)) for name in os.listdir(target_dir) if (m := pattern.match(name))]
    number = max(numbers, default=0) + 1
    while True:
        path = target_dir / f"{stem}_{number:05d}_{suffix}"
        try:
            with open(path, "x"):
                return path
        except FileExistsError:
            number += 1


def file_ref(root: Path, path: Path, kind: str = "output") -> dict[str, str]:
    """How a saved file is referred to in results and by the `view` route: name, subfolder, kind."""
    relative = path.resolve().relative_to(root.resolve())
    subfolder = relative.parent.as_posix()
    return {"filename": relative.name, "subfolder": "" if subfolder == "." else subfolder, "type": kind}
