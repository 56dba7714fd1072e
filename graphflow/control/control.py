"""The Control a conditioning entry carries (a chain of applied ControlNets / T2I-Adapters) and how nodes attach it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor

from graphflow.sampling.conditioning import CondEntry, Conditioning
from graphflow.sampling.flow import FlowSampling
from graphflow.sampling.model import ModelSampling

from .model import ControlModel


@dataclass(frozen=True, eq=False)
class Control:
    """One ControlNet or T2I-Adapter applied to a conditioning, after the `previous` ones (whose outputs add up).

    `hint` is the picture it follows, [B, C, H, W] in 0..1 (channels first, as the model reads it); it is
    resized to the latent when sampling. The control is active while the sampling progress lies within
    [start_percent, end_percent] of the model's sigma range. `apply_to_uncond` (the older Apply ControlNet)
    also drives a negative side that has no control of its own.
    """

    model: ControlModel
    hint: Tensor
    strength: float = 1.0
    start_percent: float = 0.0
    end_percent: float = 1.0
    previous: Control | None = None
    apply_to_uncond: bool = False

    def __post_init__(self) -> None:
        if self.hint.ndim != 4:
            raise ValueError(f"a control hint must be [batch, channels, height, width], got {tuple(self.hint.shape)}")
        for name in ("start_percent", "end_percent"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in 0..1, got {value}")

    def chain(self) -> tuple[Control, ...]:
        """This control and the ones before it, oldest first."""
        chain: list[Control] = []
        link: Control | None = self
        while link is not None:
            chain.append(link)
            link = link.previous
        return tuple(reversed(chain))

    def sigma_window(self, sampling: ModelSampling | FlowSampling) -> tuple[float, float]:
        """(highest, lowest) sigma at which this control is active."""
        return sampling.percent_to_sigma(self.start_percent), sampling.percent_to_sigma(self.end_percent)


def image_to_hint(image: Tensor) -> Tensor:
    """An IMAGE [B, H, W, C] as a hint [B, C, H, W] (float32, CPU)."""
    if image.ndim != 4:
        raise ValueError(f"the hint image must be an IMAGE batch [B, H, W, C], got shape {tuple(image.shape)}")
    return image.detach().float().cpu().movedim(-1, 1).contiguous()


def apply_control(
    sides: Sequence[Conditioning],
    model: ControlModel,
    image: Tensor,
    strength: float,
    start_percent: float = 0.0,
    end_percent: float = 1.0,
    apply_to_uncond: bool = False,
) -> tuple[Conditioning, ...]:
    """Each conditioning of `sides` with `model` applied after whatever control its entries carry.

    Entries that carried the same control before get one shared new Control, so they share one model
    call while sampling. Strength 0 leaves the conditionings as they are (ComfyUI does the same).
    """
    if strength == 0:
        return tuple(sides)
    hint = image_to_hint(image)
    made: dict[int, Control] = {}

    def attach(entry: CondEntry) -> CondEntry:
        key = id(entry.control)
        if key not in made:
            made[key] = Control(
                model=model,
                hint=hint,
                strength=strength,
                start_percent=start_percent,
                end_percent=end_percent,
                previous=entry.control,
                apply_to_uncond=apply_to_uncond,
            )
        return entry.replace(control=made[key])

    return tuple(tuple(attach(entry) for entry in side) for side in sides)


def fill_uncond(positive: Conditioning, negative: Conditioning) -> Conditioning:
    """The negative side with the positive side's `apply_to_uncond` controls, when it has no control of its own.

    The older Apply ControlNet node changes only the positive prompt, yet ComfyUI drives the
    unconditioned prediction with the same control: negative entry i % n gets the i-th such control.
    """
    if not negative or any(entry.control is not None for entry in negative):
        return negative
    controls = [entry.control for entry in positive if entry.control is not None and entry.control.apply_to_uncond]
    if not controls:
        return negative
    filled = list(negative)
    for index, control in enumerate(controls):
        filled[index % len(filled)] = negative[index % len(negative)].replace(control=control)
    return tuple(filled)
