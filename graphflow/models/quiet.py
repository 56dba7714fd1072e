"""Silence the progress bars transformers and diffusers draw while they load weights."""

from __future__ import annotations


def hide_library_progress_bars() -> None:
    """Turn off the bars transformers and diffusers draw while they load weights."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
