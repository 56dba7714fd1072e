"""ESRGAN's RRDBNet (ESRGAN, BSRGAN, Real-ESRGAN x4plus/x2plus) and the key layouts its weights come in.

Canonical names are BasicSR's (`conv_first`, `body.N.rdbK.convJ`, `conv_body`, `conv_hr`, `conv_last`)
with the upsampling convolutions as `ups.N`. Three layouts are read:
- "real-esrgan": BasicSR / Real-ESRGAN (`conv_up1`, `conv_up2`);
- "esrgan-trunk": the original ESRGAN and BSRGAN releases (`RRDB_trunk.N.RDBk`, `trunk_conv`, `upconvN`, `HRconv`);
- "esrgan-sequential": old ESRGAN files as one `model.N` sequence (`model.1.sub.N.RDBk.convJ.0`).
"""

from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .spec import NotAnUpscaleModelError, UpscaleSpec

StateDict = dict[str, Tensor]
_SLOPE = 0.2  # leaky ReLU slope throughout ESRGAN
_RESIDUAL = 0.2  # residual scaling of dense blocks and RRDBs


class DenseBlock(nn.Module):
    """Five densely connected 3x3 convolutions with a scaled residual."""

    def __init__(self, features: int, growth: int) -> None:
        super().__init__()
        for i in range(5):
            setattr(self, f"conv{i + 1}", nn.Conv2d(features + i * growth, growth if i < 4 else features, 3, padding=1))

    def forward(self, x: Tensor) -> Tensor:
        """x + 0.2 * the block's output."""
        found = [x]
        for i in range(1, 5):
            found.append(F.leaky_relu(getattr(self, f"conv{i}")(torch.cat(found, 1)), _SLOPE))
        return x + _RESIDUAL * self.conv5(torch.cat(found, 1))


class RRDB(nn.Module):
    """Residual-in-residual dense block: three dense blocks inside a scaled residual."""

    def __init__(self, features: int, growth: int) -> None:
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = (DenseBlock(features, growth) for _ in range(3))

    def forward(self, x: Tensor) -> Tensor:
        """x + 0.2 * the three blocks' output."""
        return x + _RESIDUAL * self.rdb3(self.rdb2(self.rdb1(x)))


