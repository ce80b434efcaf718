"""End to end: uvicorn on 127.0.0.1, a real HTTP client, sentry_sdk's real HTTP transport."""

from __future__ import annotations

import os

import httpx
import pytest
from conftest import deactivate, relay_problems
from servers import PYTHON, free_port, receiver, serve

pytestmark = pytest.mark.e2e

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_errors_and_traces_reach_a_receiver_through_uvicorn():
    """An error, a continued trace and request data arrive over HTTP, and Relay accepts them all."""
    deactivate()  # the test's own HTTP client must send our trace header, not one of its own
    with receiver() as inbox:
        port = free_port()
        env = {**os.environ, "SENTRY_DSN": inbox.dsn}
        command = [
            PYTHON,
            "-m",
            "uvicorn",
            "apps.starlette_app:app",
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
        ]
        with serve(command, port, env):
            base = f"http://127.0.0.1:{port}"
            ok = httpx.get(
                f"{base}/items/1", headers={"sentry-trace": f"{TRACE_ID}-00f067aa0ba902b7-1"}
            )
            assert ok.status_code == 200
            assert ok.json()["trace"].startswith(TRACE_ID)
            failed = httpx.get(
                f"{base}/items/2?fail=1", headers={"authorization": "Bearer e2e-secret-token"}
            )
            assert failed.status_code == 500
            assert httpx.get(f"{base}/health").text == "ok"
            events = inbox.wait_for("event", 1)
            transactions = inbox.wait_for("transaction", 2)
    (event,) = events
    assert event["exception"]["values"][-1]["value"] == "item 2 failed"
    assert event["request"]["url"] == f"http://127.0.0.1:{port}/items/2"
    assert event["request"]["query_string"] == "fail=1"
    assert event["request"]["headers"]["authorization"] == "[Filtered]"
    assert "e2e-secret-token" not in str(event)
    assert event["tags"]["item"] == "2"
    assert event["transaction"] == "/items/{item_id}"
    names = sorted(t["transaction"] for t in transactions)
    assert names == ["/items/{item_id}", "/items/{item_id}"]
    continued = [t for t in transactions if t["contexts"]["trace"]["trace_id"] == TRACE_ID]
    assert len(continued) == 1
    assert all("/health" not in t["request"]["url"] for t in transactions)
    for payload in [*events, *transactions]:
        assert relay_problems(payload) == []


def test_websocket_through_uvicorn():
    """A websocket error through a real server is reported with its ws:// URL and a transaction."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with receiver() as inbox:
        port = free_port()
        env = {**os.environ, "SENTRY_DSN": inbox.dsn}
        command = [
            PYTHON,
            "-m",
            "uvicorn",
            "apps.starlette_app:app",
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
        ]
        with serve(command, port, env):
            with connect(f"ws://127.0.0.1:{port}/ws") as ws:
                ws.send("hello")
                assert ws.recv() == "hello"
            with connect(f"ws://127.0.0.1:{port}/ws") as ws:
                ws.send("fail")
                with pytest.raises(ConnectionClosed):
                    ws.recv()
            events = inbox.wait_for("event", 1)
            transactions = inbox.wait_for("transaction", 2)
    (event,) = events
    assert event["exception"]["values"][-1]["value"] == "websocket failed"
    assert event["request"]["url"] == f"ws://127.0.0.1:{port}/ws"
    assert {t["contexts"]["trace"]["op"] for t in transactions} == {"websocket.server"}
    for payload in [*events, *transactions]:
        assert relay_problems(payload) == []
