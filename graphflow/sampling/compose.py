"""Composing the predictions of placed conditioning entries (areas, masks, timestep ranges, GLIGEN), as ComfyUI does.

Per step, each entry active at that sigma predicts on its crop of the latent; each side's predictions are
summed weighted by strength and per-cell weights, then divided by the summed weights (ComfyUI's
calc_cond_batch, out_cond / out_count). Entries whose crops have one shape share a UNet call where their
conditionings allow; an entry with GLIGEN boxes runs alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from graphflow.control.residuals import ControlRun
from graphflow.sampling.conditioning import CondEntry, Conditioning
from graphflow.sampling.model import DiffusionModel
from graphflow.sampling.regions import Region, clamp, crop, equal_areas, resolve, weights
from graphflow.sampling.unet_call import batchable, unet_x0

EMPTY_WEIGHT = 1e-37  # what ComfyUI starts each cell's summed weight at, so uncovered cells give 0


@dataclass(eq=False)
class _Job:
    """One entry of one side, placed on a latent of a given size."""

    side: int
    entry: CondEntry
    region: Region
    area: tuple[int, int, int, int] | None
    window: tuple[float, float]
    _weights: dict[tuple, Tensor] = field(default_factory=dict)

    def active(self, sigma: float) -> bool:
        """Whether the entry acts at `sigma` (within its start..end window)."""
        high, low = self.window
        return low <= sigma <= high

    def shape(self, x: Tensor) -> tuple[int, ...]:
        """The shape of the entry's crop of x."""
        return tuple(crop(x, self.area).shape)

    def weights(self, x: Tensor) -> Tensor:
        """The entry's per-cell weights on its crop of x (made once per latent shape)."""
        key = (tuple(x.shape), x.device, x.dtype)
        if key not in self._weights:
            self._weights[key] = weights(self.entry, self.region, x)
        return self._weights[key]


class Composer:
    """The composed x0 estimate of each side of the guidance (positive, then negative when guided)."""

    def __init__(self, model: DiffusionModel, sides: Sequence[Conditioning], controls: ControlRun | None) -> None:
        self.model = model
        self.sides = [tuple(side) for side in sides]
        self.controls = controls
        self._plans: dict[tuple[int, int], list[_Job]] = {}

    def _plan(self, height: int, width: int) -> list[_Job]:
        """Every entry placed on a latent of height x width cells, the areas mirrored across the sides."""
        key = (height, width)
        if key not in self._plans:
            placed = [[(entry, resolve(entry, height, width)) for entry in side] for side in self.sides]
            equal_areas(placed)
            sampling = self.model.sampling
            self._plans[key] = [
                _Job(
                    index,
                    entry,
                    region,
                    clamp(region.area, height, width),
                    (sampling.percent_to_sigma(entry.start_percent), sampling.percent_to_sigma(entry.end_percent)),
                )
                for index, side in enumerate(placed)
                for entry, region in side
            ]
        return self._plans[key]

    def __call__(self, x: Tensor, sigma: Tensor) -> list[Tensor]:
        """Each side's composed x0 estimate for the noisy latent x [B, C, H, W] at sigma [B]."""
        jobs = [job for job in self._plan(*x.shape[-2:]) if job.active(float(sigma[0]))]
        sums = [torch.zeros_like(x) for _ in self.sides]
        counts = [torch.full_like(x, EMPTY_WEIGHT) for _ in self.sides]
        for group in _groups(jobs, x):
            entries = [job.entry for job in group]
            inputs = [crop(x, job.area) for job in group]
            predictions = unet_x0(self.model, entries, inputs, sigma, self.controls, tuple(x.shape[-2:]))
            for job, prediction in zip(group, predictions.chunk(len(group)), strict=True):
                mult = job.weights(x)
                crop(sums[job.side], job.area).add_(prediction * mult)
                crop(counts[job.side], job.area).add_(mult)
        return [total / count for total, count in zip(sums, counts, strict=True)]


def _groups(jobs: list[_Job], x: Tensor) -> list[list[_Job]]:
    """Jobs in UNet calls: equal crop shapes with batchable conditionings together, GLIGEN entries alone."""
    remaining = list(jobs)
    groups: list[list[_Job]] = []
    while remaining:
        first = remaining.pop(0)
        group = [first]
        if first.entry.gligen is None:
            shape = first.shape(x)
            for job in list(remaining):
                if (
                    job.entry.gligen is None
                    and job.shape(x) == shape
                    and batchable([*(member.entry for member in group), job.entry])
                ):
                    group.append(job)
                    remaining.remove(job)
        groups.append(group)
    return groups
