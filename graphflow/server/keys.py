"""Typed application keys: what the app factory and its startup context put on the app."""

from __future__ import annotations

from aiohttp import web

from graphflow.plugins import Plugins
from graphflow.server.config import ServerConfig
from graphflow.server.dispatcher import Dispatcher
from graphflow.server.events import EventHub
from graphflow.server.files import FileStore
from graphflow.server.queue_store import QueueStore

CONFIG = web.AppKey("graphflow_config", ServerConfig)
FILES = web.AppKey("graphflow_files", FileStore)
PLUGINS = web.AppKey("graphflow_plugins", Plugins)
STORE = web.AppKey("graphflow_store", QueueStore)
HUB = web.AppKey("graphflow_hub", EventHub)
DISPATCHER = web.AppKey("graphflow_dispatcher", Dispatcher)
STARTED = web.AppKey("graphflow_started", float)
