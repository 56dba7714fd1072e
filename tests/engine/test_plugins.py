"""Plugins: built-ins through the same hook, entry points, a local folder; broken ones are skipped."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from graphflow.plugins import build_plugins
from graphflow.workflow import parse_workflow
from tests.running import executor_for

ROOT = Path(__file__).resolve().parents[2]

GOOD = '''
from graphflow.api import STRING, Input, Output, hookimpl, node

@node("shout.upper", version="1.0.0")
class Upper:
    """Upper-case text."""
    text = Input(STRING, default="")
    result = Output(STRING)
    def run(self, ctx, text):
        return text.upper()

@hookimpl
def register_nodes(register):
    register(Upper)
'''

CLAIMS_UPPER = GOOD.replace("Upper", "Other")
BROKEN_IMPORT = "import module_that_does_not_exist\n"
BAD_DECLARATION = """
from graphflow.api import FLOAT, Input, Output, hookimpl, node

@node("bad.node", version="1.0.0")
class Bad:
    amount = Input(FLOAT, default="lots")
    result = Output(FLOAT)
    def run(self, ctx, amount):
        return amount

@hookimpl
def register_nodes(register):
    register(Bad)
"""
RAISES_IN_HOOK = """
from graphflow.api import hookimpl

@hookimpl
def register_nodes(register):
    raise RuntimeError("cannot register today")
"""


def _problems(plugins):
    return {p.plugin: p.message for p in plugins.registry.problems}


def test_builtins_come_through_the_register_hook():
    plugins = build_plugins(entry_points=False)
    assert plugins.registry.providers["graphflow.math.float"] == "builtin.math"
    assert plugins.registry.providers["graphflow.text.save"] == "builtin.text"
    assert not plugins.registry.problems


def test_broken_plugins_are_reported_by_name_and_the_rest_still_work(plugin_dir):
    plugin_dir("good", GOOD)
    plugin_dir("broken", BROKEN_IMPORT)
    plugin_dir("baddecl", BAD_DECLARATION)
    folder = plugin_dir("raises", RAISES_IN_HOOK)
    plugins = build_plugins(folder, entry_points=False)
    problems = _problems(plugins)
    assert "module_that_does_not_exist" in problems["local:broken"]
    assert "bad.node" in problems["local:baddecl"] and "amount" in problems["local:baddecl"]
    assert "cannot register today" in problems["local:raises"]
    assert "shout.upper" in plugins.registry.specs and "graphflow.math.float" in plugins.registry.specs
    workflow = parse_workflow(
        {
            "format": "graphflow.workflow",
            "version": 1,
            "nodes": {
                "up": {"type": "shout.upper", "inputs": {"text": "hi"}},
                "save": {"type": "graphflow.text.save", "links": {"text": {"node": "up", "output": "result"}}},
            },
        }
    )
    result = executor_for(plugins, folder.parent).run(workflow)
    assert result.status == "success" and result.ui["save"]["texts"][0]["text"] == "HI"


def test_two_plugins_claiming_one_id_is_an_error_naming_both(plugin_dir):
    plugin_dir("first", GOOD)
    folder = plugin_dir("second", CLAIMS_UPPER)
    plugins = build_plugins(folder, entry_points=False)
    message = " ".join(p.message for p in plugins.registry.problems)
    assert "shout.upper" in message and "'local:first'" in message and "'local:second'" in message
    assert plugins.registry.get("shout.upper") is None
    assert "remove one" in plugins.registry.explain_unknown("shout.upper")
    assert plugins.registry.get("graphflow.math.float") is not None


def test_unknown_type_names_the_plugin_that_failed(plugin_dir):
    folder = plugin_dir("bad", BAD_DECLARATION)
    plugins = build_plugins(folder, entry_points=False)
    assert "local:bad" in plugins.registry.explain_unknown("bad.node", "local:bad")
    assert "'acme-nodes', which is not installed" in plugins.registry.explain_unknown("acme.blur", "acme-nodes")


def test_missing_plugins_folder_is_reported(tmp_path):
    plugins = build_plugins(tmp_path / "nope", entry_points=False)
    assert any("does not exist" in p.message for p in plugins.registry.problems)


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory) -> Path:
    """The example plugin pip-installed (with its entry point) into a folder on the path."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(ROOT / "examples" / "graphflow-example-plugin"),
        ],
        check=True,
        capture_output=True,
    )
    return target


def test_installed_example_plugin_appears_in_graphflow_nodes_and_runs(installed_example, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(installed_example)}
    listed = subprocess.run(
        [sys.executable, "-m", "graphflow.cli", "nodes", "--json"], env=env, capture_output=True, text=True, check=True
    )
    by_type = {n["type"]: n for n in json.loads(listed.stdout)}
    assert by_type["example.word_count"]["plugin"] == "example"
    workflow = tmp_path / "count.json"
    workflow.write_text(
        json.dumps(
            {
                "format": "graphflow.workflow",
                "version": 1,
                "nodes": {
                    "count": {"type": "example.word_count", "inputs": {"text": "three small words"}},
                    "text": {
                        "type": "graphflow.text.format_number",
                        "links": {"value": {"node": "count", "output": "count"}},
                    },
                    "save": {"type": "graphflow.text.save", "links": {"text": {"node": "text", "output": "result"}}},
                },
            }
        )
    )
    ran = subprocess.run(
        [sys.executable, "-m", "graphflow.cli", "run", str(workflow), "--output", str(tmp_path / "out"), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, ran.stderr
    assert Path(ran.stdout.strip()).read_text() == "3"
