"""Django, Quart and Litestar responses that fail after their first chunk, under each real server."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest
from servers import SERVERS, free_port, receiver, serve, server_command, server_env

if TYPE_CHECKING:
    from servers import Receiver

pytestmark = pytest.mark.e2e

ROUTES = {
    "django": "/stream/<int:item_id>",
    "quart": "/stream/<int:item_id>",
    "litestar": "/stream/{item_id}",
}


def failed_stream(port: int) -> str:
    """What the client got of a response whose generator failed midway."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/stream/3", timeout=3).text
    except httpx.HTTPError:  # the server cut the response short
        return "cut short"


@pytest.mark.parametrize("integrations", ["defaults", "off"])
@pytest.mark.parametrize("framework", ROUTES)
@pytest.mark.parametrize("server", SERVERS)
def test_a_stream_failing_midway_is_one_event_of_the_apps_own(server, framework, integrations):
    """The app's exception after the first chunk went out: one event, as itself, named after the route; its transaction failed."""
    with receiver() as inbox:
        port = free_port()
        command = server_command(server, f"apps.streams_app:{framework}", port)
        env = server_env(SENTRY_DSN=inbox.dsn, STREAMS_INTEGRATIONS=integrations)
        with serve(command, port, env):
            assert failed_stream(port) in {"first\n", "cut short"}
            inbox.wait_for("transaction", 1)
        # Stopped: whatever the server logged about the failure has been sent too.
        (transaction,) = inbox.items("transaction")
        assert transaction["contexts"]["trace"]["status"] == "internal_error"
        if integrations == "off":
            assert transaction["transaction"] == ROUTES[framework]
        else:  # sentry_sdk's integrations name requests first, in their own style
            assert transaction["transaction_info"]["source"] in {"component", "route"}
        assert_one_failure(inbox, transaction["transaction"])


def assert_one_failure(inbox: Receiver, name: str) -> None:
    """One event, the app's own exception (or a group titled after it), named as its request."""
    (event,) = inbox.items("event")
    primary = event["exception"]["values"][-1]
    assert "LookupError: stock of 3 gone" in f"{primary['type']}: {primary['value']}"
    assert event["transaction"] == name
