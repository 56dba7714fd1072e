"""What every worker is built from, and which GPU a local worker process gets."""

from __future__ import annotations

from pathlib import Path

from graphflow.server import ServerConfig
from graphflow.server.workers.factory import _least_used_gpu, worker_spec
from graphflow.server.workers.pool import WorkerPool
from graphflow.server.workers.process import ProcessWorker
from graphflow.settings import Settings


def test_workers_get_absolute_folders_so_a_worker_started_anywhere_reads_the_same_ones(tmp_path: Path):
    config = ServerConfig(
        settings=Settings(models_dir=Path("models"), input_dir=Path("input")),
        plugins_dir=Path("plugins"),
        worker_memory_bytes=1 << 30,
    )
    spec = worker_spec(config)
    assert spec.settings.models_dir == Path.cwd() / "models" and spec.settings.input_dir == Path.cwd() / "input"
    assert spec.plugins_dir == Path.cwd() / "plugins" and spec.memory_limit_bytes == 1 << 30


def test_each_worker_process_takes_the_gpu_the_fewest_live_workers_use():
    spec = worker_spec(ServerConfig())
    pool = WorkerPool(lambda name: ProcessWorker(spec, name), 0)

    def add(name: str) -> ProcessWorker:
        worker = ProcessWorker(spec, name, gpu=_least_used_gpu(pool, 2))
        pool.workers.append(worker)
        return worker

    first, second, third = add("a"), add("b"), add("c")
    assert [first.device, second.device, third.device] == ["cuda:0", "cuda:1", "cuda:0"]
    second.state = "dead"  # lost: its replacement goes to the GPU it leaves free
    assert add("d").device == "cuda:1"
    assert _least_used_gpu(pool, 0) is None


def test_local_workers_split_the_machines_cores_and_ray_workers_use_their_cpus(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert worker_spec(ServerConfig()).torch_threads is None  # one worker: torch's own default
    assert worker_spec(ServerConfig(workers=2)).torch_threads == 4
    assert worker_spec(ServerConfig(workers=16)).torch_threads == 1
    assert worker_spec(ServerConfig(ray="auto", worker_cpus=3)).torch_threads == 3
