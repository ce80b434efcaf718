"""End to end through every supported server: a real client, sentry_sdk's real HTTP transport.

Each server runs the same app once, on a free 127.0.0.1 port, and is stopped with SIGTERM (what
process managers send). The tests then read what the receiver decoded.
"""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import relay_problems
from servers import (
    SERVERS,
    connect,
    free_port,
    receiver,
    serve,
    server_command,
    server_env,
    serving,
    stop,
    unix_server_command,
)

pytestmark = pytest.mark.e2e

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
APP = "apps.lifespan_app:app"


SPEAKS_LIFESPAN = {"uvicorn", "hypercorn", "granian"}  # Daphne never sends a lifespan scope

# The server logs the exception the middleware re-raised, and sentry_sdk's logging integration
# turns that log line into a second error event.


@dataclass
class Run:
    """What one server did with the app, read after the server has exited."""

    server: str
    port: int
    returncode: int | None
    lifespan_while_serving: str | None
    lifespan_after_exit: str | None
    responses: dict[str, Any]
    events: list[dict[str, Any]]
    transactions: list[dict[str, Any]]
    sessions: list[dict[str, Any]]

    def errors_for(self, message: str) -> list[dict[str, Any]]:
        return [
            event
            for event in self.events
            if message in str(event.get("exception", {}).get("values", [{}])[-1].get("value"))
        ]


def read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


