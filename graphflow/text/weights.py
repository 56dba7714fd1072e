"""Prompt weighting syntax: `(word:1.3)`, `(word)`, `((word))`, `[word]` and backslash escapes.

Semantics follow ComfyUI, plus A1111's square brackets:

- `(text)` multiplies the weight of `text` by 1.1; nesting multiplies again.
- `(text:1.3)` sets the weight of `text` to 1.3 (an absolute value, as in ComfyUI: the
  brackets around it do not multiply it; brackets inside it do).
- `[text]` divides the weight by 1.1 (A1111).
- `\\(`, `\\)`, `\\[`, `\\]` and `\\\\` stand for the literal character.
- Malformed input never raises: a closing bracket without its opener, and an opener that
  is never closed, are kept as literal text (complete groups inside it still count).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

UP = 1.1
"""The factor one pair of round brackets multiplies a weight by (square brackets divide)."""

_ESCAPABLE = frozenset("()[]\\")
_CLOSERS = {")": "(", "]": "["}
_EXPLICIT_WEIGHT = re.compile(r"^(?P<text>.*):\s*(?P<weight>[+-]?(?:\d+\.?\d*|\.\d+))\s*$", re.DOTALL)


@dataclass
class _Group:
    """A bracketed span while parsing: its opener, children and (for `(x:w)`) explicit weight."""

    opener: str
    children: list[str | _Group] = field(default_factory=list)
    closed: bool = False
    weight: float | None = None


def parse_weighted(text: str) -> list[tuple[str, float]]:
    """Split a prompt into (text, weight) segments; adjacent equal weights are merged, empty text dropped."""
    flat: list[tuple[str, float]] = []
    _flatten(_parse(text), 1.0, flat)
    merged: list[tuple[str, float]] = []
    for piece, weight in flat:
        if not piece:
            continue
        if merged and merged[-1][1] == weight:
            merged[-1] = (merged[-1][0] + piece, weight)
        else:
            merged.append((piece, weight))
    return merged


def _parse(text: str) -> list[str | _Group]:
    """Build the bracket tree; unmatched closers become text, unclosed groups stay open."""
    root = _Group(opener="")
    stack = [root]
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in _ESCAPABLE:
            _append_text(stack[-1], text[i + 1])
            i += 2
            continue
        if char in "([":
            group = _Group(opener=char)
            stack[-1].children.append(group)
            stack.append(group)
        elif char in _CLOSERS and len(stack) > 1 and stack[-1].opener == _CLOSERS[char]:
            _close(stack.pop())
        else:
            _append_text(stack[-1], char)
        i += 1
    return root.children


def _append_text(group: _Group, text: str) -> None:
    """Add literal text to a group, joining it to a preceding text child."""
    if group.children and isinstance(group.children[-1], str):
        group.children[-1] += text
    else:
        group.children.append(text)


def _close(group: _Group) -> None:
    """Mark a group closed and, for round brackets, take a trailing `:number` as its weight."""
    group.closed = True
    if group.opener != "(" or not group.children or not isinstance(group.children[-1], str):
        return
    match = _EXPLICIT_WEIGHT.match(group.children[-1])
    if match is None:
        return
    weight = float(match.group("weight"))
    has_content = bool(match.group("text")) or len(group.children) > 1
    if has_content and math.isfinite(weight):
        group.weight = weight
        group.children[-1] = match.group("text")


def _flatten(children: list[str | _Group], weight: float, out: list[tuple[str, float]]) -> None:
    """Walk the tree, appending (text, weight) pairs in order."""
    for child in children:
        if isinstance(child, str):
            out.append((child, weight))
        elif not child.closed:
            out.append((child.opener, weight))
            _flatten(child.children, weight, out)
        elif child.weight is not None:
            _flatten(child.children, child.weight, out)
        elif child.opener == "(":
            _flatten(child.children, weight * UP, out)
        else:
            _flatten(child.children, weight / UP, out)
