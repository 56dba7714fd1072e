"""The demo flow model: its rectified-flow loss, a tiny training run end to end, and the shipped folder."""

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from graphflow.demo import DEMO_MODEL_DIR, WEIGHTS_DIR
from graphflow.demo.checker import check
from graphflow.demo.flow_eval import FlowDemo
from graphflow.demo.runlog import Budget
from graphflow.demo.train_flow import (
    FlowConfig,
    build_transformer,
    export_flow,
    main,
    prepare,
    tiny_flow_config,
    train_flow,
)
from graphflow.demo.trainer import flow_matching_loss
from graphflow.models.builtin import builtin_checkpoints
from graphflow.models.loader import load_checkpoint
from graphflow.plugins import build_plugins
from graphflow.workflow import parse_workflow
from tests.running import executor_for

FLOW_MODEL = WEIGHTS_DIR / "shapes-flow"
WORKFLOW = Path(__file__).resolve().parents[2] / "graphflow" / "workflows" / "txt2img_flow.json"


def test_flow_loss_is_zero_when_the_prediction_is_the_true_velocity():
    latents = torch.randn(4, 4, 8, 8, generator=torch.Generator().manual_seed(1))

    def exact(noisy: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return (noisy - latents) / sigma.view(-1, 1, 1, 1)  # x_sigma - x0 = sigma * (noise - x0)

    loss = flow_matching_loss(exact, latents, torch.Generator().manual_seed(2), shift=3.0)
    assert loss.item() < 1e-8


def test_flow_loss_falls_as_a_tiny_transformer_trains():
    config = tiny_flow_config(DEMO_MODEL_DIR)
    torch.manual_seed(0)
    model = build_transformer(config, latent_channels=4, latent_size=8, text_width=16)
    latents = torch.randn(8, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    context, pooled = torch.randn(8, 5, 16), torch.randn(8, 16)

    def loss_at(seed: int) -> torch.Tensor:
        return flow_matching_loss(
            lambda x, s: model(x, context, pooled, s * 1000).sample, latents, torch.Generator().manual_seed(seed)
        )

    before = loss_at(99).item()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(40):
        loss = loss_at(step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = loss_at(99).item()
    assert torch.isfinite(torch.tensor(after)) and after < 0.9 * before, (before, after)


def test_a_tiny_flow_run_exports_a_folder_graphflow_loads_as_the_flow_demo(tmp_path):
    out = tmp_path / "run"
    config = prepare(out, False, tiny_flow_config(DEMO_MODEL_DIR))
    assert train_flow(out, config, Budget(None, 5.0))
    assert torch.isfinite(torch.load(out / "flow.pt", weights_only=True)["ema"]["proj_out.weight"]).all()
    folder = export_flow(out, tmp_path / "export", shift=2.0)
    assert json.loads((folder / "model_index.json").read_text())["_class_name"] == "GraphflowFlowDemo"
    model = load_checkpoint(folder)[0]
    assert model.family == "flow-demo" and model.sampling.shift == 2.0 and model.sampling.multiplier == 1000
    assert model.latent_format.scaling_factor == pytest.approx(1.0152, abs=1e-3)
    pictures = FlowDemo(folder).images(["a red circle", "a blue square"], steps=2, guidance=3.0)
    assert [p.shape for p in pictures] == [(64, 64, 3)] * 2


def test_resuming_a_finished_flow_run_needs_resume(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["--out", str(out), "--tiny", "--minutes", "0"]) == 0
    assert "continue with" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="--resume"):
        main(["--out", str(out), "--tiny"])
    assert main(["--out", str(out), "--resume"]) == 0
    assert (
        torch.load(out / "flow.pt", weights_only=True)["step"] == FlowConfig.load(out / "flow_config.json").train.steps
    )


def test_the_shipped_flow_model_is_offered_and_small():
    assert builtin_checkpoints()["builtin:shapes-flow"] == FLOW_MODEL
    assert next(iter(builtin_checkpoints())) == "builtin:shapes-demo"  # new loaders still start on the UNet model
    size = sum(p.stat().st_size for p in FLOW_MODEL.rglob("*") if p.is_file())
    assert size < 20_000_000
    shift = json.loads((FLOW_MODEL / "scheduler" / "scheduler_config.json").read_text())["shift"]
    assert FlowConfig.load(FLOW_MODEL / "demo_config.json").shift == shift


def test_the_flow_workflow_draws_the_colours_and_places_its_prompts_name(tmp_path):
    prompts = [
        "a large red circle on the left",
        "a small blue square at the top",
        "a large yellow triangle in the center",
    ]
    executor = executor_for(build_plugins(entry_points=False), tmp_path, output_dir=tmp_path)
    data = json.loads(WORKFLOW.read_text())
    for seed, prompt in enumerate(prompts):
        data["nodes"]["prompt"]["inputs"]["text"] = prompt
        data["nodes"]["sampler"]["inputs"]["seed"] = seed
        result = executor.run(parse_workflow(data))
        assert result.status == "success", result.error
        saved = result.ui["save"]["images"][0]
        picture = Image.open(tmp_path / saved["subfolder"] / saved["filename"]).convert("RGB")
        checked = check(picture, prompt)
        assert checked["colour"] and checked["position"], (prompt, checked)
