"""Lifespan: passed through untouched, real failures reported once, 'not supported' never."""

from __future__ import annotations

import contextlib

import pytest
from conftest import call

from sentry_asgi import SentryMiddleware

pytestmark = pytest.mark.anyio

STARTUP = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]


async def test_app_without_lifespan_support_is_not_reported(sentry_init):
    """An app that raises on the lifespan scope before receive() (as Django does) sends nothing."""
    transport = sentry_init()

    async def app(scope, receive, send):
        assert scope["type"] == "http", "only http is supported"

    with pytest.raises(AssertionError):
        await call(SentryMiddleware(app), {"type": "lifespan", "asgi": {"version": "3.0"}}, STARTUP)
    assert transport.events == []


async def test_startup_failure_is_reported_once(sentry_init):
    """A Starlette lifespan that fails at start-up is reported once, and the server still sees it."""
    from starlette.applications import Starlette

    transport = sentry_init(auto_enabling_integrations=False)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        raise ConnectionRefusedError("database down")
        yield

    app = SentryMiddleware(Starlette(lifespan=lifespan))
    conversation = None
    with pytest.raises(ConnectionRefusedError):
        conversation = await call(app, {"type": "lifespan", "asgi": {"version": "3.0"}}, STARTUP)
    assert conversation is None
    (event,) = transport.events
    assert event["exception"]["values"][-1]["type"] == "ConnectionRefusedError"
    assert event["exception"]["values"][-1]["mechanism"]["type"] == "asgi.lifespan"


async def test_lifespan_messages_pass_through_untouched(sentry_init):
    """A healthy lifespan's messages reach the server as the app sent them."""
    sentry_init()
    seen = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            seen.append(message)
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return

    conversation = await call(
        SentryMiddleware(app), {"type": "lifespan"}, [dict(m) for m in STARTUP]
    )
    assert seen == STARTUP
    assert conversation.sent == [
        {"type": "lifespan.startup.complete"},
        {"type": "lifespan.shutdown.complete"},
    ]


async def test_failed_message_without_exception_is_reported(sentry_init):
    """An app that reports lifespan.startup.failed and returns quietly is still reported."""
    transport = sentry_init()

    async def app(scope, receive, send):
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no config"})

    await call(SentryMiddleware(app), {"type": "lifespan"}, STARTUP)
    (event,) = transport.events
    assert event["message"] == "Lifespan startup failed: no config"
    assert event["level"] == "error"
