"""graphflow's txt2img workflow against a direct diffusers pipeline call, and tiled VAE decode memory.

Run: .venv/bin/python benchmarks/txt2img_overhead.py [--steps 20] [--size 256] [--repeats 3]

1. One random SD1-shaped model (UNet widths 128/256, so sampling dominates) is saved as a diffusers
   folder. `graphflow run txt2img` and a script calling diffusers' StableDiffusionPipeline
   on that folder (Euler, "linspace" timesteps = graphflow's "normal" schedule, same seed, cfg and steps)
   each run in a fresh process; both load the model, encode two prompts, sample, decode and save a PNG.
   Wall time and peak RSS are of the whole child process (interpreter start to exit), best of --repeats,
   the two alternating. Targets: graphflow / diffusers <= 1.03 (time) and <= 1.05 (peak RSS).
2. Tiled VAE decode (512 px tiles) of a 512 px and a 2048 px latent, each in a fresh process, with a VAE
   of SD's layout at a quarter of its widths (once each: memory hardly varies between runs).
   Target: peak RSS at 2048 px <= 1.3 x at 512 px.

Children get one thread each (OMP_NUM_THREADS=1) and HF_HUB_OFFLINE=1; run it alone on the machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "graphflow" / "workflows" / "txt2img.json"
PROMPT, NEGATIVE = "a large red triangle at the top", "blurry"
SEED, CFG = 42, 7.5
BENCH_UNET = {
    "block_out_channels": [128, 256],
    "layers_per_block": 2,
    "attention_head_dim": 8,
    "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
}
BENCH_VAE_WIDTHS = [32, 64, 128, 128]  # SD's VAE is 128, 256, 512, 512
TILE, OVERLAP = 512, 64
CHILD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TQDM_DISABLE": "1",
    "PYTHONWARNINGS": "ignore",
}


@dataclasses.dataclass
class Measured:
    """One child process: wall seconds and peak resident memory in MiB."""

    seconds: float
    peak_mib: float


def measure(command: list[str]) -> Measured:
    """Run `command` in a fresh process; its wall time and its own peak RSS (wait4 rusage of that child)."""
    env = {**os.environ, **CHILD_ENV, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryFile() as log:  # a file, not a pipe: a chatty child cannot block on a full pipe
        started = time.perf_counter()
        child = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4; tell Popen so
        if child.returncode != 0:
            log.seek(0)
            raise RuntimeError(f"{' '.join(command)} failed:\n{log.read().decode(errors='replace')}")
    return Measured(seconds, usage.ru_maxrss / 1024)


# ---------------------------------------------------------------------------------------------------- children


def diffusers_child(folder: Path, output: Path, steps: int, size: int) -> None:
    """Generate one image with diffusers' StableDiffusionPipeline on a diffusers folder and save it as PNG."""
    import instant_clip_tokenizer
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    text_encoder = CLIPTextModel.from_pretrained(folder / "text_encoder", local_files_only=True).eval()
    pipe = StableDiffusionPipeline(
        vae=AutoencoderKL.from_pretrained(folder, subfolder="vae", local_files_only=True),
        text_encoder=text_encoder,
        tokenizer=None,
        unet=UNet2DConditionModel.from_pretrained(folder, subfolder="unet", local_files_only=True),
        scheduler=EulerDiscreteScheduler.from_pretrained(folder, subfolder="scheduler", timestep_spacing="linspace"),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    tokenizer = instant_clip_tokenizer.Tokenizer()

    def embed(text: str) -> torch.Tensor:  # SD1: BOS, tokens, EOS, padded with EOS to 77
        ids = [49406, *tokenizer.encode(text), 49407]
        with torch.no_grad():
            return text_encoder(torch.tensor([ids + [49407] * (77 - len(ids))]))[0]

    generator = torch.Generator("cpu").manual_seed(SEED)
    image = pipe(
        prompt_embeds=embed(PROMPT),
        negative_prompt_embeds=embed(NEGATIVE),
        num_inference_steps=steps,
        guidance_scale=CFG,
        height=size,
        width=size,
        generator=generator,
    ).images[0]
    image.save(output)


def tiled_vae_child(folder: Path, size: int) -> None:
    """Decode a random latent for a `size` px image with graphflow's tiled VAE decode."""
    import torch
    from diffusers import AutoencoderKL

    from graphflow.models.vae import Vae

    vae = Vae(AutoencoderKL.from_pretrained(folder, local_files_only=True))
    latent = torch.randn(1, 4, size // 8, size // 8, generator=torch.Generator().manual_seed(0))
    image = vae.decode_tiled(latent, tile_size=TILE, overlap=OVERLAP)
    assert image.shape == (1, size, size, 3)


# ------------------------------------------------------------------------------------------------------ set-up


def build_models(root: Path) -> tuple[Path, Path]:
    """Save the benchmark checkpoint (models/checkpoints/bench-sd1) and the tiled-decode VAE folder."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from graphflow.models.detect import family_config
    from graphflow.models.tiny import TEXT_WIDTH, build_tiny, save_tiny_diffusers

    torch.manual_seed(0)
    unet = UNet2DConditionModel(**{**family_config("sd1", "unet"), **BENCH_UNET, "cross_attention_dim": TEXT_WIDTH})
    models = dataclasses.replace(build_tiny("sd1"), unet=unet.eval())
    checkpoint = save_tiny_diffusers(models, root / "checkpoints" / "bench-sd1")
    vae = AutoencoderKL(**{**family_config("sd1", "vae"), "block_out_channels": BENCH_VAE_WIDTHS})
    vae.save_pretrained(root / "vae-quarter")
    return checkpoint, root / "vae-quarter"


def _graphflow_command(models: Path, output: Path, steps: int, size: int) -> list[str]:
    sets = {
        "checkpoint.checkpoint": "bench-sd1",
        "prompt.text": PROMPT,
        "negative.text": NEGATIVE,
        "latent.width": size,
        "latent.height": size,
        "sampler.steps": steps,
        "sampler.seed": SEED,
        "sampler.cfg": CFG,
        "sampler.sampler_name": "euler",
        "sampler.scheduler": "normal",
    }
    command = [
        sys.executable,
        "-m",
        "graphflow.cli",
        "run",
        str(WORKFLOW),
        "--models",
        str(models),
        "--output",
        str(output),
        "--device",
        "cpu",
        "--quiet",
    ]
    for key, value in sets.items():
        command += ["--set", f"{key}={value}"]
    return command


def _best(runs: list[Measured]) -> Measured:
    return Measured(min(r.seconds for r in runs), min(r.peak_mib for r in runs))


def _pixels(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as picture:
        return np.asarray(picture.convert("RGB"), dtype=np.int16)


def main() -> None:
    """Build the models, run every child, print the figures side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=("diffusers", "tiled-vae"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "diffusers":
        return diffusers_child(args.folder, args.output, args.steps, args.size)
    if args.child == "tiled-vae":
        return tiled_vae_child(args.folder, args.size)

    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="graphflow-bench-") as scratch:
        work = Path(scratch)
        checkpoint, vae_folder = build_models(work / "models")
        me = [sys.executable, str(Path(__file__).resolve())]
        ours, theirs = [], []
        for k in range(args.repeats):
            ours.append(measure(_graphflow_command(work / "models", work / f"graphflow-{k}", args.steps, args.size)))
            theirs.append(
                measure(
                    [
                        *me,
                        "--child",
                        "diffusers",
                        "--folder",
                        str(checkpoint),
                        "--steps",
                        str(args.steps),
                        "--size",
                        str(args.size),
                        "--output",
                        str(work / f"diffusers-{k}.png"),
                    ]
                )
            )
        ours_best, theirs_best = _best(ours), _best(theirs)
        [our_png] = (work / "graphflow-0").glob("*.png")
        difference = int(np.abs(_pixels(our_png) - _pixels(work / "diffusers-0.png")).max())
        decode = {
            size: measure([*me, "--child", "tiled-vae", "--folder", str(vae_folder), "--size", str(size)])
            for size in (512, 2048)
        }

    print(
        f"txt2img {args.size}x{args.size}, euler, {args.steps} steps, cfg {CFG}; UNet widths "
        f"{BENCH_UNET['block_out_channels']}; whole process, best of {args.repeats}"
    )
    print(f"{'':24}{'wall s':>10}{'peak RSS MiB':>15}")
    print(f"{'graphflow run':24}{ours_best.seconds:>10.2f}{ours_best.peak_mib:>15.0f}")
    print(f"{'diffusers pipeline':24}{theirs_best.seconds:>10.2f}{theirs_best.peak_mib:>15.0f}")
    print(
        f"{'ratio (target 1.03/1.05)':24}{ours_best.seconds / theirs_best.seconds:>10.3f}"
        f"{ours_best.peak_mib / theirs_best.peak_mib:>15.3f}"
    )
    print(f"max pixel difference between the two images: {difference}/255")
    print(f"tiled VAE decode (tiles {TILE} px, overlap {OVERLAP}, VAE widths {BENCH_VAE_WIDTHS}):")
    for size, measured in decode.items():
        print(f"  {size:>4} px: {measured.seconds:6.2f} s, peak RSS {measured.peak_mib:5.0f} MiB")
    print(f"  ratio 2048/512 (target 1.3): {decode[2048].peak_mib / decode[512].peak_mib:.3f}")


if __name__ == "__main__":
    main()
