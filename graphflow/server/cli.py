"""`graphflow serve`: the command that starts the server."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal
import sys
from pathlib import Path

from graphflow.server.config import DEFAULT_PORT, FRONTENDS, ServerConfig
from graphflow.settings import DEVICES, Settings

TOKEN_ENV = "GRAPHFLOW_TOKEN"
SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?", re.IGNORECASE)
_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):(\d{1,5})")


def add_serve_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `serve` to the `graphflow` command's subparsers."""
    parser = subparsers.add_parser("serve", help="run the server and the browser editor")
    add_serve_arguments(parser)
    parser.set_defaults(handler=serve)
    return parser


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `graphflow serve`."""
    from graphflow.models.options import add_model_folder_arguments, add_model_speed_arguments

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
    add_model_folder_arguments(parser)
    add_model_speed_arguments(parser)
    _add_worker_arguments(parser)
    _add_limit_arguments(parser)


def _add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("workers", "where nodes run (see docs/distributed.md)")
    group.add_argument(
        "--workers",
        type=_count,
        default=ServerConfig.workers,
        metavar="N",
        help="worker processes on this machine, one GPU each when there are GPUs (default: 1); with --ray on "
        "machines without GPUs, the number of worker actors",
    )
    group.add_argument(
        "--ray",
        type=ray_address,
        metavar="local|auto|HOST:PORT",
        help="run workers as Ray actors, one per GPU of the cluster (or --workers of --worker-cpus each): "
        "'local' starts Ray here, 'auto' or HOST:PORT joins a running cluster (needs pip install \"graphflow[ray]\")",
    )
    group.add_argument(
        "--worker-cpus",
        type=_positive_number,
        default=ServerConfig.worker_cpus,
        metavar="C",
        help="CPUs each Ray worker actor reserves when there are no GPUs (default: 1)",
    )
    group.add_argument(
        "--worker-memory",
        type=parse_size,
        metavar="SIZE",
        help="memory cap of each worker, e.g. 8G or 512M: a prompt that takes its worker past it fails (default: none)",
    )
    group.add_argument(
        "--interrupt-grace",
        type=_positive_number,
        default=ServerConfig.interrupt_grace_s,
        metavar="S",
        help="seconds an interrupted node has to stop before its worker is killed and replaced (default: 10)",
    )


def _add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("limits", "budgets checked before a prompt is queued (default: graphflow's)")
    group.add_argument("--max-pixels", type=_count, metavar="N", help="most pixels in one latent or image")
    group.add_argument("--max-batch", type=_count, metavar="N", help="largest batch size")
    group.add_argument("--max-steps", type=_count, metavar="N", help="most sampling steps")


def parse_size(text: str) -> int:
    """A byte count from e.g. "8G", "512M", "1.5GiB" or "1048576" (binary units, case-insensitive)."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size; give bytes or a number with K, M, G or T (8G, 512M)")
    size = int(float(match[1]) * SIZE_UNITS[match[2].upper()])
    if size < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is no memory at all")
    return size


def ray_address(text: str) -> str:
    """`local`, `auto` or a cluster's HOST:PORT (the head node's GCS port, 6379 by default)."""
    if text in ("local", "auto"):
        return text
    match = _HOST_PORT.fullmatch(text)
    if match is None or not 0 < int(match[2]) < 65536:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not local, auto or HOST:PORT (the head node's address, e.g. 10.0.0.5:6379)"
        )
    return text


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a number above 0")
    return value


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """The server configuration the parsed options ask for (and the GRAPHFLOW_* variables, read now)."""
    from graphflow.cli import plugins_folder
    from graphflow.models.options import model_settings

    user_dir = Path(args.user_dir)
    plugins = plugins_folder(args)
    settings = Settings.from_environment(
        output_dir=Path(args.output),
        input_dir=args.input,
        temp_dir=user_dir / "temp",
        models_dir=args.models,
        device=args.device,
        max_image_pixels=args.max_pixels,
        max_batch=args.max_batch,
        max_steps=args.max_steps,
        **model_settings(args, compile_cache_dir=user_dir / "torch-compile"),
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
        workers=args.workers,
        ray=args.ray,
        worker_cpus=args.worker_cpus,
        worker_memory_bytes=args.worker_memory,
        interrupt_grace_s=args.interrupt_grace,
    )


def serve(args: argparse.Namespace) -> int:
    """Run the server until SIGINT/SIGTERM; returns the exit status."""
    from graphflow.server.comfy.frontend import FrontendMissing
    from graphflow.server.queue_store import StorageUnavailable
    from graphflow.server.security import UnsafeBinding, check_binding, generate_token
    from graphflow.server.workers.factory import RayUnavailable, connect_ray_for, require_ray

    if args.generate_token:
        print(generate_token())
        return 0
    try:
        config = config_from_args(args)
        check_binding(config.host, config.token)
        if config.ray:
            require_ray()
    except (FrontendMissing, UnsafeBinding, RayUnavailable, ValueError) as exc:
        print(f"graphflow: error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if config.ray:
            connect_ray_for(config)  # before the plugins load: a cluster that cannot be joined is told at once
        asyncio.run(_serve(config))
    except StorageUnavailable as exc:
        print(f"graphflow: {exc}", file=sys.stderr)
        return 1
    except RayUnavailable as exc:
        print(f"graphflow: error: {exc}", file=sys.stderr)
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
