"""`graphflow serve`: the command that starts the server."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from graphflow.server.config import DEFAULT_PORT, FRONTENDS, ServerConfig
from graphflow.settings import DEVICES, Settings

TOKEN_ENV = "GRAPHFLOW_TOKEN"


def add_serve_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `serve` to the `graphflow` command's subparsers."""
    parser = subparsers.add_parser("serve", help="run the server and the browser editor")
    add_serve_arguments(parser)
    parser.set_defaults(handler=serve)
    return parser


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `graphflow serve`."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT}; 0 = any)")
    parser.add_argument(
        "--token",
        help=f"require this token on every request (or {TOKEN_ENV}); needed to listen on anything but loopback, "
        "where it must have at least 16 characters",
    )
    parser.add_argument(
        "--generate-token", action="store_true", help="print a strong random token to use with --token, and exit"
    )
    parser.add_argument("--output", default="output", metavar="DIR", help="folder for saved files")
    parser.add_argument(
        "--input", metavar="DIR", help="folder for uploaded images (default: GRAPHFLOW_INPUT_DIR or ./input)"
    )
    parser.add_argument(
        "--user-dir",
        default="user",
        metavar="DIR",
        help="folder for saved workflows, temp files and the queue database",
    )
    parser.add_argument("--db", metavar="PATH", help="queue/history database (default: USER_DIR/graphflow.db)")
    parser.add_argument("--models", metavar="DIR", help="models root (default: GRAPHFLOW_MODELS_DIR or ./models)")
    parser.add_argument("--device", choices=DEVICES, help="where models run (default: GRAPHFLOW_DEVICE or auto)")
    parser.add_argument(
        "--frontend",
        choices=FRONTENDS,
        default="graphflow",
        help="the page at /: graphflow's editor (default) or ComfyUI's own frontend "
        "(needs the comfyui-frontend-package: pip install 'graphflow[comfyui]')",
    )
    # SUPPRESS keeps a top-level `graphflow --plugins DIR serve` value when this one is not given.
    parser.add_argument(
        "--plugins",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="also load plugins from this folder (or GRAPHFLOW_PLUGINS)",
    )


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """The server configuration the parsed options ask for (and the GRAPHFLOW_* variables, read now)."""
    from graphflow.cli import plugins_folder

    user_dir = Path(args.user_dir)
    plugins = plugins_folder(args)
    settings = Settings.from_environment(
        output_dir=Path(args.output),
        input_dir=args.input,
        temp_dir=user_dir / "temp",
        models_dir=args.models,
        device=args.device,
    )
    return ServerConfig(
        settings=settings,
        host=args.host,
        port=args.port,
        token=args.token or os.environ.get(TOKEN_ENV) or None,
        user_dir=user_dir,
        db_path=Path(args.db) if args.db else None,
        plugins_dir=Path(plugins) if plugins else None,
        frontend=getattr(args, "frontend", "graphflow"),
    )


def serve(args: argparse.Namespace) -> int:
    """Run the server until SIGINT/SIGTERM; returns the exit status."""
    from graphflow.server.comfy.frontend import FrontendMissing
    from graphflow.server.queue_store import StorageUnavailable
    from graphflow.server.security import UnsafeBinding, check_binding, generate_token

    if args.generate_token:
        print(generate_token())
        return 0
    try:
        config = config_from_args(args)
        check_binding(config.host, config.token)
    except (FrontendMissing, UnsafeBinding, ValueError) as exc:
        print(f"graphflow: error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(_serve(config))
    except StorageUnavailable as exc:
        print(f"graphflow: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"graphflow: error: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(config: ServerConfig) -> None:
    from aiohttp import web

    from graphflow.server.app import create_app

    runner = web.AppRunner(create_app(config), access_log=None, shutdown_timeout=5)
    try:
        await runner.setup()  # starts the engine: a storage fault surfaces here, and cleanup still runs
        await web.TCPSite(runner, config.host, config.port).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        host, port = runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in host else host
        print(
            f"graphflow: serving on http://{shown}:{port}/" + (" (token required)" if config.token else ""), flush=True
        )
        await stop.wait()
    finally:
        await runner.cleanup()
