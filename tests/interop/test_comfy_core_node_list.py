"""docs/comfyui-compatibility.md lists every ComfyUI core node type, and says the truth about which graphflow maps."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from graphflow.interop.comfy_nodes import LOAD_IMAGE_MASK, NODE_MAPS, SUPPORTED

DOC = Path(__file__).resolve().parents[2] / "docs" / "comfyui-compatibility.md"
SECTION = "## Every ComfyUI core node type"
HEADER = "| ComfyUI node | graphflow | why |"
API_HEADING = "### comfy_api_nodes (partner API nodes)"
UNCONFIRMED_HEADING = "### Newer nodes (module not confirmed)"
FRONTEND_VERSION = "1.58.1"  # the frontend whose node list the section was taken from

ROW = re.compile(r"^\| `(?P<node>[^`]+)` \| (?P<graphflow>[^|]*?) \| (?P<why>[^|]*?) \|$")
SUPPORTED_CELL = re.compile(r"^supported: `(?P<type_id>[^`]+)`")
COUNTS = re.compile(r"\*\*(?P<total>\d+) ComfyUI core node types, (?P<supported>\d+) supported\*\*")


@pytest.fixture(autouse=True)
def folder_settings() -> None:
    """These tests read a doc: they need none of the interop tests' tiny models (slow to build)."""


@pytest.fixture(autouse=True)
def comfy_folders() -> None:
    """Nor their input images."""


@dataclass(frozen=True)
class Row:
    """One table row: a ComfyUI node type and what the doc says graphflow does with it."""

    heading: str
    node: str
    graphflow: str
    why: str

    @property
    def supported(self) -> bool:
        """Whether the row says graphflow maps the type."""
        return self.graphflow.startswith("supported")

    @property
    def type_id(self) -> str | None:
        """The graphflow node type a supported row names first."""
        match = SUPPORTED_CELL.match(self.graphflow)
        return match["type_id"] if match else None


@cache
def section() -> str:
    """The doc's section listing every core node type."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start : end if end != -1 else len(text)]


@cache
def headings() -> list[str]:
    """The section's table headings, in order."""
    return [line for line in section().splitlines() if line.startswith("### ")]


@cache
def rows() -> list[Row]:
    """Every table row of the section, with the heading it stands under."""
    found: list[Row] = []
    heading = ""
    for line in section().splitlines():
        if line.startswith("### "):
            heading = line
        elif line.startswith("| `"):
            match = ROW.match(line)
            assert match, f"malformed row under {heading!r}: {line}"
            found.append(Row(heading, match["node"], match["graphflow"].strip(), match["why"].strip()))
    return found


@cache
def api_nodes() -> list[str]:
    """The partner API node types, listed by name under their own heading."""
    return re.findall(r"`([^`]+)`", section().split(API_HEADING, 1)[1])


def by_node() -> dict[str, Row]:
    """The rows by ComfyUI node type."""
    return {row.node: row for row in rows()}


def test_every_mapped_comfy_type_is_listed_as_supported_with_its_graphflow_type() -> None:
    listed = by_node()
    for comfy, mapping in NODE_MAPS.items():
        assert comfy in listed, f"{comfy} is mapped but not listed"
        row = listed[comfy]
        assert row.supported, f"{comfy} is mapped but listed as {row.graphflow!r}"
        assert row.type_id == mapping.target, f"{comfy} becomes {mapping.target}, the doc says {row.type_id}"


def test_every_row_marked_supported_is_a_type_the_importer_maps() -> None:
    for row in rows():
        if row.supported:
            assert row.node in SUPPORTED, f"{row.node} is listed as supported but not mapped"
    load_image_mask = by_node()[LOAD_IMAGE_MASK]
    assert load_image_mask.supported and load_image_mask.type_id == "graphflow.image.load"


def test_no_comfy_type_is_listed_twice() -> None:
    names = [row.node for row in rows()] + api_nodes()
    twice = sorted({name for name in names if names.count(name) > 1})
    assert not twice, f"listed more than once: {twice}"


def test_every_unsupported_row_says_why() -> None:
    for row in rows():
        if not row.supported:
            assert row.graphflow == "not supported", f"{row.node}: {row.graphflow!r}"
            assert row.why and row.why != "—", f"{row.node} is not supported but the doc does not say why"


def test_every_table_has_the_three_columns() -> None:
    blocks = section().split("\n### ")[1:]
    tables = [block for block in blocks if not block.startswith(API_HEADING[4:])]
    for block in tables:
        assert HEADER in block.splitlines(), f"table {block.splitlines()[0]!r} lacks the header {HEADER}"


def test_tables_follow_comfyui_modules_in_order() -> None:
    modules = headings()
    assert modules[0] == "### nodes.py"
    assert modules[-2:] == [UNCONFIRMED_HEADING, API_HEADING]
    extras = [heading.removeprefix("### comfy_extras/") for heading in modules[1:-2]]
    assert all(name.startswith("nodes_") and name.endswith(".py") for name in extras), extras
    assert extras == sorted(extras)


def test_the_counts_line_matches_the_tables() -> None:
    counts = COUNTS.search(section())
    assert counts, "the section has no counts line"
    assert int(counts["total"]) == len(rows())
    assert int(counts["supported"]) == sum(row.supported for row in rows())
    assert f"the {len(api_nodes())} partner API node types" in section()


def frontend_node_list() -> set[str]:
    """The node types of the installed ComfyUI frontend's English node definitions (its i18n keys)."""
    package = pytest.importorskip("comfyui_frontend_package", reason="needs `pip install comfyui-frontend-package`")
    version = importlib.metadata.version("comfyui-frontend-package")
    if version != FRONTEND_VERSION:
        pytest.skip(f"the doc lists frontend {FRONTEND_VERSION}'s node types; {version} is installed")
    assets = Path(str(importlib.resources.files(package) / "static" / "assets"))
    for source_map in sorted(assets.glob("nodeDefs-*.js.map")):
        loaded = json.loads(source_map.read_text(encoding="utf-8"))
        if loaded["sources"][0].endswith("locales/en/nodeDefs.json"):
            return set(json.loads(loaded["sourcesContent"][0]))
    pytest.fail(f"frontend {version} ships no English nodeDefs.json source map")


def test_the_list_is_the_whole_node_list_of_the_frontend_it_was_taken_from() -> None:
    expected = frontend_node_list()
    listed = {name.replace(".", "_") for name in [row.node for row in rows()] + api_nodes()}  # i18n keys use "_"
    assert sorted(expected - listed) == [], "node types of the frontend's list missing from the doc"
    assert sorted(listed - expected) == [], "node types in the doc that the frontend's list lacks"
