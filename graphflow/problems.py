"""The one record every check reports (kind, node, input, message), short text of any value, and summaries."""

from __future__ import annotations

import reprlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SUMMARY_LIMIT = 20
LINE_LIMIT = 1000  # room for a list of choices and the folder they come from


@dataclass(frozen=True)
class ValidationIssue:
    """One problem found before running: where (node, input), what kind, and a sentence."""

    node_id: str | None
    input: str | None
    kind: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape the editor and the API report."""
        return {"node_id": self.node_id, "input": self.input, "kind": self.kind, "message": self.message}

    def __str__(self) -> str:
        where = f"node {shown(self.node_id)}" if self.node_id is not None else "workflow"
        if self.input is not None:
            where += f", input {shown(self.input)}"
        return f"{where}: {self.message} [{self.kind}]"


class _ShortRepr(reprlib.Repr):
    """reprlib's bounded repr, which also survives integers too long for Python to print."""

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() <= 128:
            return repr(x)
        digits = int(x.bit_length() * 0.30103) + 1  # log10(2): digits of the number, give or take one
        return f"<{'-' if x < 0 else ''}integer of about {digits:,} digits>"


_REPR = _ShortRepr()
_REPR.maxlevel = 3
_REPR.maxstring = 60
_REPR.maxother = 60


def shown(value: Any, limit: int = 60) -> str:
    """A repr of any value short enough for a message: nesting, lengths and huge integers are cut."""
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def clipped(text: str, limit: int = LINE_LIMIT) -> str:
    """`text` cut to `limit` characters."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def summarise(issues: Sequence[ValidationIssue], limit: int = SUMMARY_LIMIT) -> list[str]:
    """One line per issue for at most `limit` issues, shared out among their kinds, then per kind
    "and K more of this kind"; every line is at most LINE_LIMIT characters."""
    by_kind: dict[str, list[ValidationIssue]] = {}
    for issue in issues:
        by_kind.setdefault(issue.kind, []).append(issue)
    quota = max(1, limit // max(1, len(by_kind)))
    lines: list[str] = []
    for kind, found in by_kind.items():
        lines += [clipped(str(issue)) for issue in found[:quota]]
        if len(found) > quota:
            lines.append(f"and {len(found) - quota:,} more of this kind [{clipped(kind, 40)}]")
    return lines