class RRDBNet(nn.Module):
    """RRDB trunk, x2 nearest upsampling stages, optional input pixel-unshuffle for x2/x1 models."""

    def __init__(self, spec: UpscaleSpec) -> None:
        super().__init__()
        self.scale, self.unshuffle = spec.scale, spec.unshuffle
        features = spec.features
        self.conv_first = nn.Conv2d(spec.in_channels * spec.unshuffle**2, features, 3, padding=1)
        self.body = nn.Sequential(*(RRDB(features, spec.growth) for _ in range(spec.blocks)))
        self.conv_body = nn.Conv2d(features, features, 3, padding=1)
        self.ups = nn.ModuleList(nn.Conv2d(features, features, 3, padding=1) for _ in range(spec.upsamples))
        self.conv_hr = nn.Conv2d(features, features, 3, padding=1)
        self.conv_last = nn.Conv2d(features, spec.out_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        """[B, C, H, W] -> [B, C', H * scale, W * scale]; sizes the unshuffle cannot divide are padded, then cut."""
        height, width = x.shape[-2:]
        if self.unshuffle > 1:
            x = F.pad(x, (0, -width % self.unshuffle, 0, -height % self.unshuffle), mode="replicate")
            x = F.pixel_unshuffle(x, self.unshuffle)
        features = self.conv_first(x)
        features = features + self.conv_body(self.body(features))
        for conv in self.ups:
            features = F.leaky_relu(conv(F.interpolate(features, scale_factor=2.0, mode="nearest")), _SLOPE)
        out = self.conv_last(F.leaky_relu(self.conv_hr(features), _SLOPE))
        return out[..., : height * self.scale, : width * self.scale]


def _rename(state: StateDict, rules: list[tuple[str, str]]) -> StateDict:
    renamed = {}
    for key, value in state.items():
        for pattern, replacement in rules:
            key = re.sub(pattern, replacement, key)
        renamed[key] = value
    return renamed


def _numbered_ups(state: StateDict, pattern: str) -> StateDict:
    """Rename 1-based upsampling convs matched by `pattern` (group 1 the number) to `ups.N-1`."""
    return {re.sub(pattern, lambda m: f"ups.{int(m[1]) - 1}.", key): value for key, value in state.items()}


def _from_trunk(state: StateDict) -> StateDict:
    state = _rename(
        state,
        [
            (r"^RRDB_trunk\.(\d+)\.RDB(\d)\.", r"body.\1.rdb\2."),
            (r"^trunk_conv\.", "conv_body."),
            (r"^HRconv\.", "conv_hr."),
        ],
    )
    return _numbered_ups(state, r"^upconv(\d+)\.")


def _from_sequential(state: StateDict) -> StateDict:
    indices = [int(m[1]) for key in state if (m := re.match(r"^model\.(\d+)\.weight$", key))]
    last = max(indices)
    upsamples, rest = divmod(last - 4, 3)  # model.0 conv, model.1 trunk, then 3 per stage, HR conv, act, last conv
    if rest or upsamples < 0:
        raise NotAnUpscaleModelError(f"ESRGAN-style 'model.N' keys end at model.{last}, which fits no ESRGAN layout")
    names = {0: "conv_first", 3 * upsamples + 2: "conv_hr", last: "conv_last"}
    names.update({3 * (i + 1): f"ups.{i}" for i in range(upsamples)})
    renamed = {}
    for key, value in state.items():
        if m := re.match(r"^model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)$", key):
            key = f"body.{m[1]}.rdb{m[2]}.conv{m[3]}.{m[4]}"
        elif m := re.match(r"^model\.1\.sub\.\d+\.(weight|bias)$", key):
            key = f"conv_body.{m[1]}"
        elif (m := re.match(r"^model\.(\d+)\.(weight|bias)$", key)) and int(m[1]) in names:
            key = f"{names[int(m[1])]}.{m[2]}"
        renamed[key] = value
    return renamed


LAYOUTS = {
    "real-esrgan": "body.0.rdb1.conv1.weight",
    "esrgan-trunk": "RRDB_trunk.0.RDB1.conv1.weight",
    "esrgan-sequential": "model.1.sub.0.RDB1.conv1.0.weight",
}
_CONVERTERS = {
    "real-esrgan": lambda state: _numbered_ups(state, r"^conv_up(\d+)\."),
    "esrgan-trunk": _from_trunk,
    "esrgan-sequential": _from_sequential,
}


def layout_of(state: StateDict) -> str | None:
    """Which RRDBNet key layout `state` uses, or None when it is not an RRDBNet."""
    return next((name for name, marker in LAYOUTS.items() if marker in state), None)


def read(state: StateDict, layout: str) -> tuple[UpscaleSpec, StateDict]:
    """The spec of an RRDBNet state dict in `layout` and its weights under canonical names."""
    canonical = _CONVERTERS[layout](state)
    in_total, features = canonical["conv_first.weight"].shape[1], canonical["conv_first.weight"].shape[0]
    out_channels = canonical["conv_last.weight"].shape[0]
    ratio = in_total // out_channels
    unshuffle = math.isqrt(ratio) if in_total % out_channels == 0 and ratio in (4, 16) else 1
    upsamples = len({key.split(".")[1] for key in canonical if key.startswith("ups.")})
    if (2**upsamples) % unshuffle:
        raise NotAnUpscaleModelError(
            f"RRDBNet with {upsamples} x2 upsampling stages and a /{unshuffle} pixel-unshuffle has no whole scale"
        )
    spec = UpscaleSpec(
        arch="esrgan",
        layout=layout,
        scale=2**upsamples // unshuffle,
        in_channels=in_total // unshuffle**2,
        out_channels=out_channels,
        features=features,
        blocks=len({key.split(".")[1] for key in canonical if key.startswith("body.")}),
        growth=canonical["body.0.rdb1.conv1.weight"].shape[0],
        unshuffle=unshuffle,
    )
    return spec, canonical
