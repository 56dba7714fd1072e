"""Weights streamed to the compute side layer by layer within a byte budget (the low-VRAM mechanism)."""

import os

import torch

from graphflow.cache import ModelCache
from graphflow.models.loader import load_checkpoint
from graphflow.models.options import load_options
from graphflow.models.speed import Speed, speed_up
from graphflow.models.streaming import stream_weights, streamer_of


def _layers(count: int = 4, width: int = 16) -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(*[torch.nn.Linear(width, width) for _ in range(count)])


def _bytes_fp32(layer: torch.nn.Linear) -> int:
    return sum(p.numel() * 4 for p in layer.parameters())


def test_stored_weights_stay_put_and_at_most_the_budget_of_them_is_held_on_the_compute_side() -> None:
    reference = _layers()
    stored = _layers().half()  # "CPU memory": fp16; "the device": fp32 copies, told apart by their dtype
    budget = 2 * _bytes_fp32(reference[0])
    streamer = stream_weights(stored, "cpu", torch.float32, budget_bytes=budget)
    seen: list[torch.dtype] = []
    for layer in stored:
        layer.register_forward_hook(lambda module, _i, _o: seen.append(module.weight.dtype))
    x = torch.randn(3, 16)
    out = stored(x)
    assert seen == [torch.float32] * 4  # every layer computed with compute-side weights
    assert streamer.resident_bytes <= budget and list(streamer.resident) == [stored[2], stored[3]]
    assert [layer.weight.dtype for layer in stored] == [torch.float16, torch.float16, torch.float32, torch.float32]
    assert all(p.dtype == torch.float16 for layer in stored for p in streamer.stored(layer).values())
    torch.testing.assert_close(out, reference.half().float()(x))


def test_a_budget_of_zero_keeps_nothing_and_no_budget_keeps_everything() -> None:
    for budget, held in ((0, 0), (None, 4)):
        model = _layers().half()
        streamer = stream_weights(model, "cpu", torch.float32, budget_bytes=budget)
        model(torch.randn(1, 16))
        assert len(streamer.resident) == held


def test_weights_patched_in_place_while_not_resident_are_used_on_the_next_call() -> None:
    model = _layers(count=1).half()
    stream_weights(model, "cpu", torch.float32, budget_bytes=0)
    x = torch.randn(2, 16)
    before = model(x)
    with torch.no_grad():
        model[0].weight.add_(1.0)
    assert not torch.allclose(model(x), before)


def test_a_unet_under_a_vram_budget_gives_the_same_prediction(saved_tiny) -> None:
    model, clip, _ = load_checkpoint(saved_tiny["sd1"].checkpoint, device="cpu", cache=ModelCache())
    latent, t = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0)), torch.tensor([500])
    context = clip.encode("a cat")[0].context
    with torch.no_grad():
        expected = model.unet(latent, t, encoder_hidden_states=context).sample
        streamer = stream_weights(model.unet, "cpu", torch.float32, budget_bytes=4096)
        got = model.unet(latent, t, encoder_hidden_states=context).sample
    assert streamer.resident_bytes <= 4096
    torch.testing.assert_close(got, expected)


def test_the_vram_budget_leaves_the_unet_in_cpu_memory_when_the_device_is_not_the_cpu() -> None:
    unet = _layers()
    speed_up(unet, torch.device("meta"), torch.float32, Speed(vram_budget_bytes=1 << 20))
    assert {p.device.type for p in unet.parameters()} == {"cpu"}
    assert streamer_of(unet) is not None


def test_the_compile_option_compiles_the_unet_in_place_with_its_kernels_kept_in_the_cache_folder(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "")  # so the variable the option sets is taken away after
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR")
    unet = _layers()
    same = speed_up(unet, torch.device("cpu"), torch.float32, Speed(compile=True, compile_cache_dir=tmp_path / "k"))
    assert same is unet and unet._compiled_call_impl is not None  # compiled lazily, on its first call
    assert (tmp_path / "k").is_dir() and os.environ["TORCHINDUCTOR_CACHE_DIR"] == str((tmp_path / "k").resolve())


def test_the_compile_and_vram_options_reach_the_loader_options_through_the_settings(tmp_path) -> None:
    from graphflow.cli import _parser
    from graphflow.models.options import model_settings
    from graphflow.settings import Settings

    args = _parser().parse_args(["serve", "--compile", "--vram-budget", "2G"])
    settings = Settings.from_environment({}, **model_settings(args, compile_cache_dir=tmp_path))
    assert load_options(settings)["speed"] == Speed(compile=True, vram_budget_bytes=2 << 30, compile_cache_dir=tmp_path)
