"""The demo flow model (builtin:shapes-flow) scored through graphflow's executor and nodes.

Run: .venv/bin/python benchmarks/flow_demo.py [--singles 100] [--pairs 0] [--steps 4 8 20] [--samplers euler heun]
     [--cfg 3] [--scheduler simple] [--json]

Every picture is one run of graphflow/workflows/txt2img_flow.json as shipped (Load Checkpoint
builtin:shapes-flow -> Encode Prompt, positive and empty negative -> Empty Latent 64x64 -> Sample -> VAE Decode)
with the prompt, seed (= prompt index), steps, sampler, scheduler and cfg set; one Executor, so the model loads
once. The shapes-world checker (`graphflow.demo.checker`) reads colour, position, shape and size back.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from graphflow.demo.checker import score
from graphflow.demo.evaluate import eval_prompts
from graphflow.demo.flow_eval import markdown
from graphflow.executor import Executor
from graphflow.imaging.images import image_to_pils
from graphflow.plugins import build_plugins
from graphflow.settings import Settings
from graphflow.workflow import parse_workflow

WORKFLOW = Path(__file__).resolve().parents[1] / "graphflow" / "workflows" / "txt2img_flow.json"


class FlowPainter:
    """One executor over graphflow's built-in nodes running the example flow workflow with changed inputs."""

    def __init__(self, root: Path) -> None:
        settings = Settings(
            models_dir=root / "models", input_dir=root / "input", output_dir=root / "output", temp_dir=root / "temp",
            device="cpu",
        )  # fmt: skip
        plugins = build_plugins(entry_points=False)
        self.executor = Executor(plugins.registry, plugins.hooks, settings)
        self.workflow = json.loads(WORKFLOW.read_text())

    def pictures(self, prompts: Sequence[str], **sampler_inputs: Any) -> list[Image.Image]:
        """One picture per prompt, prompt i seeded i, with the Sample node's other inputs changed as given."""
        out = []
        for seed, prompt in enumerate(prompts):
            nodes = self.workflow["nodes"]
            nodes["prompt"]["inputs"]["text"] = prompt
            nodes["sampler"]["inputs"].update(sampler_inputs, seed=seed)
            result = self.executor.run(parse_workflow(self.workflow), targets=["decode"])
            if result.error is not None:
                raise result.error
            out += image_to_pils(result.outputs["decode"]["image"])
        return out


def flow_scores(
    prompts: Sequence[str], steps: Sequence[int], samplers: Sequence[str], cfg: float, scheduler: str
) -> list[dict[str, Any]]:
    """One row per sampler x step count: the checker's accuracies and the seconds taken."""
    rows = []
    with tempfile.TemporaryDirectory() as root:
        painter = FlowPainter(Path(root))
        for sampler in samplers:
            for n in steps:
                began = time.monotonic()
                images = painter.pictures(prompts, steps=n, sampler_name=sampler, scheduler=scheduler, cfg=cfg)
                seconds = round(time.monotonic() - began, 1)
                scores = {k: round(v, 3) for k, v in score(images, prompts).items()}
                rows.append({"sampler": sampler, "steps": n, "seconds": seconds} | scores)
                print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    """Score the cells asked for and print them as JSON lines and a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--singles", type=int, default=100, help="single-thing prompts (evaluate.eval_prompts)")
    parser.add_argument("--pairs", type=int, default=0, help="two-thing prompts as well (scored as two_*)")
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 8, 20])
    parser.add_argument("--samplers", nargs="+", default=["euler", "heun"])
    parser.add_argument("--cfg", type=float, default=3.0)
    parser.add_argument("--scheduler", default="simple")
    parser.add_argument("--json", action="store_true", help="print the rows as one JSON list at the end")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rows = flow_scores(eval_prompts(args.singles, args.pairs), args.steps, args.samplers, args.cfg, args.scheduler)
    print(json.dumps(rows, indent=2) if args.json else markdown(rows))


if __name__ == "__main__":
    main()
