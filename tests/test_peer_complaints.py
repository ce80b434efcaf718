"""What users of other Sentry integrations run into, tried against real apps under a real server.

Each app runs under uvicorn on 127.0.0.1 and reports through sentry_sdk's real HTTP transport to a
receiver; each test reads what the client got back and what arrived.
"""

from __future__ import annotations

import hashlib
import json
import socket
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from servers import (
    SERVERS,
    Receiver,
    free_port,
    receiver,
    serve,
    server_command,
    server_env,
    wait_until_reached,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.e2e

LARGE = bytes(range(256)) * 8192  # 2 MiB: many server reads, far over the body cap
PASSWORD = "pw-peer-secret-1"  # noqa: S105 - the secret the events must not carry
JSON_TYPE = {"content-type": "application/json"}
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"


@dataclass
class Served:
    """An app under uvicorn, and the responses its test collected before the server stopped."""

    server: str
    base: str
    inbox: Receiver
    marks: Path  # where the app's requests leave their marks (``apps.reached``)
    responses: dict[str, Any] = field(default_factory=dict)

    def events_raising(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.inbox.items("event") if exception(e).get("type") == kind]

    def transactions_at(self, path: str) -> list[dict[str, Any]]:
        url = self.base + path
        return [t for t in self.inbox.items("transaction") if t["request"]["url"] == url]


def exception(event: dict[str, Any]) -> dict[str, Any]:
    return event.get("exception", {}).get("values", [{}])[-1]


def digest(body: bytes) -> dict[str, Any]:
    return {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def chunked(body: bytes, size: int = 65536) -> Iterator[bytes]:
    """The body as a generator: httpx sends it with Transfer-Encoding: chunked, no Content-Length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


@contextmanager
def served_by(server: str, target: str, *args: str, **env: str) -> Iterator[Served]:
    """Serve ``target`` until the block ends; the last request's transaction flushes."""
    with receiver() as inbox, tempfile.TemporaryDirectory() as marks:
        port = free_port()
        command = [*server_command(server, target, port), *args]
        with serve(command, port, server_env(SENTRY_DSN=inbox.dsn, APP_MARKS=marks, **env)):
            served = Served(server, f"http://127.0.0.1:{port}", inbox, Path(marks))
            yield served
            # One FIFO queue: once this transaction arrives, everything before it has too.
            assert httpx.get(f"{served.base}/items/0").is_success
            wait_for_transaction(served, "/items/0")


def wait_for_transaction(served: Served, path: str) -> None:
    for _ in range(500):
        if any(t["request"]["url"].endswith(path) for t in served.inbox.items("transaction")):
            return
        served.inbox.wait_for("transaction", len(served.inbox.items("transaction")) + 1, 0.02)
    pytest.fail(f"no transaction for {path}")


def request_to(served: Served, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request on its own connection: uvicorn closes one whose response ended in an error."""
    return httpx.request(method, served.base + path, **{"timeout": 20, **kwargs})


def drive_fastapi(served: Served) -> None:
    """The requests the FastAPI tests below read the outcome of."""
    got = served.responses
    for path in ("/body", "/stream"):
        got[path, "large"] = request_to(served, "POST", path, content=LARGE)
        got[path, "chunked"] = request_to(served, "POST", path, content=chunked(LARGE))
    got["ignore"] = request_to(served, "POST", "/ignore", content=chunked(LARGE))
    got["ignore", "fail"] = request_to(served, "POST", "/ignore?fail=1", content=LARGE)
    got["renamed"] = request_to(served, "GET", "/renamed", headers={"traceparent": TRACEPARENT})
    got["/model", "large"] = request_to(served, "POST", "/model", json={"blob": LARGE.hex()})
    failing = json.dumps({"password": PASSWORD, "fail": 1}).encode()
    got["/model", "fail"] = request_to(served, "POST", "/model", content=failing, headers=JSON_TYPE)
    got["/model", "fail chunked"] = request_to(
        served, "POST", "/model", content=chunked(failing, 8), headers=JSON_TYPE
    )
    for kind in ("sync", "async", "yield"):
        got["user", kind] = request_to(served, "GET", f"/users/{kind}", headers={"x-user": "u-7"})
    got["chunks"] = request_to(served, "GET", "/chunks")
    got["events"] = request_to(served, "GET", "/events")
    got["broken"] = broken_stream(served)
    got["missing"] = request_to(served, "GET", "/nowhere/7")
    origin = {"origin": "https://shop.example"}
    preflight = {**origin, "access-control-request-method": "PUT"}
    got["preflight"] = request_to(served, "OPTIONS", "/items/5", headers=preflight)
    got["cors"] = request_to(served, "GET", "/items/6", headers=origin)
    got["http-500"] = request_to(served, "GET", "/http-500")
    got["payment"] = request_to(served, "GET", "/payment")
    got["forever"] = leave_a_stream(served, "/forever", 3)
    leave_an_upload(served, "/upload")
    got["echo"] = echo(served, "/ws", "hello")
    got["health"] = request_to(served, "GET", "/health")
    got["health head"] = request_to(served, "HEAD", "/health")
    got["head"] = request_to(served, "HEAD", "/items/8")


def broken_stream(served: Served) -> str:
    """What the client got of a response whose generator failed midway."""
    try:
        return request_to(served, "GET", "/broken", timeout=3).text
    except httpx.HTTPError:  # the server cut the response short (Daphne leaves it open)
        return "cut short"


def leave_a_stream(served: Served, path: str, lines: int) -> list[str]:
    """Read the first ``lines`` of an endless response, then hang up, as a closed browser tab does."""
    with httpx.stream("GET", served.base + path, timeout=20) as response:
        read = [line for _, line in zip(range(lines), response.iter_lines(), strict=False)]
    wait_for_transaction(served, path)  # the server noticed on its next write: the app stopped
    return read


def leave_an_upload(served: Served, path: str) -> None:
    """Announce a large body, send a little of it and hang up once the app reads it."""
    host, port = served.base.removeprefix("http://").split(":")
    point = path.strip("/")  # the mark the app leaves as it starts reading the body
    with socket.create_connection((host, int(port))) as sock:
        head = f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-length: 100000\r\n\r\n"
        sock.sendall(head.encode() + b"x" * 1000)
        if served.server == "daphne":  # it reads the whole body before it calls the app
            time.sleep(0.3)
            assert not (served.marks / point).exists()
            return
        wait_until_reached(served.marks, point)
    wait_for_transaction(served, path)  # the app saw the disconnect and stopped


def echo(served: Served, path: str, text: str) -> str:
    from websockets.sync.client import connect

    with connect(served.base.replace("http", "ws", 1) + path) as ws:
        ws.send(text)
        return str(ws.recv())


VARIANTS = {
    "bare": {"PEER_INTEGRATIONS": "bare"},
    "defaults": {"PEER_INTEGRATIONS": "defaults"},
    "layered": {"PEER_INTEGRATIONS": "defaults", "PEER_LAYERED": "1"},
}


@pytest.fixture(scope="module", params=list(VARIANTS))
def fastapi(request: pytest.FixtureRequest) -> Iterator[Served]:
    """The FastAPI app served once per variant: bare, with sentry_sdk's integrations, behind BaseHTTPMiddleware."""
    with served_by("uvicorn", "apps.peer_app:app", **VARIANTS[request.param]) as served:
        drive_fastapi(served)
    return served


@pytest.fixture(scope="module")
def litestar() -> Served:
    with served_by("uvicorn", "apps.peer_app:litestar_app", PEER_INTEGRATIONS="defaults") as served:
        got = served.responses
        payload = json.dumps({"blob": LARGE.hex()}).encode()
        got["large"] = request_to(served, "POST", "/data", content=payload, headers=JSON_TYPE)
        got["chunked"] = request_to(
            served, "POST", "/data", content=chunked(payload), headers=JSON_TYPE
        )
        got["raw"] = request_to(served, "POST", "/raw", content=chunked(LARGE))
        got["form"] = request_to(served, "POST", "/form", data={"blob": "x" * 200_000})
        failing = json.dumps({"password": PASSWORD, "fail": 1}).encode()
        got["fail"] = request_to(served, "POST", "/data", content=failing, headers=JSON_TYPE)
        got["fail chunked"] = request_to(
            served, "POST", "/data", content=chunked(failing, 8), headers=JSON_TYPE
        )
    return served


@pytest.fixture(scope="module", params=SERVERS)
def bodies(request: pytest.FixtureRequest) -> Served:
    """Large, chunked and failing uploads to the FastAPI app, under each server."""
    with served_by(request.param, "apps.peer_app:app") as served:
        got = served.responses
        for path in ("/body", "/stream"):
            got[path, "large"] = request_to(served, "POST", path, content=LARGE)
            got[path, "chunked"] = request_to(served, "POST", path, content=chunked(LARGE))
        failing = json.dumps({"password": PASSWORD, "fail": 1}).encode()
        got["fail"] = request_to(
            served, "POST", "/model", content=chunked(failing, 8), headers=JSON_TYPE
        )
    return served


def test_every_server_delivers_the_whole_body_to_the_view_and_the_event(bodies: Served):
    """Under each server, request.body() and request.stream() get every byte, and an event the body read."""
    for key in [(path, sent) for path in ("/body", "/stream") for sent in ("large", "chunked")]:
        assert bodies.responses[key].json() == digest(LARGE), key
    assert bodies.responses["fail"].status_code == 500
    (event,) = bodies.events_raising("RuntimeError")
    assert event["request"]["data"] == {"password": "[Filtered]", "fail": 1}


@pytest.mark.parametrize("path", ["/body", "/stream"])
@pytest.mark.parametrize("sent", ["large", "chunked"])
def test_the_view_reads_a_large_or_chunked_body_whole(fastapi: Served, path: str, sent: str):
    """request.body() and request.stream() behind the middleware get every byte, large or chunked."""
    response = fastapi.responses[path, sent]
    assert response.status_code == 200
    assert response.json() == digest(LARGE)


def test_a_body_the_view_never_reads_is_not_waited_for_nor_attached(fastapi: Served):
    """A large body the view ignores is answered at once, and a failure there carries no body."""
    assert fastapi.responses["ignore"].json() == {"ok": True}
    assert fastapi.responses["ignore", "fail"].status_code == 500
    (event,) = [
        e for e in fastapi.events_raising("RuntimeError") if "ignore" in e["request"]["url"]
    ]
    assert not event["request"].get("data")  # sentry_sdk's integrations leave a "too large" note


def test_a_fastapi_body_parameter_is_parsed_and_its_failure_carries_it(fastapi: Served):
    """A FastAPI Body parameter parses a 4 MB JSON body; a failing view's event has the body it read, chunked or not."""
    assert fastapi.responses["/model", "large"].json() == {"keys": ["blob"]}
    assert fastapi.responses["/model", "fail"].status_code == 500
    assert fastapi.responses["/model", "fail chunked"].status_code == 500
    events = [e for e in fastapi.events_raising("RuntimeError") if "model" in e["request"]["url"]]
    assert [e["request"]["data"] for e in events] == [{"password": "[Filtered]", "fail": 1}] * 2
    assert PASSWORD not in json.dumps(events)


def test_litestar_data_is_parsed_from_large_and_chunked_bodies(litestar: Served):
    """Litestar's data (JSON or form) and body parameters behind the middleware get the whole body, chunked or not."""
    assert litestar.responses["large"].json() == {"keys": ["blob"]}
    assert litestar.responses["chunked"].json() == {"keys": ["blob"]}
    assert litestar.responses["raw"].json() == digest(LARGE)
    assert litestar.responses["form"].json() == {"size": 200_000}
    assert litestar.responses["fail"].status_code == 500
    assert litestar.responses["fail chunked"].status_code == 500
    events = litestar.events_raising("RuntimeError")
    assert [e["request"]["data"] for e in events] == [{"password": "[Filtered]", "fail": 1}] * 2
    assert PASSWORD not in json.dumps(events)


@pytest.mark.parametrize("kind", ["sync", "async", "yield"])
def test_a_user_set_in_a_fastapi_dependency_is_on_the_views_event(fastapi: Served, kind: str):
    """set_user in a sync, async or yield dependency reaches the event of the view it served."""
    assert fastapi.responses["user", kind].status_code == 500
    (event,) = [e for e in fastapi.events_raising("LookupError") if exception(e)["value"] == kind]
    assert event["user"]["id"] == f"u-7-{kind}"
    assert event["transaction"] == f"/users/{kind}"


@pytest.mark.parametrize(("key", "path"), [("chunks", "/chunks"), ("events", "/events")])
def test_a_streaming_response_is_one_transaction_named_after_its_route(
    fastapi: Served, key: str, path: str
):
    """A StreamingResponse, server-sent events included, is traced in full under its route."""
    assert fastapi.responses[key].status_code == 200
    (transaction,) = fastapi.transactions_at(path)
    assert transaction["transaction"] == path
    assert transaction["contexts"]["trace"]["status"] == "ok"


def test_spans_the_response_generator_starts_belong_to_the_transaction(fastapi: Served):
    """Spans started while a StreamingResponse generates its chunks are the request's own."""
    assert fastapi.responses["chunks"].text == "chunk 0\nchunk 1\nchunk 2\n"
    (transaction,) = fastapi.transactions_at("/chunks")
    trace = transaction["contexts"]["trace"]
    spans = transaction["spans"]
    assert [span["description"] for span in spans] == ["chunk 0", "chunk 1", "chunk 2"]
    assert {span["trace_id"] for span in spans} == {trace["trace_id"]}
    assert all(span["timestamp"] <= transaction["timestamp"] for span in spans)


def test_a_stream_that_fails_midway_is_reported_and_its_transaction_failed(fastapi: Served):
    """A response generator that raises after its first chunk is one event; its transaction failed."""
    assert fastapi.responses["broken"] in {"first\n", "cut short"}
    (event,) = fastapi.events_raising("ConnectionAbortedError")
    assert exception(event)["mechanism"]["handled"] is False
    assert event["transaction"] == "/broken"
    (transaction,) = fastapi.transactions_at("/broken")
    assert transaction["contexts"]["trace"]["status"] == "internal_error"
    assert [span["description"] for span in transaction["spans"]] == ["first"]


def test_a_name_the_view_set_stays_and_a_w3c_trace_is_continued(fastapi: Served):
    """The view's own transaction name survives on its transaction and event; a traceparent is continued."""
    (transaction,) = fastapi.transactions_at("/renamed")
    assert transaction["transaction"] == "checkout"
    assert transaction["contexts"]["trace"]["trace_id"] == TRACE_ID
    (event,) = [e for e in fastapi.inbox.items("event") if e.get("message") == "renamed"]
    assert event["transaction"] == "checkout"
    assert fastapi.responses["renamed"].json()["trace"].startswith(TRACE_ID)


def test_an_unrouted_request_is_named_after_its_path(fastapi: Served):
    """A 404 is named after the path asked for, never a generic name, and is no error."""
    assert fastapi.responses["missing"].status_code == 404
    (transaction,) = fastapi.transactions_at("/nowhere/7")
    assert transaction["transaction"] == "/nowhere/7"
    assert transaction["transaction_info"]["source"] == "url"
    assert transaction["contexts"]["trace"]["status"] == "not_found"
    assert not [e for e in fastapi.inbox.items("event") if "/nowhere" in e["request"]["url"]]


def test_a_cors_request_is_named_after_its_route_and_its_preflight_not_traced(fastapi: Served):
    """CORS middleware in front of the routes: the request is named after its route, the preflight costs nothing."""
    assert fastapi.responses["preflight"].headers["access-control-allow-origin"]
    assert fastapi.responses["cors"].headers["access-control-allow-origin"]
    assert fastapi.transactions_at("/items/5") == []
    (transaction,) = fastapi.transactions_at("/items/6")
    assert transaction["transaction"] == "/items/{item_id}"


def test_health_checks_and_head_requests_start_no_transaction(fastapi: Served):
    """An excluded health check (GET or HEAD) and a HEAD anywhere are answered and not traced."""
    assert fastapi.responses["health"].text == "ok"
    assert fastapi.responses["health head"].status_code == 200
    assert fastapi.responses["head"].status_code == 200
    assert fastapi.transactions_at("/health") == []
    assert fastapi.transactions_at("/items/8") == []


@pytest.fixture(scope="module", params=SERVERS)
def departures(request: pytest.FixtureRequest) -> Served:
    """Clients that leave an endless event stream and an upload, under each server."""
    with served_by(request.param, "apps.peer_app:app") as served:
        served.responses["forever"] = leave_a_stream(served, "/forever", 3)
        leave_an_upload(served, "/upload")
        served.responses["broken"] = broken_stream(served)
    return served


def test_a_stream_failing_midway_is_reported_once_under_each_server(departures: Served):
    """Under each server, a response generator failing after its first chunk is one event, its request failed."""
    assert departures.responses["broken"] in {"first\n", "cut short"}
    (event,) = departures.events_raising("ConnectionAbortedError")
    assert event["transaction"] == "/broken"
    (transaction,) = departures.transactions_at("/broken")
    assert transaction["contexts"]["trace"]["status"] == "internal_error"


def test_a_stream_the_client_leaves_is_cancelled_and_not_reported(departures: Served):
    """An endless event stream the client closes ends its transaction as cancelled, with no error event."""
    assert departures.responses["forever"] == ["data: 0", "", "data: 1"]
    (transaction,) = departures.transactions_at("/forever")
    assert transaction["contexts"]["trace"]["status"] == "cancelled"
    assert [e for e in departures.inbox.items("event") if "/forever" in e["request"]["url"]] == []


def test_a_client_leaving_mid_upload_is_not_reported(departures: Served):
    """A client that hangs up while the view reads its body is no error, only a cancelled request."""
    assert [e for e in departures.inbox.items("event") if "/upload" in e["request"]["url"]] == []
    statuses = [t["contexts"]["trace"]["status"] for t in departures.transactions_at("/upload")]
    # Daphne reads the whole body before it calls the app: an abandoned upload is no request.
    assert statuses == ([] if departures.server == "daphne" else ["cancelled"])


@pytest.mark.parametrize("server", [s for s in SERVERS if s != "daphne"])  # reads bodies whole
def test_a_client_leaving_a_litestar_upload_is_not_reported(server: str):
    """A client leaving mid-upload is a cancelled request under Litestar too, whose error for it is no event.

    Litestar raises InternalServerException("client disconnected prematurely") and answers it 500.
    """
    with served_by(server, "apps.peer_app:litestar_app", PEER_INTEGRATIONS="defaults") as served:
        leave_an_upload(served, "/raw")
    assert [e for e in served.inbox.items("event") if "/raw" in e["request"]["url"]] == []
    (transaction,) = served.transactions_at("/raw")
    assert transaction["contexts"]["trace"]["status"] == "cancelled"


class UploadAbandonedError(Exception):
    """The client gives up on its upload: httpx resets the HTTP/2 stream."""


def first_part_then_gone(marks: Path) -> Iterator[bytes]:
    yield b"x" * 100_000
    wait_until_reached(marks, "upload")  # the view is reading the body
    raise UploadAbandonedError


def test_a_client_leaving_an_http2_upload_under_hypercorn_is_not_reported():
    """Over HTTP/2 under hypercorn, a client leaving mid-upload is a cancelled request, not a 500 event.

    hypercorn 0.18.0 never tells the view, which waits for the rest of the body, that the client
    reset its stream (nor that it closed its connection): it cancels the view as it stops.
    """
    with served_by("hypercorn", "apps.peer_app:app") as served:
        with (
            httpx.Client(http1=False, http2=True, base_url=served.base) as client,
            pytest.raises(UploadAbandonedError),
        ):
            client.post("/upload", content=first_part_then_gone(served.marks))
        assert served.transactions_at("/upload") == []  # still waiting for the body
    assert [e for e in served.inbox.items("event") if "/upload" in e["request"]["url"]] == []
    (transaction,) = served.transactions_at("/upload")
    assert transaction["contexts"]["trace"]["status"] == "cancelled"


def test_a_client_resetting_an_http2_stream_mid_response_under_hypercorn_cancels_it():
    """Over HTTP/2 under hypercorn, a client resetting its stream mid-response is a cancelled request, not an event.

    hypercorn 0.18.0 stops the view only once the client's connection closes, not at the reset.
    """
    with served_by("hypercorn", "apps.peer_app:app") as served:
        with httpx.Client(http1=False, http2=True, base_url=served.base) as client:
            with client.stream("GET", "/forever") as response:
                lines = response.iter_lines()
                received = [next(lines) for _ in range(3)]
            assert served.transactions_at("/forever") == []  # the stream reset: the view runs on
        wait_for_transaction(served, "/forever")  # the connection closed: the server stopped it
    assert (response.http_version, received) == ("HTTP/2", ["data: 0", "", "data: 1"])
    assert [e for e in served.inbox.items("event") if "/forever" in e["request"]["url"]] == []
    (transaction,) = served.transactions_at("/forever")
    assert transaction["contexts"]["trace"]["status"] == "cancelled"


def test_a_stream_or_upload_left_behind_middleware_is_not_reported(fastapi: Served):
    """With BaseHTTPMiddleware and sentry_sdk's integrations too, a client leaving is no error."""
    assert fastapi.responses["forever"] == ["data: 0", "", "data: 1"]
    for path in ("/forever", "/upload"):
        assert [e for e in fastapi.inbox.items("event") if path in e["request"]["url"]] == []
        (transaction,) = fastapi.transactions_at(path)
        assert transaction["contexts"]["trace"]["status"] == "cancelled"


def test_a_500_the_framework_answers_is_reported_once(fastapi: Served):
    """HTTPException(500) and an app handler answering 500 are each one event."""
    assert fastapi.responses["http-500"].status_code == 500
    assert fastapi.responses["payment"].status_code == 500
    urls = [e["request"]["url"] for e in fastapi.inbox.items("event")]
    assert urls.count(fastapi.base + "/http-500") == 1
    assert urls.count(fastapi.base + "/payment") == 1
    (payment,) = fastapi.events_raising("PaymentError")
    assert exception(payment)["value"] == "card declined by the bank"


def test_a_websocket_connection_is_one_transaction(fastapi: Served):
    """A websocket connection under a real server is traced as one websocket.server transaction."""
    assert fastapi.responses["echo"] == "hello"
    url = fastapi.base.replace("http", "ws", 1) + "/ws"
    (transaction,) = [t for t in fastapi.inbox.items("transaction") if t["request"]["url"] == url]
    assert transaction["contexts"]["trace"]["op"] == "websocket.server"
    assert transaction["transaction"] == "/ws"


@pytest.mark.parametrize("server", SERVERS)
def test_a_chat_the_client_leaves_is_neither_an_error_nor_cancelled(server: str):
    """Under each server, a chat loop's WebSocketDisconnect once the client closed is no event, and the connection ok."""
    from websockets.sync.client import connect

    with served_by(server, "apps.peer_app:app") as served:
        with connect(served.base.replace("http", "ws", 1) + "/chat") as websocket:
            websocket.send("hi")
            assert websocket.recv() == "hi"
        # The server passes the close on, the app's receive() raises and the connection ends.
        wait_for_transaction(served, "/chat")
    chats = [t for t in served.inbox.items("transaction") if t["transaction"] == "/chat"]
    assert [t["contexts"]["trace"]["status"] for t in chats] == ["ok"]
    assert [e for e in served.inbox.items("event") if e.get("transaction") == "/chat"] == []


# How each server is told the app lives under /api, and the path its client asks for: granian
# expects the prefix in the request; the others are behind a proxy that removed it.
ROOT_PATHS = {
    "uvicorn": (("--root-path", "/api"), ""),
    "hypercorn": (("--root-path", "/api"), ""),
    "granian": (("--url-path-prefix", "/api"), "/api"),
    "daphne": (("--root-path", "/api"), ""),
}


@pytest.mark.parametrize("server", SERVERS)
def test_the_servers_root_path_appears_once_in_the_url(server: str):
    """Under a server's root path option, the URL of events and transactions has the prefix once."""
    options, prefix = ROOT_PATHS[server]
    with served_by(server, "apps.peer_app:app", *options) as served:
        response = httpx.get(f"{served.base}{prefix}/items/3")
        failed = httpx.get(f"{served.base}{prefix}/items/4?fail=1")
    assert response.json()["item"] == 3
    assert failed.status_code == 500
    (event,) = served.events_raising("ValueError")
    assert event["request"]["url"] == f"{served.base}/api/items/4"
    assert event["request"]["query_string"] == "fail=1"
    assert event["transaction"] == "/api/items/{item_id}"
    (transaction,) = served.transactions_at("/api/items/3")
    assert transaction["transaction"] == "/api/items/{item_id}"
