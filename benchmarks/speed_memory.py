"""Speed and memory of loading and running a real-size checkpoint: the whole prompt against its U-Net calls.

Run: nice -n 19 .venv/bin/python benchmarks/speed_memory.py [--model sd15|sdxl|tiny] [--sizes 256 512]
     [--steps 20 5] [--device cpu|cuda]

1. A random-weight checkpoint of the model's real size is built in a temp folder as one .safetensors file
   in fp16, as people store them (`--model tiny` builds a small one, for trying the script).
2. Load, in a fresh process: load time, peak RSS over the loaded model's size (both above the process's
   RSS before loading, after its imports), and what a second load of the same file through the model
   cache adds to the RSS.
3. Whole prompt, one fresh process per picture size: graphflow's txt2img workflow run twice in one
   executor (the first run loads and warms up; the second, with another seed, is the warm one: its
   prompt encodings come from the output cache, as in ComfyUI). Every U-Net call of the warm run is
   recorded and then replayed alone: that time is the floor. Printed: warm whole prompt / floor.
4. U-Net variants on the CPU: one call at the smallest size in fp32, fp32 channels-last, bf16 and bf16
   channels-last.
5. `--device cuda`: it/s of graphflow's U-Net loop at 512 and 1024 px (sd15 and sdxl) in fp16 and fp32,
   with and without torch.compile, against diffusers' StableDiffusion(XL)Pipeline built from the same
   modules (output_type="latent", so neither decodes).

Children get HF_HUB_OFFLINE=1; run it alone on the machine (other work skews both time and memory).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "graphflow" / "workflows" / "txt2img.json"
CHILD_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TQDM_DISABLE": "1", "PYTHONWARNINGS": "ignore"}
FAMILY = {"sd15": "sd1", "sdxl": "sdxl", "tiny": "sd1"}
MEASURES = ("load", "prompt", "variants", "sdxl")
MIB = 1 << 20


def rss_bytes() -> int:
    """The process's resident memory now."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    """The process's peak resident memory so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def available_bytes() -> int:
    """Memory the machine can still give (MemAvailable)."""
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


# ---------------------------------------------------------------------------------------------------- children


def build_child(model: str, path: Path) -> None:
    """Save a random-weight checkpoint of `model`'s size as one fp16 .safetensors file, a part at a time."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from graphflow.models.convert import CLIP_PREFIXES, clip_to_ldm, openclip_to_ldm, unet_to_ldm, vae_to_ldm
    from graphflow.models.detect import family_config
    from graphflow.models.tiny import build_tiny

    torch.manual_seed(0)
    family = FAMILY[model]
    if model == "tiny":
        tiny = build_tiny("sd1", seed=0)
        unet, vae, texts = tiny.unet, tiny.vae, tiny.text_models
    else:
        unet = UNet2DConditionModel(**family_config(family, "unet"))
        vae = AutoencoderKL(**family_config(family, "vae"))
        texts = {"clip_l": CLIPTextModel(CLIPTextConfig(**family_config(family, "text_encoder")))}
        if family == "sdxl":
            config = CLIPTextConfig(**family_config(family, "text_encoder_2"))
            texts = {
                "clip_l": CLIPTextModel(CLIPTextConfig(**family_config(family, "text_encoder"))),
                "clip_g": CLIPTextModelWithProjection(config),
            }
    half = lambda state: {k: v.detach().half().contiguous() for k, v in state.items()}
    state = half(unet_to_ldm(unet.state_dict(), unet.config))
    del unet
    state |= half(vae_to_ldm(vae.state_dict(), vae.config))
    for part, text in texts.items():
        prefix = CLIP_PREFIXES[family][part]
        convert = openclip_to_ldm if part == "clip_g" else clip_to_ldm
        state |= half(convert(text.state_dict(), prefix))
    save_file(state, str(path))


def load_child(path: Path, device: str) -> dict[str, Any]:
    """Load time, peak RSS above the start over the loaded size, and a second (cached) load's RSS."""
    import torch  # noqa: F401  (imports before the baseline)
    from diffusers import UNet2DConditionModel  # noqa: F401

    from graphflow.cache import ModelCache
    from graphflow.models.cache import byte_size
    from graphflow.models.loader import load_checkpoint

    gc.collect()
    before = rss_bytes()
    cache = ModelCache(64 << 30)
    started = time.perf_counter()
    loaded = load_checkpoint(path, device=device, cache=cache)
    seconds = time.perf_counter() - started
    peak, steady = peak_rss_bytes(), rss_bytes()
    again = load_checkpoint(path, device=device, cache=cache)
    size = byte_size(loaded)
    return {
        "load_s": seconds,
        "loaded_mib": size / MIB,
        "file_mib": path.stat().st_size / MIB,
        "baseline_mib": before / MIB,
        "peak_over_loaded": (peak - before) / size,
        "steady_over_loaded": (steady - before) / size,
        "second_load_mib": (rss_bytes() - steady) / MIB,
        "second_load_same_objects": again is loaded,
    }