def drive(base: str, ws_base: str) -> dict[str, Any]:
    """Make the requests every test below reads the outcome of."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    responses: dict[str, Any] = {}
    responses["ok"] = httpx.get(
        f"{base}/items/1", headers={"sentry-trace": f"{TRACE_ID}-00f067aa0ba902b7-1"}
    )
    responses["failed"] = httpx.get(
        f"{base}/items/2?fail=1", headers={"authorization": "Bearer e2e-secret-token"}
    )
    responses["health"] = httpx.get(f"{base}/health")
    with connect(f"{ws_base}/ws") as ws:
        ws.send("hello")
        responses["echo"] = ws.recv()
    secret = {"authorization": "Bearer e2e-secret-token"}
    with connect(f"{ws_base}/ws", additional_headers=secret) as ws:
        ws.send("fail")
        try:
            ws.recv()
        except ConnectionClosed as closed:
            responses["ws_closed"] = closed
    # sentry_sdk sends from one FIFO queue: once this last transaction arrives, all earlier
    # items (including anything the server logged about the failures) have arrived too.
    responses["last"] = httpx.get(f"{base}/items/last")
    return responses


def run_server(server: str, tmp: Path) -> Run:
    """Serve the app with ``server``, drive it, stop the server, and return what arrived."""
    lifespan_log = tmp / f"{server}-lifespan.log"
    with receiver() as inbox:
        port = free_port()
        env = server_env(SENTRY_DSN=inbox.dsn, E2E_LIFESPAN_LOG=str(lifespan_log))
        with serve(server_command(server, APP, port), port, env) as process:
            responses = drive(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}")
            # Read once the app has served (granian's main process listens before its worker
            # has run the start-up).
            serving = read(lifespan_log)
            last = f"http://127.0.0.1:{port}/items/last"
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if any(t["request"]["url"] == last for t in inbox.items("transaction")):
                    break
                time.sleep(0.02)
        # The server has exited: what was still buffered had to be flushed on the way out.
        return Run(
            server=server,
            port=port,
            returncode=process.returncode,
            lifespan_while_serving=serving,
            lifespan_after_exit=read(lifespan_log),
            responses=responses,
            events=inbox.items("event"),
            transactions=inbox.items("transaction"),
            sessions=inbox.items("sessions"),
        )


@pytest.fixture(scope="module", params=SERVERS)
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_server(request.param, tmp_path_factory.mktemp(request.param))


def test_http_error_event_carries_the_request(run: Run):
    """A view's exception becomes one event with the server's real URL and port, filtered secrets and the route."""
    assert run.responses["failed"].status_code == 500
    event = run.errors_for("item 2 failed")[0]
    assert event["exception"]["values"][-1]["type"] == "ValueError"
    assert event["exception"]["values"][-1]["mechanism"]["handled"] is False
    assert event["request"]["url"] == f"http://127.0.0.1:{run.port}/items/2"
    assert event["request"]["method"] == "GET"
    assert event["request"]["query_string"] == "fail=1"
    assert event["request"]["headers"]["authorization"] == "[Filtered]"
    assert "e2e-secret-token" not in str(event)
    assert event["tags"]["item"] == "2"
    assert event["transaction"] == "/items/{item_id}"


def test_incoming_trace_is_continued(run: Run):
    """A sentry-trace header sent by the client is continued: same trace id in the view and in the transaction."""
    assert run.responses["ok"].status_code == 200
    assert run.responses["ok"].json()["trace"].startswith(TRACE_ID)
    continued = [t for t in run.transactions if t["contexts"]["trace"]["trace_id"] == TRACE_ID]
    assert len(continued) == 1
    assert continued[0]["contexts"]["trace"]["parent_span_id"] == "00f067aa0ba902b7"
    assert continued[0]["request"]["url"] == f"http://127.0.0.1:{run.port}/items/1"


def test_every_request_is_one_transaction_and_excluded_paths_none(run: Run):
    """Each HTTP request and websocket gets one transaction named by its route; /health (excluded) gets none."""
    assert run.responses["health"].text == "ok"
    http = sorted(
        t["transaction"] for t in run.transactions if t["contexts"]["trace"]["op"] == "http.server"
    )
    assert http == ["/items/{item_id}"] * 3
    ws = [t for t in run.transactions if t["contexts"]["trace"]["op"] == "websocket.server"]
    assert [t["transaction"] for t in ws] == ["/ws", "/ws"]
    assert all("/health" not in t["request"]["url"] for t in run.transactions)
    statuses = sorted(str(t["contexts"]["trace"].get("status")) for t in run.transactions)
    assert statuses.count("internal_error") == 2


def test_websocket_error_event_has_its_ws_url(run: Run):
    """A websocket handler's exception is reported with its ws:// URL on the server's real port and filtered secrets."""
    assert run.responses["echo"] == "hello"
    assert "ws_closed" in run.responses
    event = run.errors_for("websocket failed")[0]
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert event["request"]["url"] == f"ws://127.0.0.1:{run.port}/ws"
    assert event["request"]["headers"]["authorization"] == "[Filtered]"
    assert "e2e-secret-token" not in str(event)
    assert event["transaction"] == "/ws"


def test_sentry_accepts_every_payload(run: Run):
    """Relay's normaliser accepts every event and transaction the server's process sent."""
    assert run.events
    assert run.transactions
    for payload in [*run.events, *run.transactions]:
        assert relay_problems(payload) == []


def test_lifespan_goes_through_untouched(run: Run):
    """The app's lifespan start-up and shut-down both run under the middleware, and report nothing."""
    if run.server in SPEAKS_LIFESPAN:
        assert run.lifespan_while_serving == "startup\n"
        assert run.lifespan_after_exit == "startup\nshutdown\n"
    else:
        assert run.lifespan_after_exit is None
    assert run.returncode in (0, -signal.SIGTERM)
    # Every event is about one of the two failures the client provoked; none about the lifespan.
    failures = ("item 2 failed", "websocket failed")
    for event in run.events:
        logentry = event.get("logentry") or {}
        exception = event.get("exception", {"values": [{}]})["values"][-1]
        text = f"{logentry.get('formatted') or logentry.get('message')} {exception.get('value')}"
        assert any(failure in text for failure in failures), event
        assert exception.get("mechanism", {}).get("type") != "asgi.lifespan"


def test_one_error_event_per_failure(run: Run):
    """Each failure reaches Sentry exactly once, although the server also logs the exception it received.

    daphne logs it again from a timer outside the request's context, where sentry_sdk's dedupe
    cannot see it; granian logs it as text on ``_granian.utils``. Both repeats are dropped.
    """
    assert len(run.errors_for("item 2 failed")) == 1
    assert len(run.errors_for("websocket failed")) == 1
    assert len(run.events) == 2


