"""The application factory: middlewares, routes, and the engine started in a cleanup context."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web

from graphflow.plugins import build_plugins
from graphflow.server import (
    routes_files,
    routes_library,
    routes_prompts,
    routes_static,
    routes_sweep,
    routes_workers,
    routes_ws,
)
from graphflow.server.comfy import setup_comfy
from graphflow.server.config import ServerConfig
from graphflow.server.dispatcher import Dispatcher
from graphflow.server.errors import error_middleware
from graphflow.server.events import EventHub
from graphflow.server.files import FileStore
from graphflow.server.keys import CONFIG, DISPATCHER, FILES, HUB, PLUGINS, STARTED, STORE
from graphflow.server.queue_store import QueueStore
from graphflow.server.security import make_security_middleware
from graphflow.server.sweeps import SWEEPS, SweepCollector
from graphflow.server.workers.factory import make_pool
from graphflow.server.workers.publish import OutputPublisher

log = logging.getLogger("graphflow.server")
SHUTDOWN_WAIT_S = 10.0
STORAGE_CHECK_S = 2.0


def create_app(config: ServerConfig, *, storage_check_s: float = STORAGE_CHECK_S) -> web.Application:
    """A ready-to-run aiohttp application for `config`; the engine starts with the app.

    Start-up raises `StorageUnavailable` as it is when the queue database cannot be used; the database file is
    checked every `storage_check_s` seconds besides on every write.
    """
    app = web.Application(
        middlewares=[error_middleware, make_security_middleware(config.host, config.token)],
        client_max_size=config.max_upload_bytes + 1024 * 1024,
    )
    app[CONFIG] = config
    app[FILES] = FileStore(config.settings)
    app[STARTED] = time.time()
    app.cleanup_ctx.append(functools.partial(_engine, storage_check_s=storage_check_s))
    app.on_shutdown.append(_close_websockets)
    modules = (routes_prompts, routes_sweep, routes_files, routes_library, routes_workers, routes_ws)
    own = [r for m in modules for r in m.routes]
    setup_comfy(app, [r for r in own if isinstance(r, web.RouteDef)])  # graphflow's routes and ComfyUI's
    app.add_routes(routes_static.routes)  # last: its catch-all must not hide the others
    return app


async def _engine(app: web.Application, storage_check_s: float) -> AsyncIterator[None]:
    config = app[CONFIG]
    store = QueueStore(config.database)  # first: an unusable database stops start-up before anything runs
    requeued, failed = store.recover()
    for prompt_id in requeued:
        log.warning("prompt %s was running when the server stopped; it is queued again in its place", prompt_id)
    for prompt_id in failed:
        log.warning("prompt %s was running when the server stopped, too many times; it failed", prompt_id)
    settings = config.settings
    for folder in (settings.output_dir, settings.input_dir, settings.temp_dir, config.user_workflows_dir):
        folder.mkdir(parents=True, exist_ok=True)
    loop = asyncio.get_running_loop()
    plugins = await loop.run_in_executor(  # the catalogue and validation; nodes run only in the workers
        None,
        lambda: build_plugins(
            config.plugins_dir, entry_points=config.entry_points, import_timeout_s=settings.plugin_import_timeout_s
        ),
    )
    for problem in plugins.registry.problems:
        log.warning("%s", problem)
    workers = await loop.run_in_executor(None, make_pool, config)
    workers.start()
    hub = EventHub()
    dispatcher = Dispatcher(
        store,
        hub,
        workers,
        OutputPublisher(settings),
        plugins.registry,
        interrupt_grace_s=config.interrupt_grace_s,
    )
    app[PLUGINS], app[STORE], app[HUB], app[DISPATCHER] = plugins, store, hub, dispatcher
    app[SWEEPS] = sweeps = SweepCollector(store, dispatcher, app[FILES])
    dispatcher.listeners.append(sweeps.prompt_ended)
    dispatcher.publish_queue()
    tasks = [
        loop.create_task(dispatcher.run_forever(), name="graphflow-dispatcher"),
        loop.create_task(_watch_storage(store, dispatcher, storage_check_s), name="graphflow-storage-check"),
        loop.create_task(sweeps.run_forever(), name="graphflow-sweeps"),
    ]
    yield
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await dispatcher.close()
    try:
        await asyncio.wait_for(workers.close(), SHUTDOWN_WAIT_S)
    except TimeoutError:
        log.warning("the workers did not stop within %.0f s; exiting anyway", SHUTDOWN_WAIT_S)
    store.close()


async def _watch_storage(store: QueueStore, dispatcher: Dispatcher, interval_s: float) -> None:
    """Check the database file every `interval_s` (it may have vanished or turned read-only while idle)."""
    while True:
        await asyncio.sleep(interval_s)
        was_usable = store.problem is None
        try:
            usable = await asyncio.to_thread(store.check)
        except Exception:
            log.exception("checking the queue database %s failed", store.path)
            continue
        if usable and not was_usable:
            dispatcher.notify()


async def _close_websockets(app: web.Application) -> None:
    if HUB in app:
        await app[HUB].close()
