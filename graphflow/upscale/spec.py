"""What detection reads from an upscale model's weights, and the error for files that are not one."""

from __future__ import annotations

from dataclasses import dataclass

ARCH_TITLES = {"esrgan": "ESRGAN/RRDBNet", "compact": "Real-ESRGAN compact"}


class NotAnUpscaleModelError(ValueError):
    """A weight file that is not a supported super-resolution network."""


@dataclass(frozen=True)
class UpscaleSpec:
    """Architecture and sizes of an upscale network, as read from its state dict."""

    arch: str  # "esrgan" (RRDBNet) | "compact" (Real-ESRGAN SRVGGNetCompact)
    layout: str  # which naming of the weights the file used
    scale: int
    in_channels: int
    out_channels: int
    features: int
    blocks: int  # RRDB blocks, or the compact net's hidden convolutions
    growth: int = 0  # RRDBNet dense-block growth channels
    unshuffle: int = 1  # RRDBNet pixel-unshuffle of the input (Real-ESRGAN x2plus: 2, x1: 4)

    @property
    def title(self) -> str:
        """Architecture and scale for people, e.g. 'ESRGAN/RRDBNet x4'."""
        return f"{ARCH_TITLES[self.arch]} x{self.scale}"

    @property
    def upsamples(self) -> int:
        """RRDBNet's x2 nearest-neighbour upsampling stages."""
        return (self.scale * self.unshuffle).bit_length() - 1