def test_sigterm_flushes_what_is_buffered(run: Run):
    """A graceful SIGTERM stop still delivers what sentry_sdk buffers for 60 s: the request sessions' aggregate."""
    aggregates = [a for s in run.sessions for a in s["aggregates"]]
    assert sum(a.get("crashed", 0) for a in aggregates) == 2  # the two failures
    assert (
        sum(a.get("exited", 0) for a in aggregates) == 4
    )  # /items/1, /health, the echo, /items/last


@pytest.mark.parametrize("server", sorted(SPEAKS_LIFESPAN))
def test_failed_startup_is_one_error_event(server: str):
    """A start-up failure is one event for the app's own exception, sent before the server exits; its log lines add none."""
    with receiver() as inbox:
        port = free_port()
        app = "apps.failing_startup_app:app"
        argv = server_command(server, app, port)
        env = server_env(SENTRY_DSN=inbox.dsn)
        process = subprocess.Popen(
            argv,
            env=env,
            cwd=Path(__file__).parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            output = process.communicate(timeout=30)[0].decode(errors="replace")
        finally:
            stop(process)
        # The server has exited after the failed start-up: sentry_sdk flushed on the way out.
        events = inbox.items("event")
    assert "database down" in output  # the server still told its operator
    assert len(events) == 1, [e.get("logentry") or e.get("exception") for e in events]
    exception = events[0]["exception"]["values"][-1]
    assert (exception["type"], exception["value"]) == ("ConnectionRefusedError", "database down")
    assert exception["mechanism"] == {"type": "asgi.lifespan", "handled": False}


@pytest.mark.parametrize("server", SERVERS)
def test_a_request_after_a_large_upload_on_the_same_connection_is_its_own(server: str):
    """After a large upload on a keep-alive connection, the next request is traced and reported as itself, without the uploader's user.

    uvicorn on asyncio starts that request from the context the upload left behind (it paused
    reading, and resumed it inside the upload's request).
    """
    with receiver() as inbox:
        with (
            serving(server, "apps.starlette_app:app", inbox) as port,
            httpx.Client(base_url=f"http://127.0.0.1:{port}") as client,
        ):
            body = b"x" * 1_000_000  # well past a server's read buffer
            assert client.post("/upload", content=body, headers={"x-user": "u-1"}).is_success
            assert client.get("/items/2?fail=1").status_code == 500
            inbox.wait_for("transaction", 2)
        (event,) = inbox.wait_for("event", 1)
        names = sorted(t["transaction"] for t in inbox.items("transaction"))
    assert event["request"]["url"] == f"http://127.0.0.1:{port}/items/2"
    assert event["transaction"] == "/items/{item_id}"
    assert "user" not in event
    assert names == ["/items/{item_id}", "/upload"]


@pytest.mark.parametrize("server", SERVERS)
def test_django_request_routed_by_its_own_urlconf_is_named_after_its_route(server: str):
    """Served for real, a Django request that a middleware routes with its own URLconf (request.urlconf) is named after that URLconf's route, async and sync views alike, its error event too."""
    with receiver() as inbox:
        with (
            serving(server, "apps.django_app:app", inbox) as port,
            httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"x-tenant": "a"}) as client,
        ):
            assert client.get("/items/42").status_code == 200
            assert client.get("/products/boots").status_code == 200
            assert client.get("/sync/7").status_code == 500
            inbox.wait_for("transaction", 3)
        (event,) = inbox.wait_for("event", 1)
        names = sorted(t["transaction"] for t in inbox.items("transaction"))
    assert event["transaction"] == "/sync/<str:code>"
    assert names == ["/items/<str:code>", "/products/<str:code>", "/sync/<str:code>"]


