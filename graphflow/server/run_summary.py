"""What a history row shows of a run without its whole workflow: the prompt text, the seed and the input images."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphflow.declaration import Input, NodeSpec
from graphflow.registry import Registry


def run_summary(workflow: dict[str, Any], registry: Registry) -> dict[str, Any]:
    """`{"prompt", "seed", "input_images"}` of a stored workflow: the first seed typed into a node, the prompt that
    node's `positive` link leads to (else the first prompt typed anywhere) and every uploaded picture it loads."""
    nodes: dict[str, Any] = workflow.get("nodes") or {}
    specs = {node_id: registry.get(entry.get("type", "")) for node_id, entry in nodes.items()}
    seed_node, seed = None, None
    for node_id, spec in specs.items():
        seed = _first_literal(nodes[node_id], spec, lambda i: i.widget == "seed")
        if seed is not None:
            seed_node = node_id
            break
    prompts = {node_id: _first_literal(nodes[node_id], spec, lambda i: i.multiline) for node_id, spec in specs.items()}
    positive = ((nodes[seed_node].get("links") or {}).get("positive") or {}).get("node") if seed_node else None
    prompt = prompts.get(positive) if positive else None
    if prompt is None:
        prompt = next((text for text in prompts.values() if text), None)
    images = [
        value
        for node_id, spec in specs.items()
        for name, value in (nodes[node_id].get("inputs") or {}).items()
        if spec is not None and _widget(spec, name) == "image_upload" and isinstance(value, str)
    ]
    return {"prompt": prompt, "seed": seed, "input_images": images}


def _first_literal(entry: dict[str, Any], spec: NodeSpec | None, wanted: Callable[[Input], bool]) -> Any:
    """The first typed-in value of the node's inputs that `wanted(input)` picks, or None."""
    if spec is None:
        return None
    values = entry.get("inputs") or {}
    return next((values[name] for name, field in spec.inputs.items() if wanted(field) and name in values), None)


def _widget(spec: NodeSpec, name: str) -> str | None:
    field = spec.inputs.get(name)
    return field.widget if field else None
