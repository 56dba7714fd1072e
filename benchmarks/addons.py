"""Add-ons, scored and costed in one run: the shipped demo add-ons through graphflow, LoRA patching, ControlNet speed.

    .venv/bin/python benchmarks/addons.py [--only scores,lora,controlnet] [--json]

- scores: the shipped builtin:shapes-magenta LoRA, embedding:shapes-sun and builtin:shapes-silhouette
  ControlNet scored by the demo checker over 50 prompts each (benchmarks/addon_scores.py);
- lora: patching and unpatching a rank-32 LoRA on an SD1.5-size random UNet, time and peak memory over
  the base model (benchmarks/lora_cost.py, measured in a fresh process);
- controlnet: ControlNet sampling time through graphflow / diffusers' StableDiffusionControlNetPipeline on
  SD1.5-size random models, interleaved runs (benchmarks/controlnet_cost.py), target <= 1.05.
Results are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

# run as a script: this folder is on the path
from addon_scores import addon_scores, summary
from controlnet_cost import controlnet_cost
from lora_cost import lora_cost

PARTS = ("scores", "lora", "controlnet")


def run(parts: list[str]) -> dict[str, Any]:
    """The figures of each part asked for, keyed by part."""
    measure = {"scores": addon_scores, "lora": lora_cost, "controlnet": controlnet_cost}
    unknown = [p for p in parts if p not in measure]
    if unknown:
        raise SystemExit(f"unknown part {unknown[0]!r}: choose from {', '.join(PARTS)}")
    return {part: measure[part]() for part in parts}


def report(results: dict[str, Any]) -> None:
    """The headline figures, one line each."""
    if "scores" in results:
        for name, value, target in summary(results["scores"]):
            print(f"{name:44s} {value:8.3f}  {target}")
    if "lora" in results:
        lora = results["lora"]
        print(f"{'rank-32 LoRA patch / unpatch (ms)':44s} {lora['patch_s'] * 1e3:8.0f} / {lora['unpatch_s'] * 1e3:.0f}")
        print(
            f"{'peak RSS over the base model (x UNet)':44s} {lora['peak_over_base_per_unet']:8.2f}  "
            f"({lora['peak_rss_over_base_mib']:.0f} MiB)"
        )
    if "controlnet" in results:
        cn = results["controlnet"]
        print(
            f"{'ControlNet sampling graphflow / diffusers':44s} {cn['ratio']:8.3f}  <= {cn['target']} "
            f"(best-of {cn['ratio_best']:.3f}, CPU time {cn['cpu_ratio']:.3f})"
        )


def main() -> None:
    """Measure the parts asked for and print them."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts: {', '.join(PARTS)}")
    parser.add_argument("--json", action="store_true", help="also print every figure as JSON")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    results = run(args.only.split(","))
    report(results)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
