"""Fuzzing, longer than the test suite's: hostile workflow data through the loader and validator, the ComfyUI
importer and PNG import (the strategies of `tests/engine/fuzzing.py`), and the HTTP routes through
`benchmarks/fuzz_routes.py` when it is there. Prints the cases tried and the failures by kind (what escaped,
and from which line; or which message was too long).

    .venv/bin/python benchmarks/fuzz.py --cases 12000 --seed 1 [--routes 0]

`--cases` is shared out among the four file targets; `--routes` cases (default: as many as --cases) go to
the routes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: the tests' strategies and the routes fuzzer are imported by package

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from graphflow.plugins import build_plugins  # noqa: E402
from graphflow.registry import Registry  # noqa: E402
from graphflow.settings import Settings  # noqa: E402
from tests.engine.fuzzing import (  # noqa: E402
    COMFY_FILES,
    WORKFLOWS,
    Broken,
    check_importer,
    check_loader,
    check_png,
    json_values,
    loaded,
    mutated,
    pngs,
)

Check = Callable[[Any], None]


def _targets(registry: Registry, settings_: Settings, folder: Path) -> dict[str, tuple[st.SearchStrategy[Any], Check]]:
    workflows = [loaded(p) for p in WORKFLOWS]
    comfy = [loaded(p) for p in COMFY_FILES]
    return {
        "loader: any JSON value": (json_values(), lambda d: check_loader(d, registry, settings_)),
        "loader: mutated workflows": (mutated(workflows), lambda d: check_loader(d, registry, settings_)),
        "importer: mutated ComfyUI files and any value": (
            mutated(comfy) | json_values(),
            lambda d: check_importer(d, registry, settings_),
        ),
        "importer: PNGs": (pngs(comfy + workflows), lambda raw: check_png(raw, folder, registry, settings_)),
    }


def fuzz_target(strategy: st.SearchStrategy[Any], check: Check, cases: int, seed_: int) -> tuple[int, Counter[str]]:
    """Run `check` on `cases` generated values; returns the cases tried and the failures by kind."""
    failures: Counter[str] = Counter()
    tried = 0

    @seed(seed_)
    @settings(
        max_examples=cases,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def case(value: Any) -> None:
        nonlocal tried
        tried += 1
        try:
            check(value)
        except Broken as broken:
            failures[broken.kind] += 1

    case()
    return tried, failures


def _routes(cases: int, seed_: int) -> tuple[int, Counter[str]] | str:
    """The routes fuzzer's (cases tried, failures by kind); a sentence when it is not there."""
    try:
        from benchmarks.fuzz_routes import fuzz_routes
    except ImportError as exc:
        return f"skipped: benchmarks/fuzz_routes.py cannot be imported ({exc})"
    found = fuzz_routes(cases, seed_)
    return found if isinstance(found, tuple) else (cases, found)  # (tried, failures), or the failures alone


def _report(name: str, tried: int, failures: Counter[str], seconds: float) -> int:
    print(f"{name}: {tried:,} cases, {sum(failures.values()):,} failures ({seconds:.1f} s)")
    for kind, count in failures.most_common():
        print(f"    {count:6,}  {kind}")
    return sum(failures.values())


def main(argv: Sequence[str] | None = None) -> int:
    """Fuzz every target; the exit status is 1 when anything failed."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=12_000, help="cases over the file targets (default 12000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--routes", type=int, default=None, help="cases for the routes (default: --cases)")
    args = parser.parse_args(argv)
    registry = build_plugins(entry_points=False).registry
    total_cases = total_failures = 0
    with tempfile.TemporaryDirectory() as folder:
        targets = _targets(registry, Settings(), Path(folder))
        for name, (strategy, check) in targets.items():
            started = time.perf_counter()
            tried, failures = fuzz_target(strategy, check, args.cases // len(targets), args.seed)
            total_failures += _report(name, tried, failures, time.perf_counter() - started)
            total_cases += tried
    routes_cases = args.cases if args.routes is None else args.routes
    if routes_cases:
        started = time.perf_counter()
        routes = _routes(routes_cases, args.seed)
        if isinstance(routes, str):
            print(f"routes: {routes}")
        else:
            total_failures += _report("routes", *routes, time.perf_counter() - started)
            total_cases += routes[0]
    print(f"total: {total_cases:,} cases, {total_failures:,} failures")
    return 1 if total_failures else 0


if __name__ == "__main__":
    sys.exit(main())