def prompt_child(models: Path, size: int, steps: int) -> dict[str, Any]:
    """A warm txt2img prompt's wall time against the replayed time of its U-Net calls (the floor)."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from graphflow.cli import apply_overrides
    from graphflow.executor import Executor
    from graphflow.interop import load_any
    from graphflow.plugins import build_plugins
    from graphflow.settings import Settings

    plugins = build_plugins(None, entry_points=False)
    out = models.parent / f"out-{size}"
    settings = Settings(models_dir=models, output_dir=out, temp_dir=out / ".temp", device="cpu")
    executor = Executor(plugins.registry, plugins.hooks, settings)

    def run(seed: int, run_steps: int) -> tuple[float, float]:
        sets = [
            "checkpoint.checkpoint=bench.safetensors",
            f"latent.width={size}",
            f"latent.height={size}",
            f"sampler.steps={run_steps}",
            f"sampler.seed={seed}",
        ]
        workflow = apply_overrides(load_any(WORKFLOW, plugins.registry), sets, plugins.registry)
        started, cpu = time.perf_counter(), time.process_time()
        result = executor.run(workflow)
        if result.status != "success":
            raise RuntimeError(f"the prompt ended {result.status}: {result.error}")
        return time.perf_counter() - started, time.process_time() - cpu

    cold, _ = run(1, 1)
    unet = next(o for o in gc.get_objects() if isinstance(o, UNet2DConditionModel))
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    inside: list[float] = []

    def before(_module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        calls.append((_cloned(args), _cloned(kwargs)))
        inside.append(-time.perf_counter())

    def after(*_: Any) -> None:
        inside[-1] += time.perf_counter()

    decoder = next(o for o in gc.get_objects() if isinstance(o, AutoencoderKL)).decoder
    decoding: list[float] = []
    handles = [
        unet.register_forward_pre_hook(before, with_kwargs=True),
        unet.register_forward_hook(after),
        decoder.register_forward_pre_hook(lambda *_: decoding.append(-time.perf_counter())),
        decoder.register_forward_hook(lambda *_: decoding.append(decoding.pop() + time.perf_counter())),
    ]
    warm, warm_cpu = run(2, steps)
    for handle in handles:
        handle.remove()
    started, cpu = time.perf_counter(), time.process_time()
    with torch.no_grad():
        for args, kwargs in calls:
            unet(*args, **kwargs)
    floor, floor_cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "warm_cpu_s": warm_cpu,
        "floor_cpu_s": floor_cpu,
        "warm_over_floor_cpu": warm_cpu / floor_cpu,
        "size": size,
        "steps": steps,
        "unet_calls": len(calls),
        "cold_1_step_s": cold,
        "warm_s": warm,
        "unet_inside_s": sum(inside),
        "vae_decode_s": sum(decoding),
        "floor_s": floor,
        "warm_over_floor": warm / floor,
    }


def _cloned(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, (tuple, list)):
        return type(value)(_cloned(v) for v in value)
    if isinstance(value, dict):
        return {k: _cloned(v) for k, v in value.items()}
    return value


def variants_child(path: Path, size: int) -> dict[str, Any]:
    """One U-Net call (batch 2, as with CFG) in fp32, fp32 channels-last and bf16, each after a warm-up call."""
    import torch

    from graphflow.models.loader import load_checkpoint

    model, _, _ = load_checkpoint(path, device="cpu")
    unet = model.unet
    context_width = int(unet.config.cross_attention_dim)
    latent = torch.randn(2, 4, size // 8, size // 8)
    context = torch.randn(2, 77, context_width)
    timings: dict[str, Any] = {"size": size}
    for name, dtype, memory_format in (
        ("fp32", torch.float32, torch.contiguous_format),
        ("fp32_channels_last", torch.float32, torch.channels_last),
        ("bf16", torch.bfloat16, torch.contiguous_format),
        ("bf16_channels_last", torch.bfloat16, torch.channels_last),
    ):
        unet.to(dtype=dtype, memory_format=memory_format)
        x = latent.to(dtype=dtype, memory_format=memory_format)
        with torch.no_grad():
            unet(x, torch.tensor([500]), encoder_hidden_states=context.to(dtype))  # warm-up
            started = time.perf_counter()
            unet(x, torch.tensor([500]), encoder_hidden_states=context.to(dtype))
        timings[f"{name}_s"] = time.perf_counter() - started
    return timings


def cuda_child(path: Path, size: int, steps: int, precision: str, compile_unet: bool) -> dict[str, Any]:
    """it/s of graphflow's sampler and of diffusers' pipeline (same modules, same weights) on a GPU."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline, StableDiffusionXLPipeline

    from graphflow.models.loader import load_checkpoint
    from graphflow.models.speed import Speed
    from graphflow.sampling.latent import Latent
    from graphflow.sampling.sample import sample

    speed = Speed(compile=compile_unet, compile_cache_dir=Path(tempfile.gettempdir()) / "graphflow-bench-compile")
    model, clip, vae = load_checkpoint(path, device="cuda", precision=precision, speed=speed)
    cond, uncond = clip.encode("a photo of a cat"), clip.encode("")
    latent = Latent(torch.zeros(1, 4, size // 8, size // 8))

    def graphflow_steps(n: int) -> float:
        torch.cuda.synchronize()
        started = time.perf_counter()
        sample(
            model,
            positive=cond,
            negative=uncond,
            latent=latent,
            seed=0,
            steps=n,
            cfg=7.0,
            sampler_name="euler",
            scheduler="normal",
        )
        torch.cuda.synchronize()
        return time.perf_counter() - started

    graphflow_steps(2)  # warm-up (and compile)
    ours = steps / graphflow_steps(steps)
    pipeline_class = StableDiffusionXLPipeline if model.family == "sdxl" else StableDiffusionPipeline
    parts = {"text_encoder": clip.parts[0].model}
    if model.family == "sdxl":
        parts |= {"text_encoder_2": clip.parts[1].model, "tokenizer_2": None}
    pipe = pipeline_class(
        vae=vae.model,
        unet=model.unet,
        tokenizer=None,
        scheduler=EulerDiscreteScheduler(timestep_spacing="linspace"),
        **parts,
        **({} if model.family == "sdxl" else {"safety_checker": None, "feature_extractor": None}),
    )
    pipe.set_progress_bar_config(disable=True)
    positive, negative = cond[0], uncond[0]
    extra = {"pooled_prompt_embeds": positive.pooled, "negative_pooled_prompt_embeds": negative.pooled}
    kwargs = {
        "prompt_embeds": positive.context.to("cuda", model.dtype),
        "negative_prompt_embeds": negative.context.to("cuda", model.dtype),
        "height": size,
        "width": size,
        "guidance_scale": 7.0,
        "output_type": "latent",
        **({k: v.to("cuda", model.dtype) for k, v in extra.items()} if model.family == "sdxl" else {}),
    }
    pipe(num_inference_steps=2, **kwargs)
    torch.cuda.synchronize()
    started = time.perf_counter()
    pipe(num_inference_steps=steps, **kwargs)
    torch.cuda.synchronize()
    theirs = steps / (time.perf_counter() - started)
    return {
        "size": size,
        "precision": precision,
        "compile": compile_unet,
        "graphflow_it_s": ours,
        "diffusers_it_s": theirs,
    }


# ---------------------------------------------------------------------------------------------------- parent


def child(*args: str) -> dict[str, Any]:
    """Run this script's child mode `args` in a fresh process; its JSON answer plus its peak RSS."""
    env = {**os.environ, **CHILD_ENV, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen([sys.executable, __file__, "--child", *args], env=env, stdout=log, stderr=log)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        text = log.read().decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"child {' '.join(args)} failed:\n{text[-4000:]}")
    answer: dict[str, Any] = json.loads(text.strip().splitlines()[-1])
    return answer | {"child_peak_mib": usage.ru_maxrss / 1024}


def main() -> None:
    """Build the checkpoint, then measure each thing in its own process and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(FAMILY), default="sd15")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--steps", type=int, nargs="+", default=[20, 5], help="steps per size (the last repeats)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--measure", nargs="+", choices=MEASURES, default=list(MEASURES), help="what to measure (default: all)"
    )
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(args.child)))
        return
    with tempfile.TemporaryDirectory(prefix="graphflow-speed-") as tmp:
        models = Path(tmp) / "models"
        path = models / "checkpoints" / "bench.safetensors"
        path.parent.mkdir(parents=True)
        started = time.perf_counter()
        child("build", args.model, str(path))
        built = time.perf_counter() - started
        print(f"{args.model}: built {path.stat().st_size / MIB:,.0f} MiB fp16 in {built:.0f} s", flush=True)
        report(args, path, models)
        if args.device == "cpu" and args.model == "sd15" and "sdxl" in args.measure:
            report_sdxl_load(Path(tmp))


def report(args: argparse.Namespace, path: Path, models: Path) -> None:
    """Print the load, prompt and variant figures of one checkpoint."""
    if "load" in args.measure:
        report_load(path, args.device)
    if args.device == "cuda":
        for size in (512, 1024):
            for precision in ("fp16", "fp32"):
                for compiled in (False, True):
                    row = child("cuda", str(path), str(size), str(args.steps[0]), precision, str(compiled))
                    print(json.dumps(row), flush=True)
        return
    for index, size in enumerate(args.sizes if "prompt" in args.measure else []):
        steps = args.steps[min(index, len(args.steps) - 1)]
        row = child("prompt", str(models), str(size), str(steps))
        print(
            f"{size} px, {steps} steps, {row['unet_calls']} U-Net calls: warm prompt {row['warm_s']:.1f} s, "
            f"U-Net floor {row['floor_s']:.1f} s, ratio {row['warm_over_floor']:.3f} (CPU time: "
            f"{row['warm_cpu_s']:.1f} s / {row['floor_cpu_s']:.1f} s = {row['warm_over_floor_cpu']:.3f}; "
            f"U-Net time inside the prompt {row['unet_inside_s']:.1f} s; VAE decode {row['vae_decode_s']:.1f} s; "
            f"first 1-step prompt, with loading, "
            f"{row['cold_1_step_s']:.1f} s)",
            flush=True,
        )
    if "variants" in args.measure:
        variants = child("variants", str(path), str(min(args.sizes)))
        print(
            f"U-Net call at {variants['size']} px, batch 2: fp32 {variants['fp32_s']:.2f} s, fp32 channels-last "
            f"{variants['fp32_channels_last_s']:.2f} s, bf16 {variants['bf16_s']:.2f} s, bf16 channels-last "
            f"{variants['bf16_channels_last_s']:.2f} s",
            flush=True,
        )


def report_load(path: Path, device: str) -> None:
    """Print the load figures of one checkpoint."""
    load = child("load", str(path), device)
    print(
        f"load: {load['load_s']:.1f} s, loaded {load['loaded_mib']:,.0f} MiB (file {load['file_mib']:,.0f} MiB), "
        f"peak RSS over loaded {load['peak_over_loaded']:.3f}x, steady {load['steady_over_loaded']:.3f}x, "
        f"second load through the cache +{load['second_load_mib']:.1f} MiB "
        f"(same objects: {load['second_load_same_objects']}), baseline {load['baseline_mib']:,.0f} MiB",
        flush=True,
    )


def report_sdxl_load(tmp: Path) -> None:
    """The SDXL-size load figures, where the machine has the memory to build and load one."""
    needed = 22 << 30  # building holds the fp32 U-Net (10 GiB) and its fp16 copy; loading 10.5 GiB
    if available_bytes() < needed:
        print(f"sdxl: skipped, {available_bytes() / (1 << 30):.1f} GiB available, {needed >> 30} GiB needed")
        return
    path = tmp / "sdxl.safetensors"
    child("build", "sdxl", str(path))
    print("sdxl", end=" ")
    report_load(path, "cpu")


def run_child(argv: list[str]) -> dict[str, Any]:
    """Dispatch a child mode."""
    kind, rest = argv[0], argv[1:]
    if kind == "build":
        build_child(rest[0], Path(rest[1]))
        return {}
    if kind == "load":
        return load_child(Path(rest[0]), rest[1])
    if kind == "prompt":
        return prompt_child(Path(rest[0]), int(rest[1]), int(rest[2]))
    if kind == "variants":
        return variants_child(Path(rest[0]), int(rest[1]))
    if kind == "cuda":
        return cuda_child(Path(rest[0]), int(rest[1]), int(rest[2]), rest[3], rest[4] == "True")
    raise ValueError(f"unknown child mode {kind!r}")


if __name__ == "__main__":
    main()
