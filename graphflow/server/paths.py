"""The one path-confinement helper every file route goes through."""

from __future__ import annotations

import os
from pathlib import Path


class PathEscape(ValueError):
    """A requested name is malformed or resolves (symlinks included) outside its root folder."""


def confine(root: Path, *parts: str) -> Path:
    """`root/part/...` as a real path, refusing '..', absolute parts, backslashes, NUL and symlinks leading out."""
    for part in parts:
        if not isinstance(part, str):
            raise PathEscape("path parts must be text")
        if "\x00" in part or "\\" in part:
            raise PathEscape(f"{part!r}: backslashes and NUL are not allowed in names")
        if part.startswith("/") or (len(part) > 1 and part[0].isalpha() and part[1] == ":"):
            raise PathEscape(f"{part!r}: absolute paths are not allowed")
        if ".." in part.split("/"):
            raise PathEscape(f"{part!r}: '..' is not allowed in names")
    real_root = Path(os.path.realpath(root))
    candidate = Path(os.path.realpath(real_root.joinpath(*[p for p in parts if p])))
    if candidate != real_root and not candidate.is_relative_to(real_root):
        raise PathEscape("the requested path is outside its folder")
    return candidate


def relative_name(root: Path, path: Path) -> str:
    """`path` relative to the real `root`, posix style."""
    return Path(os.path.realpath(path)).relative_to(os.path.realpath(root)).as_posix()


def safe_filename(name: str) -> str:
    """`name` if it is a plain file name (no folders, not hidden, no NUL/backslash), else PathEscape."""
    if not name or name in (".", "..") or name.startswith(".") or any(c in name for c in "/\\\x00"):
        raise PathEscape(f"{name!r} is not a plain file name")
    return name


def create_free_file(folder: Path, name: str, data: bytes, overwrite: bool) -> Path:
    """Write `data` as `folder/name`, or as `stem_N.ext` (first free N) when it exists and not `overwrite`."""
    folder.mkdir(parents=True, exist_ok=True)
    stem, dot, ext = name.rpartition(".") if "." in name else (name, "", "")
    candidate, number = folder / name, 0
    while True:
        candidate = confine(folder, candidate.name)  # an existing symlink must not lead the write outside
        try:
            with open(candidate, "wb" if overwrite else "xb") as handle:
                handle.write(data)
            return candidate
        except FileExistsError:
            number += 1
            candidate = folder / f"{stem}_{number}{dot}{ext}"
