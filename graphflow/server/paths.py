"""The one path-confinement helper every file route goes through."""

from __future__ import annotations

import os
from pathlib import Path

MAX_NAME_BYTES = 255  # the longest file name common file systems take
MAX_PATH_BYTES = 1024  # far below any system's path limit, whatever the root folder


class PathEscape(ValueError):
    """A requested name is malformed or resolves (symlinks included) outside its root folder."""


def _check_text(part: str) -> None:
    """Refuse what no file system call takes: NUL, backslashes, overlong names or paths, text that is not."""
    if "\x00" in part or "\\" in part:
        raise PathEscape(f"{part!r}: backslashes and NUL are not allowed in names")
    try:
        encoded = part.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise PathEscape(f"{part!r}: names must be text") from None
    if len(encoded) > MAX_PATH_BYTES or any(len(name) > MAX_NAME_BYTES for name in encoded.split(b"/")):
        raise PathEscape(
            f"{part[:60]!r}...: names over {MAX_NAME_BYTES} bytes and paths over {MAX_PATH_BYTES} are not allowed"
        )


def confine(root: Path, *parts: str) -> Path:
    """`root/part/...` as a real path, refusing '..', absolute parts, backslashes, NUL, overlong names and symlinks
    leading out."""
    for part in parts:
        if not isinstance(part, str):
            raise PathEscape("path parts must be text")
        _check_text(part)
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
    if not name or name in (".", "..") or name.startswith(".") or "/" in name:
        raise PathEscape(f"{name!r} is not a plain file name")
    _check_text(name)
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
