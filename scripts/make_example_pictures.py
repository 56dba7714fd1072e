"""Redraw docs/images/ from the example workflows, run with the shipped demo models as docs/examples.md says.

    .venv/bin/python scripts/make_example_pictures.py [--out docs/images]

Each picture sets an input beside its result (enlarged with nearest neighbour, 8 px apart); run it again
whenever the demo weights or the workflows change (docs/images/editor.png: scripts/make_editor_screenshot.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "graphflow" / "workflows"
INPUTS = WORKFLOWS / "inputs"
GAP = 8
SIDE = 128  # every panel is shown at 128x128
FLOW_PROMPTS = (
    "a large red triangle at the top",
    "a small blue circle on the left",
    "a large green square at the bottom",
    "a small orange triangle on the right",
)


def run(workflow: Path, output: Path, *sets: str) -> Path:
    """Run one workflow with the CLI; the one file it saved."""
    args = [
        sys.executable,
        "-m",
        "graphflow.cli",
        "run",
        str(workflow),
        "--output",
        str(output),
        "--quiet",
        *(a for s in sets for a in ("--set", s)),
    ]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    saved = [Path(line.strip()) for line in done.stdout.splitlines() if line.strip().endswith((".png", ".webp"))]
    if done.returncode != 0 or len(saved) != 1:
        raise SystemExit(f"{workflow.name}: {done.stderr or done.stdout}")
    return saved[0]


def panel(image: Image.Image) -> Image.Image:
    """An RGB 128x128 view; transparency shows as a grey checkerboard."""
    image = image.convert("RGBA").resize((SIDE, SIDE), Image.NEAREST)
    board = Image.new("RGBA", image.size, (255, 255, 255, 255))
    for y in range(0, SIDE, 8):
        for x in range(0, SIDE, 8):
            if (x + y) // 8 % 2:
                board.paste((204, 204, 204, 255), (x, y, x + 8, y + 8))
    return Image.alpha_composite(board, image).convert("RGB")


def row(images: list[Image.Image], side: int = SIDE, gap: int = GAP) -> Image.Image:
    """Pictures side by side on white."""
    sheet = Image.new("RGB", (len(images) * side + (len(images) - 1) * gap, side), "white")
    for i, image in enumerate(images):
        sheet.paste(image, (i * (side + gap), 0))
    return sheet


def column(images: list[Image.Image], gap: int = GAP) -> Image.Image:
    """Pictures one above the other on white."""
    sheet = Image.new(
        "RGB", (max(i.width for i in images), sum(i.height for i in images) + (len(images) - 1) * gap), "white"
    )
    top = 0
    for image in images:
        sheet.paste(image, (0, top))
        top += image.height + gap
    return sheet


def shortened(name: str, folder: Path, drop: tuple[str, ...], node: str, link: str, source: tuple[str, str]) -> Path:
    """workflows/NAME.json without the `drop` nodes, `node`'s `link` input rewired to `source` (node, output)."""
    data = json.loads((WORKFLOWS / f"{name}.json").read_text())
    for dropped in drop:
        del data["nodes"][dropped]
    data["nodes"][node]["links"][link] = {"node": source[0], "output": source[1]}
    path = folder / f"{name}_shortened.json"
    path.write_text(json.dumps(data))
    return path


def main() -> None:
    """Draw every picture into --out."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    out = parser.parse_args().out
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, source in (("img2img", "shapes.png"), ("sketch_to_image", "sketch.png"), ("inpaint", "inpaint.png")):
            result = Image.open(run(WORKFLOWS / f"{name}.json", work))
            row([panel(Image.open(INPUTS / source)), panel(result)]).save(out / f"{name}.png")
        first_pass = shortened("hires_fix", work, ("upscale", "hires"), "decode", "latent", ("sampler", "result"))
        first = Image.open(run(first_pass, work))
        hires = Image.open(run(WORKFLOWS / "hires_fix.json", work))
        row([panel(first), hires.convert("RGB")]).save(out / "hires_fix.png")
        unscaled = shortened("upscale_model", work, ("upscaler", "upscale"), "save", "images", ("decode", "image"))
        drawn = Image.open(run(unscaled, work)).convert("RGB")
        upscaled = Image.open(run(WORKFLOWS / "upscale_model.json", work)).convert("RGB")
        row([drawn.resize((SIDE, SIDE), Image.NEAREST), drawn.resize((SIDE, SIDE), Image.BICUBIC), upscaled]).save(
            out / "upscale_model.png"
        )
        animation = Image.open(run(WORKFLOWS / "interpolate.json", work))
        frames = []
        for index in range(animation.n_frames):
            animation.seek(index)
            frames.append(animation.convert("RGB"))
        enlarged = [frame.resize((SIDE, SIDE), Image.NEAREST) for frame in frames]
        enlarged[0].save(
            out / "interpolate.webp",
            save_all=True,
            append_images=enlarged[1:],
            lossless=True,
            loop=0,
            duration=animation.info.get("duration", 167),
        )
        row(frames, side=64, gap=4).save(out / "interpolate_frames.png")
        lora = WORKFLOWS / "lora.json"
        without = run(lora, work, "lora.strength_model=0", "lora.strength_clip=0")
        row([panel(Image.open(without)), panel(Image.open(run(lora, work)))]).save(out / "lora.png")
        panel(Image.open(run(WORKFLOWS / "embedding_sun.json", work))).save(out / "embedding_sun.png")
        hinted = Image.open(run(WORKFLOWS / "controlnet.json", work))
        row([panel(Image.open(INPUTS / "silhouette.png")), panel(hinted)]).save(out / "controlnet.png")
        for name in ("area_composition", "outpaint"):  # wider than tall: enlarged as they are
            wide = Image.open(run(WORKFLOWS / f"{name}.json", work)).convert("RGB")
            wide.resize((wide.width * 2, wide.height * 2), Image.NEAREST).save(out / f"{name}.png")
        panel(Image.open(run(WORKFLOWS / "merge.json", work))).save(out / "merge.png")  # the picture, not the file
        flow = WORKFLOWS / "txt2img_flow.json"
        rows = [
            row(
                [
                    panel(Image.open(run(flow, work, f"prompt.text={text}", f"sampler.steps={steps}")))
                    for text in FLOW_PROMPTS
                ]
            )
            for steps in (4, 20)
        ]
        column(rows).save(out / "txt2img_flow.png")
    print(f"pictures written to {out}")


if __name__ == "__main__":
    main()
