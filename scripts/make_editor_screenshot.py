"""Take docs/images/editor.png: the browser editor after running the txt2img example on the demo model, with the
side panel's History tab showing the run.

    .venv/bin/python scripts/make_editor_screenshot.py [--out docs/images/editor.png]

Starts `graphflow serve` on a free loopback port with throwaway folders and drives Debian's Chromium
through Playwright (both installed by `scripts/setup.sh --test`).
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1400, "height": 820}


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, server: subprocess.Popen[bytes], seconds: float = 180) -> None:
    """Return once the server answers; stop with its exit code if it died first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"graphflow serve exited with code {server.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"graphflow serve did not answer at {url} within {seconds:.0f} s")


@contextmanager
def served_editor(seconds: float = 240) -> Iterator[tuple[str, Browser]]:
    """`graphflow serve` on a free port with throwaway folders, and Chromium: (the editor's URL, the browser)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with tempfile.TemporaryDirectory() as tmp:
        folders = [f"--{name}={Path(tmp) / name}" for name in ("output", "input", "user-dir")]
        server = subprocess.Popen(
            [sys.executable, "-m", "graphflow.cli", "serve", "--port", str(port), *folders],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_up(url, server, seconds)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
                yield url, browser
                browser.close()
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()


def main() -> None:
    """Run the example in the editor and save the screenshot."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "editor.png")
    out = parser.parse_args().out
    with served_editor() as (url, browser):
        page = browser.new_page(viewport=VIEWPORT, reduced_motion="reduce")
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]", timeout=60_000)
        page.get_by_test_id("examples").select_option(label="Example: txt2img.json")
        page.get_by_test_id("btn-queue").click()
        expect(page.get_by_test_id("image-save")).to_be_visible(timeout=600_000)  # a busy CPU is slow
        expect(page.get_by_test_id("status")).to_contain_text("Finished")
        page.get_by_role("tab", name="History").click()
        expect(page.get_by_test_id("history-list").locator("img").first).to_be_visible(timeout=30_000)
        expect(page.locator(".toast")).to_have_count(0, timeout=30_000)  # let "Queued #1" fade
        page.screenshot(path=str(out))
    print(f"screenshot written to {out}")


if __name__ == "__main__":
    main()
