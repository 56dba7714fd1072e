"""A real `graphflow serve` starts despite plugins that exit, interrupt or hang at import, and names each."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.engine.test_plugin_startup import EXITS, GOOD, INTERRUPTS

ROOT = Path(__file__).resolve().parents[2]
LOOPS_FOREVER = "import time\nwhile True:\n    time.sleep(0.05)\n"
START_S = 120  # a cold start imports torch and the built-in nodes


def wait_for_address(process: subprocess.Popen, stdout: Path) -> str:
    """The base URL the server prints once it listens; fails if it exits or takes too long first."""
    deadline = time.monotonic() + START_S
    while "serving on" not in (text := stdout.read_text()):
        assert process.poll() is None, f"the server exited with status {process.returncode}: {text}"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.1)
    return text.split("serving on ", 1)[1].split()[0].rstrip("/")


def test_the_server_starts_and_names_plugins_that_exit_interrupt_or_hang_at_import(tmp_path: Path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    for name, source in (("exits", EXITS), ("interrupts", INTERRUPTS), ("hangs", LOOPS_FOREVER), ("good", GOOD)):
        (plugins / f"{name}.py").write_text(source)
    stdout, stderr = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    command = [sys.executable, "-m", "graphflow.cli", "--plugins", str(plugins), "serve", "--port", "0"]
    command += ["--user-dir", str(tmp_path / "user"), "--output", str(tmp_path / "output")]
    env = {**os.environ, "GRAPHFLOW_PLUGIN_IMPORT_TIMEOUT": "1", "HF_HUB_OFFLINE": "1"}
    with stdout.open("w") as out, stderr.open("w") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, cwd=ROOT, env=env)
    try:
        base = wait_for_address(process, stdout)
        with urllib.request.urlopen(f"{base}/api/nodes", timeout=30) as response:
            catalogue = json.loads(response.read())
    finally:
        process.send_signal(signal.SIGTERM)
        status = process.wait(30)
    problems = {p["plugin"]: p["message"] for p in catalogue["problems"]}
    assert problems == {
        "local:exits": "failed to import: SystemExit: 3",
        "local:interrupts": "failed to import: KeyboardInterrupt",
        "local:hangs": "did not finish importing within 1 s; graphflow goes on without it",
    }
    assert {"good.echo", "graphflow.math.float"} <= {n["type"] for n in catalogue["nodes"]}
    log = stderr.read_text()
    assert f"importing plugin local:hangs from {plugins / 'hangs.py'}" in log
    assert "plugin 'local:hangs': did not finish importing within 1 s" in log
    assert status == 0  # the thread still stuck in the plugin's import does not keep the server from stopping
