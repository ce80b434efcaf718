"""Property-based: for any scope and message sequence the middleware is invisible to app and server."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import sentry_sdk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentry_asgi import SentryMiddleware

text = st.text(max_size=20)
raw = st.binary(max_size=20)
header = st.tuples(
    st.sampled_from(
        [
            b"host",
            b"sentry-trace",
            b"traceparent",
            b"baggage",
            b"cookie",
            b"x-forwarded-for",
            b"content-type",
        ]
    )
    | raw,
    raw,
)
scopes = st.fixed_dictionaries(
    {"type": st.sampled_from(["http", "websocket", "lifespan", "other"])},
    optional={
        "method": st.sampled_from(["GET", "POST", "HEAD", "OPTIONS"]) | text,
        "path": text,
        "root_path": text,
        "scheme": st.sampled_from(["http", "https", "ws"]) | text | st.none(),
        "query_string": raw,
        "headers": st.lists(header, max_size=6) | st.none(),
        "client": st.none() | st.tuples(text, st.integers()) | st.just(()),
        "server": st.none() | st.tuples(text, st.integers() | st.none()),
        "route": st.none() | text,
        "endpoint": st.none() | text | st.just(print),
    },
)
incoming_messages = st.lists(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(
                ["http.request", "http.disconnect", "websocket.connect", "lifespan.startup"]
            )
        },
        optional={"body": raw, "more_body": st.booleans(), "code": st.integers() | text},
    ),
    max_size=4,
)
outgoing_messages = st.lists(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(
                ["http.response.start", "http.response.body", "websocket.accept", "websocket.close"]
            )
        },
        optional={
            "status": st.integers(100, 599) | text,
            "body": raw,
            "more_body": st.booleans(),
            "code": st.integers(),
        },
    ),
    max_size=4,
)


class BoomError(Exception):
    """The app's own exception: the only one allowed to escape."""


def run(
    app: Any, scope: dict[str, Any], incoming: list[dict[str, Any]]
) -> tuple[list, list, BaseException | None]:
    """Drive one connection in a fresh context; return what the app received, what reached the server, what escaped."""
    received: list[dict[str, Any]] = []
    sent: list[dict[str, Any]] = []
    queue = list(incoming)

    async def receive() -> dict[str, Any]:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def main() -> None:
        await app(scope, receive, send)

    try:
        contextvars.Context().run(asyncio.run, main())
    except BaseException as exc:
        return received, sent, exc
    return received, sent, None


def make_app(reads: int, outgoing: list[dict[str, Any]], fail: bool, log: list[dict[str, Any]]):
    async def app(scope, receive, send):
        for _ in range(reads):
            log.append(await receive())
        for message in outgoing:
            await send(message)
        if fail:
            raise BoomError

    return app


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    scopes, incoming_messages, outgoing_messages, st.integers(0, 4), st.booleans(), st.booleans()
)
def test_middleware_is_transparent(sentry_init, scope, incoming, outgoing, reads, fail, tracing):
    """The app receives exactly what the server sent, the server exactly what the app sent, and only BoomError escapes."""
    sentry_init(traces_sample_rate=1.0 if tracing else None, send_default_pii=tracing)
    reads = min(reads, len(incoming))
    bare_log: list[dict[str, Any]] = []
    wrapped_log: list[dict[str, Any]] = []
    _, bare_sent, bare_error = run(make_app(reads, outgoing, fail, bare_log), dict(scope), incoming)
    _, wrapped_sent, wrapped_error = run(
        SentryMiddleware(make_app(reads, outgoing, fail, wrapped_log)), dict(scope), incoming
    )
    assert wrapped_log == bare_log
    assert all(a is b for a, b in zip(wrapped_log, bare_log, strict=True))
    assert wrapped_sent == bare_sent
    assert type(wrapped_error) is type(bare_error)
    sentry_sdk.flush()
