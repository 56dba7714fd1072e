"""`graphflow serve` options for workers and limits: what they set, and the clear refusal of bad values."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys

import pytest

from graphflow.server.cli import add_serve_command, config_from_args, parse_size

RAY_INSTALL = 'pip install "graphflow[ray]"'


def parse(*options: str) -> argparse.Namespace:
    """`graphflow serve OPTIONS` parsed as graphflow's own parser does."""
    parser = argparse.ArgumentParser(prog="graphflow")
    add_serve_command(parser.add_subparsers(dest="command"))
    return parser.parse_args(["serve", *options])


def test_worker_and_limit_options_reach_the_configuration():
    config = config_from_args(
        parse(
            *("--workers", "3", "--ray", "10.0.0.5:6379", "--worker-cpus", "2.5", "--worker-memory", "8G"),
            *("--interrupt-grace", "4", "--max-pixels", "1000000", "--max-batch", "8", "--max-steps", "150"),
        )
    )
    assert (config.workers, config.ray, config.worker_cpus) == (3, "10.0.0.5:6379", 2.5)
    assert (config.worker_memory_bytes, config.interrupt_grace_s) == (8 << 30, 4.0)
    settings = config.settings
    assert (settings.max_image_pixels, settings.max_batch, settings.max_steps) == (1_000_000, 8, 150)


def test_without_worker_options_one_local_worker_runs_with_graphflows_limits():
    config = config_from_args(parse())
    assert (config.workers, config.ray, config.worker_memory_bytes, config.interrupt_grace_s) == (1, None, None, 10.0)
    default = type(config.settings)()
    assert (config.settings.max_batch, config.settings.max_steps) == (default.max_batch, default.max_steps)


@pytest.mark.parametrize(
    ("text", "size"),
    [("8G", 8 << 30), ("512M", 512 << 20), ("1.5GiB", 3 << 29), ("64kb", 64 << 10), ("1048576", 1 << 20)],
)
def test_memory_sizes_are_read_in_binary_units(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("address", ["local", "auto", "10.0.0.5:6379", "head.example.org:6380", "[::1]:6379"])
def test_ray_takes_local_auto_or_a_cluster_address(address):
    assert config_from_args(parse("--ray", address)).ray == address


@pytest.mark.parametrize(
    ("options", "refusal"),
    [
        (["--workers", "0"], "argument --workers: 0 is less than 1"),
        (["--workers", "two"], "argument --workers: 'two' is not a whole number"),
        (["--ray", "cluster"], "argument --ray: 'cluster' is not local, auto or HOST:PORT"),
        (["--ray", "head:70000"], "argument --ray: 'head:70000' is not local, auto or HOST:PORT"),
        (["--worker-cpus", "0"], "argument --worker-cpus: 0 is not a number above 0"),
        (["--worker-memory", "8X"], "argument --worker-memory: '8X' is not a size"),
        (["--worker-memory", "0M"], "argument --worker-memory: '0M' is no memory at all"),
        (["--interrupt-grace", "inf"], "argument --interrupt-grace: inf is not a number above 0"),
        (["--max-pixels", "-5"], "argument --max-pixels: -5 is less than 1"),
        (["--max-steps", "1e3"], "argument --max-steps: '1e3' is not a whole number"),
    ],
)
def test_bad_worker_and_limit_values_are_refused_naming_the_option(capsys, options, refusal):
    with pytest.raises(SystemExit) as stopped:
        parse(*options)
    assert stopped.value.code == 2 and refusal in capsys.readouterr().err


def test_ray_without_ray_installed_says_how_to_install_it(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where Ray is not installed
    args = parse("--ray", "local", "--port", "0")
    assert args.handler(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"graphflow: error: --ray needs Ray, which is not installed: {RAY_INSTALL}\n"


def test_a_ray_address_where_nothing_listens_stops_start_up_at_once_with_one_line(tmp_path):
    pytest.importorskip("ray", reason=f"needs Ray: {RAY_INSTALL}")
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    finished = subprocess.run(
        [sys.executable, "-m", "graphflow.server", "--ray", f"127.0.0.1:{port}", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert finished.returncode == 1 and "Traceback" not in finished.stderr
    assert f"graphflow: error: could not join the Ray cluster at 127.0.0.1:{port}: nothing answers" in finished.stderr
    assert "is `ray start --head` running there?" in finished.stderr
