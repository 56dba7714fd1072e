"""Fuzzing the workflow loader and the validator: any JSON value, and the shipped workflows changed at random
(wrong types, NaN, huge integers, odd unicode digits, deep nesting, missing keys), give only the project's
own problems, in messages under 5,000 characters. `benchmarks/fuzz.py` runs the same strategies longer."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from graphflow.plugins import Plugins, build_plugins
from graphflow.settings import Settings
from tests.engine.fuzzing import WORKFLOWS, check_loader, json_values, loaded, mutated

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
SHIPPED = [loaded(path) for path in WORKFLOWS]
SETTINGS = Settings()


@pytest.fixture(scope="module")
def builtins() -> Plugins:
    """The built-in nodes, which the shipped workflows use."""
    return build_plugins(entry_points=False)


@FUZZ
@given(json_values())
def test_any_json_value_gives_only_workflow_problems(builtins: Plugins, value: Any) -> None:
    check_loader(value, builtins.registry, SETTINGS)


@FUZZ
@given(mutated(SHIPPED))
def test_shipped_workflows_changed_at_random_give_only_workflow_problems(builtins: Plugins, document: Any) -> None:
    check_loader(document, builtins.registry, SETTINGS)
