"""Files workers ship back, written by the server into its own output and temp folders.

A worker's results name files in the worker's folders; the server writes each into its folder under the
next free number and rewrites the references, remembering the mapping per worker (results served from a
worker's cache name files shipped earlier) and per prompt (a retried prompt rewrites the same files, so
its outputs exist once).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from graphflow.outputs import file_ref, reserve_output_path
from graphflow.server.workers.protocol import StagedFile
from graphflow.settings import Settings

_NUMBERED = re.compile(r"^(?P<stem>.+)_\d{5,}_(?P<suffix>.*)$")
Ref = tuple[str, str, str]


class OutputPublisher:
    """Writes shipped files and maps the worker's references to the server's."""

    def __init__(self, settings: Settings) -> None:
        self.roots = {"output": settings.output_dir, "temp": settings.temp_dir}
        self._by_worker: dict[str, dict[Ref, dict[str, str]]] = {}
        self._by_prompt: dict[str, dict[tuple[str, int], Path]] = {}

    def publish(self, worker: str, prompt_id: str, source: str, files: Iterable[StagedFile]) -> None:
        """Write the files one node (`source`) of a prompt produced on `worker`."""
        written = self._by_prompt.setdefault(prompt_id, {})
        mapping = self._by_worker.setdefault(worker, {})
        for index, staged in enumerate(files):
            root = self.roots[staged.kind]
            path = written.get((source, index)) or self._new_path(root, staged)
            path.write_bytes(staged.data)
            written[(source, index)] = path
            mapping[staged.ref] = file_ref(root, path, staged.kind)

    def rewrite(self, worker: str, value: Any) -> Any:
        """`value` with every reference to a file shipped by `worker` replaced by the server's."""
        mapping = self._by_worker.get(worker, {})
        if isinstance(value, dict):
            if isinstance(value.get("filename"), str) and isinstance(value.get("type"), str):
                ref = (value["type"], value.get("subfolder", ""), value["filename"])
                return {**value, **mapping[ref]} if ref in mapping else value
            return {key: self.rewrite(worker, item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.rewrite(worker, item) for item in value]
        return value

    def forget_prompt(self, prompt_id: str) -> None:
        """The prompt ended: it will not be retried."""
        self._by_prompt.pop(prompt_id, None)

    def forget_worker(self, worker: str) -> None:
        """The worker is gone, and its cache with it."""
        self._by_worker.pop(worker, None)

    @staticmethod
    def _new_path(root: Path, staged: StagedFile) -> Path:
        match = _NUMBERED.match(staged.filename)
        stem, suffix = (
            (match["stem"], match["suffix"]) if match else (Path(staged.filename).stem, Path(staged.filename).suffix)
        )
        prefix = f"{staged.subfolder}/{stem}" if staged.subfolder else stem
        return reserve_output_path(root, prefix, suffix)
