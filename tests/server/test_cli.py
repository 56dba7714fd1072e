"""`graphflow serve` options and how they become a server configuration."""

from __future__ import annotations

import argparse
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
