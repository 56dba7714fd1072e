"""The worker pool a server configuration asks for: local processes, or actors on Ray."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from graphflow.server.workers.pool import WorkerPool
from graphflow.server.workers.process import ProcessWorker
from graphflow.server.workers.protocol import WorkerSpec

if TYPE_CHECKING:
    from graphflow.server.config import ServerConfig

log = logging.getLogger("graphflow.server.workers")


def worker_spec(config: ServerConfig) -> WorkerSpec:
    """What every worker of this server is built from; local workers split the machine's cores between them."""
    threads: int | None
    if config.ray:
        threads = max(1, int(config.worker_cpus))
    else:
        threads = max(1, (os.cpu_count() or 1) // config.workers) if config.workers > 1 else None
    return WorkerSpec(
        config.settings,
        config.plugins_dir,
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
    numbers = iter(range(1 << 30))
    return WorkerPool(
        lambda name: ProcessWorker(spec, name, gpu=(next(numbers) % gpus) if gpus else None), config.workers
    )


def connect_ray(address: str) -> None:
    """Join the Ray cluster at `address` ("auto", HOST:PORT) or start a local one ("local")."""
    import ray

    if ray.is_initialized():
        return
    if address == "local":
        ray.init(include_dashboard=False, log_to_driver=False)
    else:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)


def _ray_pool(config: ServerConfig, spec: WorkerSpec) -> WorkerPool:
    from graphflow.server.workers.ray_worker import RayWorker

    assert config.ray is not None
    connect_ray(config.ray)
    import ray

    gpus = int(ray.cluster_resources().get("GPU", 0)) if config.settings.device in ("auto", "cuda") else 0
    if gpus:
        size, resources = gpus, {"num_gpus": 1.0}
    else:
        size, resources = config.workers, {"num_cpus": config.worker_cpus}
    log.info("%d worker actor(s) on Ray, each with %s", size, resources)
    return WorkerPool(lambda name: RayWorker(spec, name, resources), size)


def _local_gpus(config: ServerConfig) -> int:
    if config.settings.device not in ("auto", "cuda"):
        return 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0
