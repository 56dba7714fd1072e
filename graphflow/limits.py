"""The limits a server owner sets on image sizes, batches and steps, and the sentences saying a value is over one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphflow.declaration import NodeSpec
from graphflow.settings import Settings

# Each counted budget: the setting that limits it, the server's command-line flag, how a value is said.
_COUNTS = {
    "batch": ("max_batch", "--max-batch", "a batch of {:,}"),
    "steps": ("max_steps", "--max-steps", "{:,} steps"),
}


def pixels_problem(settings: Settings, width: int, height: int) -> str | None:
    """Why an image, mask or latent of width x height image pixels is over the server's limit; None if it is not."""
    pixels, limit = width * height, settings.max_image_pixels
    if pixels <= limit:
        return None
    return _over(f"{width:,} x {height:,} = {pixels:,} pixels", limit, "max_image_pixels", "--max-pixels")


def check_pixels(settings: Settings, width: int, height: int) -> None:
    """Raise ValueError when width x height is over the server's pixel limit (for sizes known only at run time)."""
    problem = pixels_problem(settings, width, height)
    if problem is not None:
        raise ValueError(problem)


def over_limits(spec: NodeSpec, values: Mapping[str, Any], settings: Settings) -> list[tuple[str, str]]:
    """(input, sentence) for each of a node's budgeted values over the server's limits.

    Values not given (linked, so not known before the run) are not checked; a width or height of 0
    means "keep the aspect ratio", so the size is not known either.
    """
    problems: list[tuple[str, str]] = []
    sides: dict[str, tuple[str, int]] = {}
    for name, field in spec.inputs.items():
        value = values.get(name)
        if field.budget is None or not isinstance(value, int):
            continue
        if field.budget in _COUNTS:
            setting, flag, said = _COUNTS[field.budget]
            limit = getattr(settings, setting)
            if value > limit:
                problems.append((name, _over(said.format(value), limit, setting, flag)))
        elif value > 0:
            sides[field.budget] = (name, value)
    if len(sides) == 2:
        (name, width), (_, height) = sides["width"], sides["height"]
        problem = pixels_problem(settings, width, height)
        if problem is not None:
            problems.append((name, problem))
    return problems


def _over(what: str, limit: int, setting: str, flag: str) -> str:
    return f"{what} is over this server's limit of {limit:,} (setting {setting}, graphflow serve {flag})"
