"""Fixtures for the inbox: a real server on 127.0.0.1, a real SDK client, a real browser."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from sentry_asgi.inbox._server import InboxServer

if TYPE_CHECKING:
    from collections.abc import Iterator

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # no DNS at all: every host name fails at once, except the inbox's address
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
SHOTS = Path(os.environ.get("SCREENSHOT_DIR", Path(__file__).parents[2] / "screenshots"))


@pytest.fixture
def inbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[InboxServer]:
    """Serve an inbox with uvicorn on a free port of 127.0.0.1, its database in tmp_path.

    Parametrised indirectly, the parameter is the inbox's ``allowed_hosts``.
    """
    allowed_hosts = getattr(request, "param", ())
    server = InboxServer("127.0.0.1", 0, str(tmp_path / "inbox.sqlite3"), allowed_hosts)
    server.start()
    yield server
    server.stop()


def chromium_version() -> str:
    """Return the browser's version line, or an empty string when there is none."""
    if not Path(CHROMIUM).exists():
        return ""
    result = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, check=False)
    return result.stdout.strip()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Launch Debian's Chromium, headless, driven by Playwright (which downloads no browser).

    Module-scoped: Playwright's sync API keeps an event loop running on the main thread while
    it is open, which the async tests of other modules must not find there.
    """
    if not chromium_version():
        pytest.skip(f"no Chromium at {CHROMIUM}: scripts/test installs it with apt-get")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """Open a fresh page that records every alert/confirm/prompt instead of blocking."""
    context = browser.new_context(viewport={"width": 1100, "height": 700})
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    pg.dialogs = []

    def on_dialog(dialog: Any) -> None:
        pg.dialogs.append(dialog.message)
        dialog.dismiss()  # a listener must answer, or the page waits forever

    pg.on("dialog", on_dialog)
    yield pg
    context.close()


@pytest.fixture
def shot(request: pytest.FixtureRequest, page: Any) -> Any:
    """Save a full-page screenshot under screenshots/, named after the test."""

    def take(name: str | None = None) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name or request.node.name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
