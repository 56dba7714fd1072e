"""A real server process killed with SIGKILL mid-run loses no prompt: the one running runs again, once."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.server.helpers import SERVER_PLUGIN, workflow


def start_server(tmp_path: Path, plugins: Path, *options: str) -> tuple[subprocess.Popen, str]:
    """Start `python -m graphflow.server` on a free loopback port; return it and its base URL."""
    command = [
        sys.executable,
        "-m",
        "graphflow.server",
        "--port",
        "0",
        "--user-dir",
        str(tmp_path / "user"),
        "--output",
        str(tmp_path / "output"),
        "--input",
        str(tmp_path / "input"),
        "--plugins",
        str(plugins),
        *options,
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=Path(__file__).resolve().parents[2]
    )
    line = process.stdout.readline()
    assert "serving on" in line, line
    return process, line.split("serving on ", 1)[1].split()[0].rstrip("/")


def call(base: str, method: str, path: str, body: Any = None) -> Any:
    """One JSON request to the server."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def wait_for(condition, timeout: float = 180.0) -> None:  # generous: the first worker imports torch
    """Poll until `condition()` is true."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def kill_with_everything_it_started(process: subprocess.Popen) -> None:
    """SIGKILL the server and every process it started (its workers, a local Ray), as a machine crash would."""
    family = psutil.Process(process.pid).children(recursive=True)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    for child in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()


WORKERS = {
    "process": (),
    "ray": ("--ray", "local", "--workers", "2", "--worker-cpus", "1"),
}


@pytest.mark.parametrize("workers", list(WORKERS))
def test_kill_9_mid_run_then_restart_runs_every_queued_prompt_exactly_once(tmp_path: Path, workers: str):
    if workers == "ray":
        pytest.importorskip("ray", reason="the Ray variant needs `pip install ray`")
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "servertest.py").write_text(SERVER_PLUGIN)
    log = tmp_path / "runs.log"
    lines = lambda: log.read_text().split("\n")[:-1] if log.exists() else []
    process, base = start_server(tmp_path, plugins, *WORKERS[workers])
    try:
        ids = [
            call(
                base,
                "POST",
                "/api/prompt",
                {"workflow": workflow(label=f"p{i:02d}", steps=2, delay=0.05, log=str(log))},
            )["prompt_id"]
            for i in range(20)
        ]
        wait_for(lambda: sum(x.startswith("done") for x in lines()) >= 3 and lines()[-1].startswith("start"))
        kill_with_everything_it_started(process)
    finally:
        process.kill()
        process.wait()
    started = {x.split()[1] for x in lines() if x.startswith("start")}
    process, base = start_server(tmp_path, plugins, *WORKERS[workers])
    try:
        wait_for(lambda: call(base, "GET", "/api/queue") == {"running": None, "running_all": [], "pending": []})
        records = {i: call(base, "GET", f"/api/prompt/{i}") for i in ids}
        assert Counter(r["status"] for r in records.values()) == {"success": 20}
        retried = {r["workflow"]["nodes"]["slow"]["inputs"]["label"] for r in records.values() if r["attempts"] == 2}
        assert 1 <= len(retried) <= (2 if workers == "ray" else 1) and retried <= started  # the ones running
        assert all(r["attempts"] in (1, 2) for r in records.values())
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    done = Counter(x.split()[1] for x in lines() if x.startswith("done"))
    assert set(done) == {f"p{i:02d}" for i in range(20)}
    assert all(count == 1 for label, count in done.items() if label not in retried)  # only those ran again
    # an attempt killed before its node finished left no file; one killed between its node's end and the
    # prompt's may have (the server forgets, across a restart, which files an attempt wrote)
    assert 20 <= len(list((tmp_path / "output").iterdir())) <= 20 + len(retried)
