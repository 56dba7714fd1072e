"""The aiohttp server: REST API, websocket events, a persistent queue and the editor's static files."""

from graphflow.server.app import create_app
from graphflow.server.config import ServerConfig

__all__ = ["ServerConfig", "create_app"]
