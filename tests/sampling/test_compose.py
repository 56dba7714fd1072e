"""Area, mask and timestep-range conditioning: predictions composed per cell as ComfyUI's calc_cond_batch does."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from graphflow.control.control import Control
from graphflow.control.model import ControlModel
from graphflow.control.tiny import controlnet_from_unet
from graphflow.sampling.conditioning import Area, CondEntry
from graphflow.sampling.denoiser import cfg_denoiser
from graphflow.sampling.model import DiffusionModel
from graphflow.sampling.unet_call import unet_x0
from tests.sampling.helpers import text
from tests.sampling.test_denoiser import UnetCalls

SIGMA = torch.tensor([2.0, 2.0])


def _x(height: int = 8, width: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.randn(2, 4, height, width, generator=torch.Generator().manual_seed(seed)) * 2


def comfy_side(model: DiffusionModel, entries: list[CondEntry], x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """ComfyUI's composition written out entry by entry (get_area_and_mult, then out_cond / out_count)."""
    out = torch.zeros_like(x)
    count = torch.ones_like(x) * 1e-37
    height, width = x.shape[2], x.shape[3]
    for entry in entries:
        area = None
        if entry.area is not None:
            area = list(entry.area.cells(height, width))
        mask = None
        if entry.mask is not None:
            mask = F.interpolate(entry.mask.unsqueeze(1), size=(height, width), mode="bilinear").squeeze(1)
        if area is not None:
            area[0] = min(height - area[2], area[0])
            area[1] = min(width - area[3], area[1])
            input_x = x[:, :, area[2] : area[2] + area[0], area[3] : area[3] + area[1]]
        else:
            input_x = x
        if mask is not None:
            if area is not None:
                mask = mask[:, area[2] : area[2] + area[0], area[3] : area[3] + area[1]]
            mask = mask * entry.mask_strength
            mask = mask.unsqueeze(1).repeat(input_x.shape[0] // mask.shape[0], input_x.shape[1], 1, 1)
        else:
            mask = torch.ones_like(input_x)
        mult = mask * entry.strength
        if entry.mask is None and area is not None:
            for i, full in ((0, height), (1, width)):
                rr = min(8, mult.shape[2 + i] // 4)
                if area[2 + i] != 0:
                    for t in range(rr):
                        mult.narrow(i + 2, t, 1).mul_((1.0 / rr) * (t + 1))
                if area[i] + area[2 + i] < full:
                    for t in range(rr):
                        mult.narrow(i + 2, area[i] - 1 - t, 1).mul_((1.0 / rr) * (t + 1))
        prediction = unet_x0(model, [entry], [input_x], sigma, latent_size=(height, width))
        if area is None:
            out += prediction * mult
            count += mult
        else:
            out[:, :, area[2] : area[2] + area[0], area[3] : area[3] + area[1]] += prediction * mult
            count[:, :, area[2] : area[2] + area[0], area[3] : area[3] + area[1]] += mult
    return out / count


def test_two_areas_each_predict_on_their_own_half(model: DiffusionModel) -> None:
    x = _x()
    left, right = text(1, area=Area(8, 8, 0, 0)), text(2, area=Area(8, 8, 0, 8))
    composed = cfg_denoiser(model, (left, right), (), 1.0)(x, SIGMA)
    alone_left = unet_x0(model, [left], [x[..., :8]], SIGMA, latent_size=(8, 16))
    alone_right = unet_x0(model, [right], [x[..., 8:]], SIGMA, latent_size=(8, 16))
    assert torch.allclose(composed[..., :8], alone_left, atol=1e-5)
    assert torch.allclose(composed[..., 8:], alone_right, atol=1e-5)


def test_areas_masks_and_strengths_compose_as_comfyui_does(model: DiffusionModel) -> None:
    x = _x()
    mask = torch.zeros(1, 32, 64)
    mask[:, 8:30, 20:50] = 0.75
    entries = (
        text(1, strength=0.5),
        text(2, area=Area(6, 10, 1, 2), strength=2.0),
        text(3, area=Area(0.5, 0.5, 0.5, 0.25, relative=True)),
        text(4, mask=mask, mask_strength=1.5),
        text(5, area=Area(8, 8, 0, 12)),  # runs past the right edge: cut to fit
    )
    composed = cfg_denoiser(model, entries, (), 1.0)(x, SIGMA)
    assert torch.allclose(composed, comfy_side(model, list(entries), x, SIGMA), atol=1e-5)


def test_guidance_composes_each_side_and_mirrors_areas_onto_the_negative(model: DiffusionModel) -> None:
    x = _x()
    base, region, negative = text(1), text(2, area=Area(8, 8, 0, 8)), text(3)
    mirrored = negative.replace(area=region.area)  # the negative's text on the positive's area
    with UnetCalls(model) as record:
        guided = cfg_denoiser(model, (base, region), (negative,), 5.0)(x, SIGMA)
    cond = comfy_side(model, [base, region], x, SIGMA)
    uncond = comfy_side(model, [negative, mirrored], x, SIGMA)
    assert torch.allclose(guided, uncond + 5.0 * (cond - uncond), atol=1e-4)
    shapes = sorted(tuple(call["sample"].shape) for call in record.calls)
    assert shapes == [(4, 4, 8, 8), (4, 4, 8, 16)]  # whole-latent entries batched, the two area crops batched


def test_equal_area_crops_share_one_unet_call(model: DiffusionModel) -> None:
    x = _x()
    entries = (text(1, area=Area(8, 8, 0, 0)), text(2, area=Area(8, 8, 0, 8)))
    with UnetCalls(model) as record:
        cfg_denoiser(model, entries, (), 1.0)(x, SIGMA)
    assert [tuple(call["sample"].shape) for call in record.calls] == [(4, 4, 8, 8)]


def test_an_entry_outside_its_timestep_range_is_skipped(model: DiffusionModel) -> None:
    x, early, late = _x(), text(1), text(2, start_percent=0.5)
    switch = model.sampling.percent_to_sigma(0.5)
    high, low = torch.full((2,), switch * 1.5), torch.full((2,), switch / 1.5)
    both = cfg_denoiser(model, (early, late), (), 1.0)
    assert torch.allclose(both(x, high), cfg_denoiser(model, (early,), (), 1.0)(x, high), atol=1e-5)
    assert torch.allclose(both(x, low), comfy_side(model, [early, late], x, low), atol=1e-5)


def test_a_side_with_no_active_entry_predicts_zero(model: DiffusionModel) -> None:
    x, late = _x(), text(1, start_percent=0.9)
    high = torch.full((2,), model.sampling.percent_to_sigma(0.9) * 2)
    assert torch.equal(cfg_denoiser(model, (late,), (), 1.0)(x, high), torch.zeros_like(x))


def test_mask_bounds_make_the_area_the_masks_box_at_least_eight_cells(model: DiffusionModel) -> None:
    x = _x(height=16, width=16)
    mask = torch.zeros(1, 16, 16)
    mask[:, 2:5, 9:12] = 1.0
    entry = text(1, mask=mask, mask_bounds=True)
    with UnetCalls(model) as record:
        composed = cfg_denoiser(model, (entry,), (), 1.0)(x, SIGMA)
    assert [tuple(call["sample"].shape) for call in record.calls] == [(2, 4, 8, 7)]  # 8 x 8 at (2, 9), cut to fit
    box = text(1, area=Area(8, 7, 2, 9), mask=mask)
    assert torch.allclose(composed, comfy_side(model, [box], x, SIGMA), atol=1e-5)


def test_an_area_controlnet_runs_on_the_crop_with_the_hint_fitted_to_it(model: DiffusionModel) -> None:
    module = controlnet_from_unet(model.unet, seed=1, hint_channels=(4, 8, 8, 16))
    control_model = ControlModel("controlnet", module, "sd1", "tiny", torch.device("cpu"), torch.float32)
    control = Control(control_model, torch.rand(1, 3, 64, 128, generator=torch.Generator().manual_seed(3)))
    entry = text(1, area=Area(8, 8, 0, 8), control=control)
    with UnetCalls(SimpleNamespace(unet=module)) as record:  # type: ignore[arg-type]
        cfg_denoiser(model, (text(2), entry), (), 1.0)(_x(), SIGMA)
    assert [tuple(call["sample"].shape) for call in record.calls] == [(2, 4, 8, 8)]
    assert tuple(record.calls[0]["controlnet_cond"].shape) == (2, 3, 64, 64)


def test_entries_without_place_keep_the_plain_weighted_average(model: DiffusionModel) -> None:
    x, a, b = _x(8, 8), text(1), text(2, strength=3.0)
    both = cfg_denoiser(model, (a, b), (), 1.0)(x, SIGMA)
    plain_a = cfg_denoiser(model, (a,), (), 1.0)(x, SIGMA)
    plain_b = cfg_denoiser(model, (b,), (), 1.0)(x, SIGMA)
    assert torch.allclose(both, (plain_a + 3.0 * plain_b) / 4.0, atol=1e-6)


@pytest.mark.parametrize("field", ["area", "mask", "start_percent", "control"])
def test_placement_fields_survive_replace(field: str) -> None:
    values = {"area": Area(1, 2, 3, 4), "mask": torch.ones(1, 2, 2), "start_percent": 0.25, "control": object()}
    entry = text(1, **{field: values[field]})
    assert getattr(entry.replace(strength=2.0), field) is getattr(entry, field)
    assert entry.replace(strength=2.0).strength == 2.0
