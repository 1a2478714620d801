"""The browser suite's fixtures: the site served by waitress on a loopback port, Debian's Chromium driven by
Playwright, and where screenshots are kept (test-artifacts/screenshots, or $PODIUM_TEST_ARTIFACTS/screenshots)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from waitress.server import create_server

from app import create_app
from app.config import Settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
REPO = Path(__file__).resolve().parents[4]
SCREENSHOTS = Path(os.environ.get("PODIUM_TEST_ARTIFACTS", REPO / "test-artifacts")) / "screenshots"


@pytest.fixture
def site(settings: Settings) -> Iterator[str]:
    server = create_server(create_app(settings), host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def screenshot(page: Page, name: str) -> Path:
    """Keep a full-page screenshot as a test artifact (look at them: they are how the pages are reviewed)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
