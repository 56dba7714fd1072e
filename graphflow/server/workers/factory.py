"""The worker pool a server configuration asks for: local processes, or actors on Ray."""

from __future__ import annotations

import logging
import math
import os
import socket
from collections import Counter
from typing import TYPE_CHECKING

from graphflow.server.workers.pool import WorkerPool
from graphflow.server.workers.process import ProcessWorker
from graphflow.server.workers.protocol import WorkerSpec

if TYPE_CHECKING:
    from graphflow.server.config import ServerConfig

log = logging.getLogger("graphflow.server.workers")
REACH_TIMEOUT_S = 5.0
RAY_INSTALL = 'pip install "graphflow[ray]"'


class RayUnavailable(RuntimeError):
    """Ray is not installed, or the cluster asked for cannot be started or joined."""


def worker_spec(config: ServerConfig) -> WorkerSpec:
    """What every worker of this server is built from; folders are absolute, so a worker started anywhere
    (a Ray actor's own working folder, another machine with the same paths) reads the same ones."""
    settings = config.settings
    absolute = {
        name: path.resolve()
        for name in ("models_dir", "input_dir", "example_inputs_dir")
        if (path := getattr(settings, name)) is not None
    }
    threads: int | None  # workers sharing a machine split its cores
    if config.ray:
        threads = max(1, int(config.worker_cpus))
    else:
        threads = max(1, (os.cpu_count() or 1) // config.workers) if config.workers > 1 else None
    return WorkerSpec(
        settings.replace(**absolute),
        config.plugins_dir.resolve() if config.plugins_dir else None,
        config.entry_points,
        config.preview_max_side,
        config.worker_memory_bytes,
        threads,
    )


def make_pool(config: ServerConfig) -> WorkerPool:
    """`config.workers` local processes (one GPU each when there are GPUs), or Ray actors when `config.ray`."""
    spec = worker_spec(config)
    if config.ray:
        return _ray_pool(config, spec)
    gpus = _local_gpus(config)
    pool = WorkerPool(lambda name: ProcessWorker(spec, name, gpu=_least_used_gpu(pool, gpus)), config.workers)
    return pool


def require_ray() -> None:
    """Raise RayUnavailable, saying how to install it, when Ray cannot be imported."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise RayUnavailable(f"--ray needs Ray, which is not installed: {RAY_INSTALL}") from None


def connect_ray(address: str, cpus: float = 0.0) -> None:
    """Join the Ray cluster at `address` ("auto", HOST:PORT) or start a local one ("local") offering at least
    `cpus` CPUs; a Ray already initialised in this process is used as it is."""
    require_ray()
    import ray

    if ray.is_initialized():
        return
    try:
        if address == "local":
            have = os.cpu_count() or 1
            if cpus > have:
                log.warning("the workers ask for %g CPUs; this machine has %d, so they share them", cpus, have)
            ray.init(num_cpus=max(have, math.ceil(cpus)), include_dashboard=False, log_to_driver=False)
        else:
            if address != "auto":
                _check_reachable(address)
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayUnavailable(_cannot_connect(address, exc)) from None


def _cannot_connect(address: str, exc: Exception) -> str:
    if address == "local":
        return f"could not start a local Ray: {exc}"
    if address == "auto" and isinstance(exc, ConnectionError):
        return "no Ray cluster runs on this machine: start one with `ray start --head`, or give --ray HOST:PORT"
    return f"could not join the Ray cluster at {address}: {exc}"


def connect_ray_for(config: ServerConfig) -> None:
    """Start or join the Ray cluster `config.ray` names, with room for `config.workers` CPU workers."""
    assert config.ray is not None
    connect_ray(config.ray, config.workers * config.worker_cpus)


def _check_reachable(address: str) -> None:
    """Fail fast when nothing listens at HOST:PORT (Ray itself retries for minutes)."""
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=REACH_TIMEOUT_S).close()
    except OSError as exc:
        raise ConnectionError(
            f"nothing answers at {address} ({exc.strerror or exc}); is `ray start --head` running there?"
        ) from None


def _ray_pool(config: ServerConfig, spec: WorkerSpec) -> WorkerPool:
    from graphflow.server.workers.ray_worker import RayWorker

    connect_ray_for(config)
    import ray

    gpus = int(ray.cluster_resources().get("GPU", 0)) if config.settings.device in ("auto", "cuda") else 0
    if gpus:
        size, resources = gpus, {"num_gpus": 1.0}
    else:
        size, resources = config.workers, {"num_cpus": config.worker_cpus}
    if config.worker_memory_bytes:
        resources["memory"] = float(config.worker_memory_bytes)  # placed only where that much is free
    log.info("%d worker actor(s) on Ray, each with %s", size, resources)
    return WorkerPool(lambda name: RayWorker(spec, name, resources), size)


def _least_used_gpu(pool: WorkerPool, gpus: int) -> int | None:
    """The GPU the fewest live workers use (a replacement takes the place of the worker it replaces)."""
    if not gpus:
        return None
    used = Counter(w.gpu for w in pool.workers if isinstance(w, ProcessWorker) and w.state != "dead")
    return min(range(gpus), key=lambda gpu: used[gpu])


def _local_gpus(config: ServerConfig) -> int:
    if config.settings.device not in ("auto", "cuda"):
        return 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0
