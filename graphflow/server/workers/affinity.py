"""Which models a prompt needs, and which idle worker should take it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol, TypeVar

from graphflow.registry import Registry


class HoldsModels(Protocol):
    """A worker as affinity sees it: the model files it holds loaded."""

    @property
    def held(self) -> frozenset[str]: ...


W = TypeVar("W", bound=HoldsModels)


def model_refs(workflow: Any, registry: Registry) -> frozenset[str]:
    """The model files a workflow JSON names in its model-file inputs (checkpoints, LoRAs, VAEs, ...)."""
    nodes = workflow.get("nodes") if isinstance(workflow, dict) else None
    if not isinstance(nodes, dict):
        return frozenset()
    refs = set()
    for entry in nodes.values():
        spec = registry.get(entry.get("type", "")) if isinstance(entry, dict) else None
        inputs = entry.get("inputs") if spec is not None else None
        if not isinstance(inputs, dict):
            continue
        for name, value in inputs.items():
            declared = spec.inputs.get(name) if spec else None
            if declared is not None and declared.widget == "model_file" and isinstance(value, str) and value:
                refs.add(value)
    return frozenset(refs)


def choose_worker(idle: Sequence[W], needs: frozenset[str], waiting: Iterable[frozenset[str]]) -> W:
    """An idle worker for a prompt needing `needs`: one already holding them, else the one whose models
    the waiting prompts need least (so it is the cheapest to evict), holding the fewest models on a tie."""
    if not idle:
        raise ValueError("no idle worker to choose from")
    if needs:
        holding = [w for w in idle if needs <= w.held] or [w for w in idle if needs & w.held]
        if holding:
            return holding[0]
    wanted: dict[str, int] = {}
    for refs in waiting:
        for ref in refs:
            wanted[ref] = wanted.get(ref, 0) + 1
    return min(idle, key=lambda w: (sum(wanted.get(ref, 0) for ref in w.held), len(w.held)))
