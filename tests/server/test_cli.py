"""`graphflow serve` options, how they become a server configuration, and what it refuses to start with."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from graphflow.server.cli import add_serve_command, config_from_args


def parser_with_serve() -> argparse.ArgumentParser:
    """A parser shaped like graphflow's: a top-level --plugins and a `serve` subcommand."""
    parser = argparse.ArgumentParser(prog="graphflow")
    parser.add_argument("--plugins")
    add_serve_command(parser.add_subparsers(dest="command"))
    return parser


def test_every_serve_option_reaches_the_configuration(tmp_path: Path):
    args = parser_with_serve().parse_args(
        [
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            "9000",
            "--token",
            "T",
            "--output",
            "o",
            "--input",
            "i",
            "--user-dir",
            "u",
            "--db",
            "q.db",
            "--models",
            "m",
            "--plugins",
            "p",
        ]
    )
    config = config_from_args(args)
    assert (config.host, config.port, config.token) == ("0.0.0.0", 9000, "T")
    assert (config.settings.output_dir, config.settings.input_dir, config.user_dir) == (Path("o"), Path("i"), Path("u"))
    assert (config.database, config.settings.models_dir, config.plugins_dir) == (Path("q.db"), Path("m"), Path("p"))


def test_defaults_are_loopback_and_the_token_can_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("GRAPHFLOW_TOKEN", "from-env")
    config = config_from_args(parser_with_serve().parse_args(["--plugins", "top", "serve"]))
    assert (config.host, config.port, config.token) == ("127.0.0.1", 8188, "from-env")
    assert config.plugins_dir == Path("top") and config.database == Path("user") / "graphflow.db"


def serve(capsys, *options: str) -> tuple[int, str, str]:
    """Run `graphflow serve OPTIONS` in this process: its exit status, stdout and stderr."""
    args = parser_with_serve().parse_args(["serve", *options])
    status = args.handler(args)
    out, err = capsys.readouterr()
    return status, out, err


def test_a_missing_short_or_blank_token_off_loopback_is_refused_without_showing_it(capsys, monkeypatch):
    monkeypatch.delenv("GRAPHFLOW_TOKEN", raising=False)
    for options, refusal in (
        (["--host", "192.168.1.20"], "without a token"),
        (["--host", "0.0.0.0", "--token", "x"], "shorter than 16 characters"),
        (["--host", "0.0.0.0", "--token", "   "], "blank"),
    ):
        status, out, err = serve(capsys, *options, "--port", "0")
        assert (status, out) == (2, ""), options
        assert err.startswith("graphflow: error: ") and refusal in err and "Traceback" not in err, err
    monkeypatch.setenv("GRAPHFLOW_TOKEN", "Env-Short-7")
    status, _, err = serve(capsys, "--host", "0.0.0.0", "--port", "0")
    assert status == 2 and "shorter than 16 characters" in err and "Env-Short-7" not in err


def test_generate_token_prints_a_strong_token_and_exits(capsys):
    status, out, err = serve(capsys, "--generate-token")
    token = out.strip()
    assert (status, err, out) == (0, "", f"{token}\n")
    assert len(token) >= 32 and re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert serve(capsys, "--generate-token")[1].strip() != token


def test_an_unusable_queue_database_stops_start_up_with_one_line_naming_it(capsys, tmp_path: Path):
    database = tmp_path / "queue.db"
    database.write_text("this is a text file, not an SQLite database\n" * 100)
    status, out, err = serve(
        capsys, "--port", "0", "--db", str(database), "--user-dir", str(tmp_path / "user"), "--output", str(tmp_path)
    )
    assert (status, out) == (1, "")
    assert err.startswith(f"graphflow: the queue database {database} is not an SQLite database")
    assert err.count("\n") == 1 and "Traceback" not in err