@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
def test_channels_requests_are_named_after_their_routes_and_keep_their_tags(server: str):
    """Served for real, two Channels chats failing at once are each reported with their own room tag, named after URLRouter's route; Django's view error below ProtocolTypeRouter as itself; a websocket no route serves, not at all."""
    from websockets.exceptions import ConnectionClosed, InvalidHandshake
    from websockets.sync.client import connect as connect_websocket

    with receiver() as inbox, serving(server, "apps.channels_app:application", inbox) as port:
        chats = [connect_websocket(f"ws://127.0.0.1:{port}/ws/chat/{r}/") for r in "ab"]
        for chat in chats:  # both open, each accepted, as the first fails
            with chat:
                chat.send("fail")
                with pytest.raises(ConnectionClosed):
                    chat.recv()
        with pytest.raises(InvalidHandshake):  # no route: Channels raises to the server
            connect_websocket(f"ws://127.0.0.1:{port}/wp-admin/ws")
        assert httpx.get(f"http://127.0.0.1:{port}/items/42").status_code == 500
        inbox.wait_for("transaction", 4)
        events = inbox.wait_for("event", 3)
    reported = sorted(
        (e["exception"]["values"][-1]["value"], e.get("tags", {}).get("room"), e["transaction"])
        for e in events
    )
    assert reported == [
        ("chat in a", "a", "/ws/chat/<str:room>/"),
        ("chat in b", "b", "/ws/chat/<str:room>/"),
        ("item 42", None, "/items/<int:item_id>"),
    ]
    assert [e["exception"]["values"][-1]["mechanism"]["type"] for e in events].count("django") == 1


# Each server with its own proxy-header handling on and off, and the address it then gives the app.
SERVER_PROXY_HANDLING = [
    ("uvicorn", (), "6.6.6.6"),  # on by default, for a peer on 127.0.0.1
    ("uvicorn", ("--no-proxy-headers",), "127.0.0.1"),
    ("daphne", ("--proxy-headers",), "6.6.6.6"),
    ("daphne", (), "127.0.0.1"),
]


@pytest.mark.parametrize(("server", "options", "address"), SERVER_PROXY_HANDLING)
def test_the_client_address_is_the_one_the_servers_proxy_handling_leaves(
    server: str, options: tuple[str, ...], address: str
):
    """Without trusted_proxies, the client address is the server's scope["client"]: a forwarded one only where the server's own proxy handling put it there."""
    with receiver() as inbox, serving(server, "apps.concurrency_app:app", inbox, *options) as port:
        forged = {"x-forwarded-for": "6.6.6.6", "forwarded": "for=7.7.7.7"}
        assert httpx.post(f"http://127.0.0.1:{port}/1", headers=forged).status_code == 500
        (event,) = inbox.wait_for("event", 1)
    assert event["request"]["env"] == {"REMOTE_ADDR": address}


@pytest.mark.parametrize("server", SERVERS)
def test_a_percent_sign_in_the_path_stays_encoded_in_the_url(server: str):
    """A path with an encoded percent sign (%2541, which every server decodes to %41) keeps it encoded in the event's URL: %41 would be another path, /A."""
    with receiver() as inbox, serving(server, "apps.concurrency_app:app", inbox) as port:
        assert httpx.post(f"http://127.0.0.1:{port}/%2541%20off").status_code == 500
        (event,) = inbox.wait_for("event", 1)
    assert event["request"]["url"] == f"http://127.0.0.1:{port}/%2541%20off"


@pytest.mark.parametrize("server", SERVERS)
def test_a_request_on_a_unix_socket_without_a_host_header_has_its_path_as_url(server: str):
    """On a Unix socket, a request without a Host header (HTTP/1.0) has its path as its URL, never the socket's file as its host.

    uvicorn and granian give the socket's path as the server's address (granian with port "0").
    """
    with receiver() as inbox, tempfile.TemporaryDirectory() as directory:
        path = f"{directory}/app.sock"
        argv = unix_server_command(server, "apps.concurrency_app:app", path)
        with serve(argv, path, server_env(SENTRY_DSN=inbox.dsn)), connect(path) as client:
            client.settimeout(10)
            client.sendall(b"POST /1 HTTP/1.0\r\ncontent-length: 0\r\n\r\n")
            assert client.recv(12).startswith(b"HTTP/1.")
            (event,) = inbox.wait_for("event", 1)
    assert event["request"]["url"] == "/1"
