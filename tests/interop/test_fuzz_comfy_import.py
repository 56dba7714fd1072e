"""Fuzzing the ComfyUI importer: any JSON value, the shipped ComfyUI files (API and UI formats, subgraphs and
group nodes) changed at random, and PNGs with random text chunks and damage give only the project's own
problems, in messages under 5,000 characters. `benchmarks/fuzz.py` runs the same strategies longer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from graphflow.plugins import Plugins
from graphflow.settings import Settings
from tests.engine.fuzzing import COMFY_FILES, WORKFLOWS, check_importer, check_png, json_values, loaded, mutated, pngs

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
COMFY = [loaded(path) for path in COMFY_FILES]
SETTINGS = Settings()


@FUZZ
@given(json_values())
def test_any_json_value_gives_only_import_problems(plugins: Plugins, value: Any) -> None:
    check_importer(value, plugins.registry, SETTINGS)


@FUZZ
@given(mutated(COMFY))
def test_comfyui_files_changed_at_random_give_only_import_problems(plugins: Plugins, document: Any) -> None:
    check_importer(document, plugins.registry, SETTINGS)


@pytest.fixture(scope="module")
def png_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where each fuzzed PNG is written before it is opened as a file."""
    return tmp_path_factory.mktemp("fuzzed-pngs")


@FUZZ
@given(pngs(COMFY + [loaded(path) for path in WORKFLOWS]))
def test_pngs_with_random_chunks_and_damage_give_only_import_problems(
    plugins: Plugins, png_folder: Path, raw: bytes
) -> None:
    check_png(raw, png_folder, plugins.registry, SETTINGS)
