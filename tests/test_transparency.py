"""Odd, legal or buggy input reaches the app and the server as it would without the middleware."""

from __future__ import annotations

import contextvars
import types

import pytest
from conftest import call, http_scope

from sentry_asgi import SentryMiddleware

pytestmark = pytest.mark.anyio

RAW_HEADERS = [(b"host", b"example.com"), (b"authorization", b"Bearer abc123")]


async def test_one_shot_header_iterables_reach_the_app_unread(sentry_init):
    """ASGI types headers as an iterable: an iterator is left for the app, never used up."""
    transport = sentry_init(traces_sample_rate=1.0)
    seen = []

    async def app(scope, receive, send):
        seen.extend(scope["headers"])
        raise LookupError("with the headers read")

    with pytest.raises(LookupError):
        await call(SentryMiddleware(app), http_scope(headers=iter(RAW_HEADERS)))
    assert seen == RAW_HEADERS
    (event,) = transport.events
    assert event["request"]["headers"] == {}


@pytest.mark.parametrize("direction", ["receive", "send"])
async def test_a_message_that_is_not_a_mapping_fails_as_it_would_without_us(sentry_init, direction):
    """A server's or app's malformed message gets the other side's error, not the middleware's."""
    sentry_init(traces_sample_rate=1.0)
    outcomes = []

    async def receive():
        return None if direction == "receive" else {"type": "http.request", "body": b""}

    async def send(message):
        message["type"]  # what a server does first with a message

    async def app(scope, receive_, send_):
        message = await receive_()
        if direction == "send":
            await send_(None)
        outcomes.append(message)

    for wrapped in (app, SentryMiddleware(app)):
        try:
            await wrapped(http_scope(), receive, send)
        except Exception as exc:
            outcomes.append(type(exc))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0] == (None if direction == "receive" else TypeError)


def test_a_request_abandoned_and_closed_from_another_context_closes_cleanly(sentry_init):
    """A suspended request coroutine closed elsewhere (by the garbage collector) raises nothing."""
    sentry_init(traces_sample_rate=1.0)

    @types.coroutine
    def suspend():
        yield

    async def receive():
        await suspend()

    async def app(scope, receive_, send_):
        await receive_()

    async def send(message):
        pass

    request = SentryMiddleware(app)(http_scope(), receive, send)
    contextvars.copy_context().run(request.send, None)  # it starts in the request's context
    request.close()  # and is closed from this one
