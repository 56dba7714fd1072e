"""The aiohttp server: REST API, websocket events, a persistent queue and the editor's static files."""

from __future__ import annotations

from typing import Any

__all__ = ["ServerConfig", "create_app"]


def __getattr__(name: str) -> Any:
    # Imported on first use so that `graphflow run` does not pay for aiohttp.
    if name == "create_app":
        from graphflow.server.app import create_app

        return create_app
    if name == "ServerConfig":
        from graphflow.server.config import ServerConfig

        return ServerConfig
    raise AttributeError(name)
