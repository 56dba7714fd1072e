"""Plugins cannot end or hang start-up: SystemExit, KeyboardInterrupt and slow imports become named problems."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from graphflow.plugins import Plugins, build_plugins
from graphflow.settings import Settings

GOOD = '''
from graphflow.api import STRING, Input, Output, hookimpl, node

@node("good.echo", version="1.0.0")
class Echo:
    """Give the text back."""
    text = Input(STRING, default="")
    result = Output(STRING)
    def run(self, ctx, text):
        return text

@hookimpl
def register_nodes(register):
    register(Echo)
'''
EXITS = "import sys\nsys.exit(3)\n"
INTERRUPTS = "raise KeyboardInterrupt\n"
# Blocks until the test lets it go (a file next to it appears), then would register a node.
HANGS = '''
import time
from pathlib import Path

while not Path(__file__).with_name("release").exists():
    time.sleep(0.02)

from graphflow.api import STRING, Output, hookimpl, node

@node("late.import", version="1.0.0")
class Late:
    """Arrives too late."""
    result = Output(STRING)
    def run(self, ctx):
        return "late"

@hookimpl
def register_nodes(register):
    register(Late)
'''
HANGS_IN_REGISTER = '''
import time
from pathlib import Path

from graphflow.api import STRING, Output, hookimpl, node

@node("late.register", version="1.0.0")
class Late:
    """Registered too late."""
    result = Output(STRING)
    def run(self, ctx):
        return "late"

@hookimpl
def register_nodes(register):
    while not Path(__file__).with_name("release").exists():
        time.sleep(0.02)
    register(Late)
'''
EXITS_IN_REGISTER = """
from graphflow.api import hookimpl

@hookimpl
def register_nodes(register):
    raise SystemExit("no nodes today")
"""


@pytest.fixture
def release(plugin_dir) -> Iterator[Path]:
    """The file that lets a held plugin go on; made at the end of the test so no thread stays blocked."""
    folder = plugin_dir("good", GOOD)
    yield folder / "release"
    (folder / "release").touch()


def problems(plugins: Plugins) -> dict[str, str]:
    """Plugin name -> the problem recorded against it."""
    return {p.plugin: p.message for p in plugins.registry.problems}


def wait_for_thread(name: str) -> None:
    """Wait until the plugin thread called `name` has finished."""
    for thread in threading.enumerate():
        if thread.name == name:
            thread.join(10)
            assert not thread.is_alive(), name


def test_systemexit_and_keyboardinterrupt_at_import_are_problems_naming_the_plugin(plugin_dir):
    plugin_dir("exits", EXITS)
    folder = plugin_dir("interrupts", INTERRUPTS)
    plugin_dir("good", GOOD)
    plugins = build_plugins(folder, entry_points=False, builtins=())
    assert problems(plugins) == {
        "local:exits": "failed to import: SystemExit: 3",
        "local:interrupts": "failed to import: KeyboardInterrupt",
    }
    assert "good.echo" in plugins.registry.specs
    assert plugins.manager.get_plugin("local:exits") is None


def test_a_plugin_hanging_at_import_is_named_in_the_log_and_the_problems_and_the_rest_load(plugin_dir, release, caplog):
    folder = plugin_dir("hangs", HANGS)
    caplog.set_level(logging.INFO, logger="graphflow.plugins")
    started = time.monotonic()
    plugins = build_plugins(folder, entry_points=False, builtins=(), import_timeout_s=0.5)
    assert time.monotonic() - started < 5
    assert problems(plugins) == {"local:hangs": "did not finish importing within 0.5 s; graphflow goes on without it"}
    assert f"importing plugin local:hangs from {folder / 'hangs.py'}" in caplog.messages
    assert "good.echo" in plugins.registry.specs


def test_a_plugin_that_finishes_importing_after_the_limit_adds_nothing(plugin_dir, release):
    folder = plugin_dir("hangs", HANGS)
    plugins = build_plugins(folder, entry_points=False, builtins=(), import_timeout_s=0.5)
    release.touch()
    wait_for_thread("import of plugin local:hangs")
    assert "late.import" not in plugins.registry.specs
    assert plugins.manager.get_plugin("local:hangs") is None
    assert [impl.plugin_name for impl in plugins.hooks.register_nodes.get_hookimpls()] == ["local:good"]


def test_a_register_nodes_hook_over_the_limit_is_named_and_none_of_its_nodes_arrive_later(plugin_dir, release):
    folder = plugin_dir("slowreg", HANGS_IN_REGISTER)
    plugins = build_plugins(folder, entry_points=False, builtins=(), import_timeout_s=0.5)
    assert problems(plugins) == {
        "local:slowreg": "register_nodes did not finish within 0.5 s; graphflow goes on without it"
    }
    release.touch()
    wait_for_thread("register_nodes of plugin local:slowreg")
    assert "late.register" not in plugins.registry.specs and "good.echo" in plugins.registry.specs
    assert plugins.manager.get_plugin("local:slowreg") is None


def test_systemexit_in_register_nodes_is_a_problem_naming_the_plugin(plugin_dir):
    folder = plugin_dir("exitsreg", EXITS_IN_REGISTER)
    plugin_dir("good", GOOD)
    plugins = build_plugins(folder, entry_points=False, builtins=())
    assert problems(plugins) == {"local:exitsreg": "register_nodes failed: SystemExit: no nodes today"}
    assert "good.echo" in plugins.registry.specs


def test_a_real_ctrl_c_still_stops_start_up(plugin_dir, release):
    folder = plugin_dir("hangs", HANGS)
    # Ctrl-C raises KeyboardInterrupt as in a terminal, also where the tests were started in the background
    # (a non-interactive shell starts background jobs with SIGINT ignored)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
        with pytest.raises(KeyboardInterrupt):
            build_plugins(folder, entry_points=False, builtins=(), import_timeout_s=30)
    finally:
        signal.signal(signal.SIGINT, previous)


def test_the_import_limit_is_a_setting_read_from_the_environment():
    variable = "GRAPHFLOW_PLUGIN_IMPORT_TIMEOUT"
    assert Settings().plugin_import_timeout_s == 30
    assert Settings.from_environment({variable: "2.5"}).plugin_import_timeout_s == 2.5
    with pytest.raises(ValueError, match=f"{variable}='soon' is not a number of seconds"):
        Settings.from_environment({variable: "soon"})
    for bad in ("0", "-1", "inf", "nan"):
        with pytest.raises(ValueError, match="plugin_import_timeout_s must be a number of seconds > 0"):
            Settings.from_environment({variable: bad})
