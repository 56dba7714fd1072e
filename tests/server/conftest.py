"""Server test fixtures: a plugins folder with slow/progress/failing nodes and an app per test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from graphflow.server import ServerConfig, create_app
from graphflow.server.keys import DISPATCHER
from tests.running import settings_under
from tests.server.helpers import SERVER_PLUGIN


@pytest.fixture
def config(tmp_path: Path, plugin_dir) -> ServerConfig:
    """A server configuration whose folders all live in the test's temporary folder."""
    return ServerConfig(
        settings=settings_under(tmp_path, temp_dir=tmp_path / "user" / "temp"),
        user_dir=tmp_path / "user",
        plugins_dir=plugin_dir("servertest", SERVER_PLUGIN),
        entry_points=False,
        examples_dir=tmp_path / "repo_workflows",
        web_dir=tmp_path / "web",
    )


@pytest.fixture
async def client(aiohttp_client, config):
    """A test client for a real server on loopback, once its worker has started."""
    test_client = await aiohttp_client(create_app(config))
    await test_client.app[DISPATCHER].workers.ready()
    return test_client


@pytest.fixture
def gate(client):
    """The GATE event of the running server's test plugin (set it to let a held run go on)."""
    module = sys.modules["graphflow_local_plugins.servertest"]
    yield module.GATE
    module.GATE.set()  # never leave a held run behind
