"""A real server process killed with SIGKILL mid-run loses no prompt: the one running runs again, once."""

from __future__ import annotations

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

from tests.server.helpers import SERVER_PLUGIN, workflow


def start_server(tmp_path: Path, plugins: Path) -> tuple[subprocess.Popen, str]:
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


def test_kill_9_mid_run_then_restart_runs_every_queued_prompt_exactly_once(tmp_path: Path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "servertest.py").write_text(SERVER_PLUGIN)
    log = tmp_path / "runs.log"
    lines = lambda: log.read_text().split("\n")[:-1] if log.exists() else []
    process, base = start_server(tmp_path, plugins)
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
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        process.kill()
        process.wait()
    in_flight = lines()[-1].split()[1]
    process, base = start_server(tmp_path, plugins)
    try:
        wait_for(lambda: call(base, "GET", "/api/queue") == {"running": None, "running_all": [], "pending": []})
        records = {i: call(base, "GET", f"/api/prompt/{i}") for i in ids}
        assert Counter(r["status"] for r in records.values()) == {"success": 20}
        retried = [r for r in records.values() if r["attempts"] == 2]
        assert len(retried) == 1 and retried[0]["workflow"]["nodes"]["slow"]["inputs"]["label"] == in_flight
        assert all(r["attempts"] == 1 for r in records.values() if r is not retried[0])
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    done = Counter(x.split()[1] for x in lines() if x.startswith("done"))
    assert set(done) == {f"p{i:02d}" for i in range(20)}
    assert all(count == 1 for label, count in done.items() if label != in_flight)  # only the retried one ran again
    assert len(list((tmp_path / "output").iterdir())) == 20  # the killed attempt left no file behind
