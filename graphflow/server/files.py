"""The server's files: the output, input and temp folders of its settings; uploaded images and masks.

Every route that reads or writes a file (graphflow's and ComfyUI's) goes through one `FileStore`, so
paths are confined the same way and images are checked the same way whatever the route.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from PIL import Image, UnidentifiedImageError

from graphflow.inputs import input_folders
from graphflow.server.errors import ApiError
from graphflow.server.paths import PathEscape, confine, create_free_file, relative_name, safe_filename
from graphflow.settings import Settings

MAX_LISTED = 5000
FileKind = Literal["output", "input", "temp"]
KINDS: tuple[FileKind, ...] = ("output", "input", "temp")


@dataclass(frozen=True)
class Upload:
    """An uploaded file as a client sent it: name, bytes, target subfolder, whether to replace."""

    filename: str
    data: bytes
    subfolder: str = ""
    overwrite: bool = False


@dataclass(frozen=True)
class FileRef:
    """Where a file lies: name, subfolder and kind (the `view` route's query)."""

    filename: str
    subfolder: str
    type: FileKind

    def to_dict(self) -> dict[str, str]:
        """graphflow's JSON for it."""
        return {"filename": self.filename, "subfolder": self.subfolder, "type": self.type}


def confined(root: Path, *parts: str) -> Path:
    """`confine`, with refusals turned into 403 responses."""
    try:
        return confine(root, *parts)
    except PathEscape as exc:
        raise ApiError("forbidden", str(exc)) from None


class FileStore:
    """Reads and writes the folders of one server's settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def folder(self, kind: str) -> Path:
        """The root folder of a file kind (`output`, `input`, `temp`)."""
        folders = {"output": self.settings.output_dir, "input": self.settings.input_dir, "temp": self.settings.temp_dir}
        if kind not in folders:
            raise ApiError("bad_request", f"file type {kind!r} is not one of: {', '.join(folders)}")
        return folders[kind]

    def path_of(self, kind: str, subfolder: str, filename: str) -> Path:
        """An existing file; input files are looked up in the input folder, then in the example inputs."""
        roots = input_folders(self.settings) if kind == "input" else (self.folder(kind),)
        for root in roots:
            path = confined(root, subfolder, filename)
            if path.is_file():
                return path
        raise ApiError("not_found", f"no file {filename!r} in the {kind} folder")

    def listing(self, kind: str) -> list[dict[str, Any]]:
        """The files of one folder, newest first."""
        root = self.folder(kind)
        files: list[dict[str, Any]] = []
        if not root.is_dir():
            return files
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                path = Path(dirpath) / name
                if name.startswith(".") or path.is_symlink():
                    continue
                stat = path.stat()
                subfolder = Path(relative_name(root, path)).parent.as_posix()
                files.append(
                    {
                        "filename": name,
                        "subfolder": "" if subfolder == "." else subfolder,
                        "size": stat.st_size,
                        "modified": stat.st_mtime,
                    }
                )
        files.sort(key=lambda f: f["modified"], reverse=True)
        return files[:MAX_LISTED]

    def check_target(self, upload: Upload) -> None:
        """Refuse a file name or subfolder that would leave the input folder, before anything is decoded."""
        try:
            safe_filename(upload.filename)
            confine(self.settings.input_dir.resolve(), upload.subfolder)
        except PathEscape as exc:
            raise ApiError("forbidden", str(exc)) from None

    def save_image(self, upload: Upload) -> FileRef:
        """Save an uploaded image, as sent, into the input folder."""
        self.open_image(upload.data).close()
        return self._write(upload, upload.filename, upload.data)

    def save_mask(self, upload: Upload) -> FileRef:
        """Save an uploaded image's alpha (or grey) channel as a PNG mask in the input folder."""
        with self.open_image(upload.data) as image:
            channel = image.getchannel("A") if "A" in image.getbands() else image.convert("L")
        stem = upload.filename.rsplit(".", 1)[0] if "." in upload.filename else upload.filename
        return self._write(upload, f"{stem}.png", _png(channel))

    def save_mask_onto(self, upload: Upload, original: FileRef) -> FileRef:
        """ComfyUI's mask upload: the painted image's alpha becomes the alpha of `original`, saved under the
        upload's name."""
        with self.open_image(upload.data) as painted:
            alpha = painted.getchannel("A") if "A" in painted.getbands() else painted.convert("L")
        source = self.path_of(original.type, original.subfolder, original.filename)
        with self.open_image(source.read_bytes()) as picture:
            merged = picture.convert("RGBA")
            merged.putalpha(alpha.resize(merged.size))
        return self._write(upload, upload.filename, _png(merged))

    def open_image(self, data: bytes) -> Image.Image:
        """A decoded image within the pixel limit, or a clear 413/415."""
        with _pillow_refusals():
            with self._sized(data) as probe:
                probe.verify()
            image = self._sized(data)
            image.load()
            return image

    def png_text(self, data: bytes, name: str) -> dict[str, str]:
        """The text chunks of an uploaded image (where a PNG carries its workflow), or a clear 413/415."""
        with _pillow_refusals(name), self._sized(data) as image:
            return dict(getattr(image, "text", {}) or {})

    def _sized(self, data: bytes) -> Image.Image:
        """The image opened (its header read) once its size is within the pixel limit; the one check every
        upload route goes through."""
        limit = self.settings.max_image_pixels
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > limit:
            image.close()
            raise ApiError("too_large", f"the image is {image.width}x{image.height}, above the {limit} pixel limit")
        return image

    def _write(self, upload: Upload, name: str, data: bytes) -> FileRef:
        self.check_target(upload)
        root = self.settings.input_dir
        folder = confined(root.resolve(), upload.subfolder)
        try:
            path = create_free_file(folder, name, data, upload.overwrite)
        except PathEscape as exc:
            raise ApiError("forbidden", str(exc)) from None
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            raise ApiError(
                "bad_request", f"cannot save {name!r} in subfolder {upload.subfolder!r}: a file is in the way"
            ) from None
        return FileRef(path.name, relative_name(root, folder) if upload.subfolder else "", "input")


@contextlib.contextmanager
def _pillow_refusals(name: str = "the upload") -> Iterator[None]:
    """Pillow's refusals as clear answers: too many pixels is 413, anything it cannot read 415."""
    try:
        yield
    except Image.DecompressionBombError as exc:
        raise ApiError("too_large", f"{name} has too many pixels ({exc})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ApiError("unsupported_media_type", f"{name} is not an image Pillow can read ({exc})") from None


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
