"""Browser-test fixtures: a real graphflow server on loopback and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.running import settings_under

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerThread:
    """A graphflow server running its own event loop in a thread, for the length of a test module."""

    def __init__(self, root: Path, models_dir: Path | None = None) -> None:
        from graphflow.server.app import create_app
        from graphflow.server.config import ServerConfig

        plugins = root / "plugins"
        plugins.mkdir()
        shutil.copy(Path(__file__).with_name("webtest_plugin.py"), plugins / "webtest.py")
        self.port = _free_port()
        settings = settings_under(
            root, temp_dir=root / "user" / "temp", **({"models_dir": models_dir} if models_dir else {})
        )
        self.config = ServerConfig(
            settings=settings, port=self.port, user_dir=root / "user", plugins_dir=plugins, entry_points=False
        )
        self.app = create_app(self.config)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        from aiohttp import web

        asyncio.set_event_loop(self.loop)
        runner = web.AppRunner(self.app)
        self.loop.run_until_complete(runner.setup())
        self.loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(runner.cleanup())
        self.loop.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def __enter__(self) -> ServerThread:
        from graphflow.server.keys import DISPATCHER

        self.thread.start()
        if not self.ready.wait(180):
            raise RuntimeError("the graphflow test server did not start within 180 s")
        asyncio.run_coroutine_threadsafe(self.app[DISPATCHER].workers.ready(), self.loop).result(300)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)


@pytest.fixture(scope="module")
def models_dir() -> Path | None:
    """The server's models root; None keeps the default. A test module overrides it to offer models."""
    return None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, models_dir: Path | None) -> Iterator[ServerThread]:
    """A running server with the built-in nodes plus the webtest nodes, in fresh folders."""
    with ServerThread(tmp_path_factory.mktemp("server"), models_dir) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium; the browser tests are skipped when it is not installed."""
    if not CHROMIUM.exists():
        pytest.skip("browser tests need Chromium: apt-get install -y chromium")
    playwright_api = pytest.importorskip("playwright.sync_api", reason="browser tests need `pip install playwright`")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server, request):
    """A fresh editor page (empty canvas); fails the test on any uncaught script error; screenshot at the end."""
    context = browser.new_context(viewport={"width": 1400, "height": 820})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(server.url)
    tab.wait_for_selector("body[data-ready=true]", timeout=15000)
    yield tab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    context.close()
    assert not errors, f"script errors in the page: {errors}"


@pytest.fixture
def editor(page):
    """The editor driver on a fresh page."""
    from tests.web.editor import Editor

    return Editor(page)


@pytest.fixture
def screenshot(page) -> Callable[[str], Path]:
    """Save a screenshot of the page now as test-artifacts/web/<name>.png; returns its path."""

    def take(name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path))
        return path

    return take
