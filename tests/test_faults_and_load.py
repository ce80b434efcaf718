"""A slow, down or rate-limiting Sentry never slows the app; memory stays flat per request."""

from __future__ import annotations

import asyncio
import gc
import socket
import threading
import time
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

import pytest
import sentry_sdk
from conftest import Conversation, call, deactivate, http_scope, relay_problems
from fastapi import Depends, FastAPI
from sentry_sdk.transport import Transport
from starlette.responses import StreamingResponse

from sentry_asgi import SentryMiddleware

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

pytestmark = pytest.mark.anyio


@contextmanager
def black_hole() -> Iterator[str]:
    """A Sentry that accepts connections and never answers; yields its DSN."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://public@127.0.0.1:{listener.getsockname()[1]}/1"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        listener.close()


async def fail(scope, receive, send):
    await send({"type": "http.response.start", "status": 500, "headers": []})
    await send({"type": "http.response.body", "body": b"x"})
    raise RuntimeError("boom")


async def max_loop_stall(work) -> float:
    """Run ``work`` while a ticker measures the longest time the event loop was blocked."""
    worst = 0.0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal worst
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            worst = max(worst, now - last - 0.005)
            last = now

    task = asyncio.create_task(ticker())
    await work()
    done.set()
    await task
    return worst


@pytest.mark.e2e
async def test_unreachable_sentry_never_blocks_the_event_loop():
    """200 failing requests against a Sentry that never answers: the loop is never held up."""
    with black_hole() as dsn:
        sentry_sdk.init(
            dsn=dsn, traces_sample_rate=1.0, shutdown_timeout=0, auto_enabling_integrations=False
        )
        middleware = SentryMiddleware(fail)

        async def work() -> None:
            for _ in range(200):
                with pytest.raises(RuntimeError):
                    await call(middleware, http_scope())

        stall = await max_loop_stall(work)
        deactivate()
    # sentry_sdk's transport queue absorbs the backlog on its own thread; a blocking send would
    # stall for its whole socket timeout (seconds) per event.
    assert stall < 0.5


LIFESPAN = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]


async def starts_and_stops(scope, receive, send):
    await receive()
    await send({"type": "lifespan.startup.complete"})
    await receive()
    await send({"type": "lifespan.shutdown.complete"})


@pytest.mark.e2e
async def test_lifespan_shutdown_flush_is_bounded():
    """Shutdown flushes the queue but gives up after shutdown_timeout when Sentry never answers."""
    with black_hole() as dsn:
        sentry_sdk.init(dsn=dsn, shutdown_timeout=1, auto_enabling_integrations=False)
        sentry_sdk.capture_message("queued before shutdown")
        started = time.perf_counter()
        conversation = await call(
            SentryMiddleware(starts_and_stops), {"type": "lifespan"}, LIFESPAN
        )
        elapsed = time.perf_counter() - started
        deactivate()
    assert conversation.sent[-1] == {"type": "lifespan.shutdown.complete"}
    assert elapsed < 5


@pytest.mark.e2e
async def test_a_server_cancelling_the_shutdown_flush_cancels_the_app():
    """A server that cancels the app while its shutdown is flushed to a Sentry that never answers gets the cancellation through."""
    with black_hole() as dsn:
        sentry_sdk.init(dsn=dsn, shutdown_timeout=2, auto_enabling_integrations=False)
        sentry_sdk.capture_message("queued before shutdown")
        conversation = Conversation(
            SentryMiddleware(starts_and_stops), {"type": "lifespan"}, LIFESPAN
        )
        shutting_down = asyncio.Event()
        receive = conversation.receive

        async def watched_receive() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                shutting_down.set()  # the app answers it next: that answer waits on the flush
            return message

        conversation.receive = watched_receive
        running = asyncio.create_task(conversation.run())
        await shutting_down.wait()
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        deactivate()
    assert conversation.sent == [{"type": "lifespan.startup.complete"}]


class Discarding(Transport):
    """Serialises every envelope, as a real transport would, then drops it."""

    def __init__(self) -> None:
        super().__init__({})
        self.count = 0

    def capture_envelope(self, envelope) -> None:
        envelope.serialize()
        self.count += 1


def discarding_client(tracing: float | None, **options: Any) -> Discarding:
    """A real client with release health on, whose transport serialises and drops each envelope."""
    transport = Discarding()
    sentry_sdk.init(
        dsn="http://public@127.0.0.1:9/1",
        transport=transport,
        traces_sample_rate=tracing,
        release="leak@1",
        **options,
    )
    return transport


async def live_object_growth(batch: Callable[[int], Awaitable[None]], n: int) -> int:
    """How many more live objects there are after ``n`` requests than before, once warmed up."""
    await batch(300)  # warm caches, interned strings, lazily created SDK state
    gc.collect()
    before = len(gc.get_objects())
    await batch(n)
    gc.collect()
    after = len(gc.get_objects())
    deactivate()
    return after - before


@pytest.mark.parametrize("tracing", [None, 1.0])
async def test_no_memory_growth_per_request(tracing):
    """Thousands of requests (errors, bodies, tracing) leave the number of live objects flat."""
    transport = discarding_client(tracing, auto_enabling_integrations=False)

    async def app(scope, receive, send):
        await receive()
        sentry_sdk.set_tag("path", scope["path"])
        if scope["path"] == "/fail":
            raise RuntimeError("boom")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    middleware = SentryMiddleware(app)
    body = [{"type": "http.request", "body": b'{"a": 1}'}]
    scope_headers = [
        (b"host", b"h"),
        (b"content-type", b"application/json"),
        (b"authorization", b"Bearer x-secret"),
    ]

    async def batch(n: int) -> None:
        for i in range(n):
            path = "/fail" if i % 10 == 0 else "/ok"
            with suppress(RuntimeError):
                await call(
                    middleware, http_scope(path, method="POST", headers=scope_headers), list(body)
                )

    growth = await live_object_growth(batch, 2000)
    assert transport.count > 200
    assert growth < 300, f"{growth} objects more after 2000 requests"


@pytest.mark.e2e
def test_rate_limited_sentry_does_not_affect_requests():
    """Sentry answering 429 with rate limits: events are dropped by the SDK, requests go on."""
    import http.server

    class Limited(http.server.BaseHTTPRequestHandler):
        hits = 0

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            Limited.hits += 1
            self.send_response(429)
            self.send_header("X-Sentry-Rate-Limits", "60::organization")
            self.send_header("Retry-After", "60")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Limited)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        sentry_sdk.init(
            dsn=f"http://public@127.0.0.1:{server.server_address[1]}/1",
            auto_enabling_integrations=False,
        )
        middleware = SentryMiddleware(fail)

        async def many() -> None:
            for _ in range(100):
                with pytest.raises(RuntimeError):
                    await call(middleware, http_scope())

        asyncio.run(many())
        sentry_sdk.flush(timeout=5)
        deactivate()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert 1 <= Limited.hits < 10  # the SDK backed off after the first 429


def test_relay_problems_is_not_vacuous():
    """The normaliser check used on every event does reject a broken one."""
    assert relay_problems({"level": "catastrophic"}) != []


def streaming_fastapi() -> FastAPI:
    """A FastAPI app whose requests set a user in a dependency, stream, fail midway or fail."""
    api = FastAPI()

    async def user() -> None:
        sentry_sdk.set_user({"id": "u-1"})

    async def lines(fail: bool) -> AsyncIterator[str]:
        yield "first\n"
        if fail:
            msg = "stream failed"
            raise RuntimeError(msg)
        yield "last\n"

    @api.get("/stream/{mode}", dependencies=[Depends(user)])
    async def stream(mode: str) -> StreamingResponse:
        if mode == "fail":
            msg = "view failed"
            raise RuntimeError(msg)
        return StreamingResponse(lines(mode == "midway"), media_type="text/event-stream")

    return api


@pytest.mark.parametrize("tracing", [None, 1.0])
async def test_no_memory_growth_per_request_in_a_real_framework(tracing):
    """Streamed, failed, abandoned FastAPI requests with a user from a dependency leave live objects flat."""
    transport = discarding_client(tracing)
    middleware = SentryMiddleware(streaming_fastapi(), transaction_style="url")
    request = {"type": "http.request", "body": b""}
    modes = {
        "ok": [request],
        "midway": [request],
        "fail": [request],
        # Starlette listens for the disconnect before ASGI 2.4 and cancels the stream.
        "left": [request, {"type": "http.disconnect"}],
    }

    async def batch(n: int) -> None:
        for i in range(n):
            mode = list(modes)[i % len(modes)]
            scope = http_scope(f"/stream/{mode}", asgi={"version": "3.0", "spec_version": "2.0"})
            # the stream's RuntimeError (in an ExceptionGroup from Starlette before 0.38)
            with suppress(Exception):
                await call(middleware, scope, list(modes[mode]))

    growth = await live_object_growth(batch, 800)
    assert transport.count > 300
    assert growth < 300, f"{growth} objects more after 800 requests"
