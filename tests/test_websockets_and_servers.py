"""Websockets through real servers: what each server does around the app's handshake."""

from __future__ import annotations

import socket
import sys
from contextlib import ExitStack
from typing import TYPE_CHECKING

import httpx
import pytest
from conftest import release
from servers import receiver, serving, wait_until_reached
from websockets.exceptions import InvalidStatus, WebSocketException
from websockets.sync.client import connect

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e

# The servers that let an app deny a handshake with an HTTP response (daphne does not).
DENIAL_SERVERS = ["uvicorn", "hypercorn", "granian"]


def deny(base: str, status: int) -> int:
    """Open a websocket the app denies with ``status``; the status the client received."""
    path = "" if base.endswith("/from-a-task") else "/denied"
    with pytest.raises(InvalidStatus) as denial, connect(f"{base}{path}/{status}"):
        pass
    return denial.value.response.status_code


@pytest.mark.parametrize("server", DENIAL_SERVERS)
def test_a_denied_handshake_is_an_error_only_when_its_status_is_one(server: str):
    """A handshake denied with a 403 sends no event, one denied with a 503 sends one: also under uvicorn, which logs an error after every denial."""
    with receiver() as inbox, serving(server, "apps.denial_app:app", inbox) as port:
        assert deny(f"ws://127.0.0.1:{port}", 403) == 403
        assert deny(f"ws://127.0.0.1:{port}", 503) == 503
        assert httpx.get(f"http://127.0.0.1:{port}/health").text == "ok"
        inbox.wait_for("transaction", 3)
        events = inbox.wait_for("event", 2, timeout=1.0)  # time for one too many to arrive
    titles = [event.get("message") or event["logentry"]["message"] for event in events]
    assert titles == ["503 Service Unavailable: /denied/{status:int}"]


def test_uvicorns_error_after_a_denial_the_app_left_unfinished_is_an_event():
    """The error line uvicorn logs after a denial whose body never ended is an event: no answer went out."""
    with receiver() as inbox, serving("uvicorn", "apps.denial_app:app", inbox) as port:
        with pytest.raises(WebSocketException), connect(f"ws://127.0.0.1:{port}/unfinished"):
            pass
        assert deny(f"ws://127.0.0.1:{port}", 403) == 403
        assert deny(f"ws://127.0.0.1:{port}/from-a-task", 403) == 403
        inbox.wait_for("transaction", 3)
        events = inbox.wait_for("event", 2, timeout=1.0)  # time for one too many to arrive
    titles = [event.get("message") or event["logentry"]["message"] for event in events]
    assert titles == ["ASGI callable returned without completing handshake."]


# From Python 3.12.1 asyncio's Server.wait_closed() waits for every open connection, and
# hypercorn's asyncio worker awaits it before its graceful_timeout: a client that stays connected
# keeps the server from stopping, and from ever cancelling the request.
needs_hypercorn_stopping_with_a_client_connected = pytest.mark.skipif(
    sys.version_info >= (3, 12, 1) and release("hypercorn") <= (0, 18, 0),
    reason="hypercorn 0.18.0's asyncio worker never stops with a client connected on "
    "Python 3.12.1 and later (pgjones/hypercorn#308): it cancels no request",
)


@pytest.mark.parametrize(
    "worker",
    [pytest.param("asyncio", marks=needs_hypercorn_stopping_with_a_client_connected), "trio"],
)
def test_a_request_the_server_cancels_on_shut_down_is_a_cancelled_transaction(
    worker: str, tmp_path: Path
):
    """A request hypercorn cancels when it stops, before the app answered, is a cancelled transaction, not an ok one, and no event.

    On asyncio, Python 3.11 logs the cancellation of hypercorn's connection task as an exception
    in a callback; sentry_sdk's logging integration would make that an error event.
    """
    with receiver() as inbox, ExitStack() as after_the_server:
        with serving(
            "hypercorn", "apps.starlette_app:app", inbox, "--worker-class", worker, marks=tmp_path
        ) as port:
            # Closed only once the server has stopped: the client never left.
            client = after_the_server.enter_context(socket.create_connection(("127.0.0.1", port)))
            head = b"POST /upload HTTP/1.1\r\nhost: h\r\nx-user: u-1\r\ncontent-length: 100\r\n\r\n"
            client.sendall(head + b"only the first bytes")
            wait_until_reached(tmp_path, "upload")  # the app reads the body as the server stops
        (transaction,) = inbox.wait_for("transaction", 1)
        events = inbox.items("event")
    assert events == []
    assert transaction["transaction"] == "/upload"
    assert transaction["contexts"]["trace"]["status"] == "cancelled"


def test_daphne_sends_a_request_it_cancels_on_shut_down_but_not_an_open_websocket():
    """A request under way when daphne stops is cancelled (a cancelled transaction); an open websocket it abandons is never sent."""
    with receiver() as inbox, ExitStack() as after_the_server:
        with serving("daphne", "apps.peer_app:app", inbox) as port:
            url = f"http://127.0.0.1:{port}/forever"
            stream = after_the_server.enter_context(httpx.stream("GET", url, timeout=10))
            assert next(stream.iter_lines()) == "data: 0"
            # Accepted, the app waiting for the first message.
            after_the_server.enter_context(connect(f"ws://127.0.0.1:{port}/ws"))
        # The server has exited, after sending what it had.
        transactions = inbox.items("transaction")
    outcomes = [(t["transaction"], t["contexts"]["trace"]["status"]) for t in transactions]
    assert outcomes == [("/forever", "cancelled")]
