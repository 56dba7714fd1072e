"""benchmarks/addon_scores.py runs the shipped add-ons through graphflow's executor and returns its figures."""

import importlib.util
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "addon_scores.py"


def load_benchmark():
    spec = importlib.util.spec_from_file_location("addon_scores", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_returns_every_figure_with_a_target():
    benchmark = load_benchmark()
    results = benchmark.addon_scores(count=2, singles=1, pairs=1)
    assert set(results) == {"lora", "embedding", "controlnet"}
    rows = {name: value for name, value, _ in benchmark.summary(results)}
    assert set(benchmark.TARGETS) <= set(rows)
    assert rows["lora concept at 1"] == 1.0 and rows["lora concept at 0"] == 0.0
    assert rows["base colour/position change at lora 0"] == 0.0
    assert rows["embedding concept"] == 1.0 and rows["controlnet iou"] > 0.7


def test_a_picture_graph_adds_the_lora_and_the_controlnet_only_when_asked():
    graph = load_benchmark().picture_graph
    assert "lora" not in graph("a red circle", 0)["nodes"] and "control" not in graph("a red circle", 0)["nodes"]
    both = graph("a red circle", 3, lora_strength=0.5, hint="h.png")["nodes"]
    assert both["lora"]["inputs"]["strength_clip"] == 0.5 and both["hint"]["inputs"]["image"] == "h.png"
    assert both["sampler"]["links"]["positive"] == {"node": "control", "output": "positive_out"}
    assert both["sampler"]["links"]["model"] == {"node": "lora", "output": "patched_model"}
