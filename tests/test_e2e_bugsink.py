"""A second opinion on the wire: Bugsink, a real Sentry-compatible tracker, stores what we send."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest
from bugsink import BugsinkUnavailableError, bugsink, prepare
from servers import PYTHON, free_port, serve, server_env

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def bugsink_ready() -> None:
    try:
        prepare()
    except BugsinkUnavailableError as error:
        pytest.skip(f"Bugsink could not be installed, so it cannot receive events here: {error}")


def test_bugsink_stores_the_error_a_view_raised(bugsink_ready, tmp_path: Path):
    """An exception raised in a view under uvicorn is stored by Bugsink with its type, message, URL and route."""
    with bugsink(tmp_path / "bugsink") as tracker:
        port = free_port()
        env = server_env(SENTRY_DSN=tracker.dsn)
        command = [PYTHON, "-m", "uvicorn", "apps.starlette_app:app"]
        command += ["--host", "127.0.0.1", "--port", str(port)]
        with serve(command, port, env):
            response = httpx.get(
                f"http://127.0.0.1:{port}/items/7?fail=1",
                headers={"authorization": "Bearer e2e-secret-token"},
            )
            assert response.status_code == 500
            (stored,) = tracker.wait_for_events(1)
    assert stored["type"] == "ValueError"
    assert stored["value"] == "item 7 failed"
    event = stored["data"]
    assert event["request"]["url"] == f"http://127.0.0.1:{port}/items/7"
    assert event["request"]["headers"]["authorization"] == "[Filtered]"
    assert event["transaction"] == "/items/{item_id}"
    assert event["release"] == "e2e@1"
    # VALIDATE_ON_DIGEST="warn": Bugsink checks each event against Sentry's JSON schema and logs
    # what does not fit; nothing should.
    assert "event data validation failed" not in tracker.log, tracker.log
