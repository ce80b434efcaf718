"""Lifespan: passed through untouched, real failures reported once, 'not supported' never."""

from __future__ import annotations

import contextlib
import logging
import sys

import pytest
from conftest import call, http_scope
from test_scope_isolation import session_totals

from sentry_asgi import SentryMiddleware, _errors

pytestmark = pytest.mark.anyio

STARTUP = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]


@pytest.fixture(autouse=True)
def no_expected_repeats():
    """Each test starts as a fresh process would: no lifespan failure reported yet."""
    _errors._lifespan_repeats.clear()
    yield
    _errors._lifespan_repeats.clear()


def failing_starlette():
    from starlette.applications import Starlette

    @contextlib.asynccontextmanager
    async def lifespan(app):
        raise ConnectionRefusedError("database down")
        yield

    return Starlette(lifespan=lifespan)


async def uvicorn_startup(app, lifespan="auto"):
    """Run uvicorn's own lifespan start-up for ``app``, logging what uvicorn logs."""
    from uvicorn import Config
    from uvicorn.lifespan.on import LifespanOn

    server = LifespanOn(Config(app, lifespan=lifespan, log_config=None))
    await server.startup()
    return server


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


async def test_request_counts_are_sent_once_the_app_has_shut_down(sentry_init):
    """The requests' session counts leave before the worker exits: at lifespan.shutdown.complete."""
    transport = sentry_init(release="shop@1.0")

    async def app(scope, receive, send):
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})

    middleware = SentryMiddleware(app)
    await call(middleware, http_scope("/"))
    assert transport.items("sessions") == []
    await call(middleware, {"type": "lifespan"}, [dict(m) for m in STARTUP])
    assert session_totals(transport) == {"exited": 1}


def failing_to_stop(*, raising: bool):
    """An app answering requests that fails at shutdown: raising, or sending lifespan.shutdown.failed."""

    async def app(scope, receive, send):
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        if raising:
            raise ConnectionResetError("pool already closed")
        await send({"type": "lifespan.shutdown.failed", "message": "pool already closed"})

    return app


@pytest.mark.parametrize("raising", [False, True], ids=["sent", "raised"])
async def test_request_counts_are_sent_when_the_app_fails_to_shut_down(sentry_init, raising):
    """The requests' session counts leave before the worker exits after a failed shutdown too."""
    transport = sentry_init(release="shop@1.0")
    middleware = SentryMiddleware(failing_to_stop(raising=raising))
    await call(middleware, http_scope("/"))
    assert transport.items("sessions") == []
    with contextlib.suppress(ConnectionResetError):
        await call(middleware, {"type": "lifespan"}, [dict(m) for m in STARTUP])
    assert session_totals(transport) == {"exited": 1}


async def test_shutdown_failure_under_uvicorn_is_one_event(sentry_init):
    """An app raising at shutdown under uvicorn (lifespan "on") is one event: uvicorn's lines about it add none."""
    transport = sentry_init()
    server = await uvicorn_startup(SentryMiddleware(failing_to_stop(raising=True)), "on")
    await server.shutdown()
    assert server.should_exit
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "pool already closed"


@pytest.mark.parametrize(
    ("failure", "title"),
    [
        ({"message": "no config"}, "Lifespan startup failed: no config"),
        ({}, "Lifespan startup failed: no message"),
    ],
)
async def test_failed_message_without_exception_is_reported(sentry_init, failure, title):
    """An app that reports lifespan.startup.failed and returns quietly is still reported."""
    transport = sentry_init()

    async def app(scope, receive, send):
        await receive()
        await send({"type": "lifespan.startup.failed", **failure})

    await call(SentryMiddleware(app), {"type": "lifespan"}, STARTUP)
    (event,) = transport.events
    assert event["message"] == title
    assert event["level"] == "error"


async def test_django_is_not_reported_with_its_integration_on(sentry_init):
    """Django refusing the lifespan scope sends nothing, though sentry_sdk's Django integration sees it."""
    from frameworks.apps.django_app import django_app

    transport = sentry_init()

    with pytest.raises(ValueError, match="not lifespan"):
        await call(SentryMiddleware(django_app()), {"type": "lifespan"}, STARTUP)
    assert transport.events == []


async def test_error_the_app_captures_before_receive_is_kept(sentry_init):
    """An error the app itself captures on the lifespan scope, before receive(), is still sent."""
    import sentry_sdk

    transport = sentry_init()

    async def app(scope, receive, send):
        sentry_sdk.capture_exception(KeyError("cache"))  # handled: the app reports it itself
        assert scope["type"] == "http", "only http is supported"

    with pytest.raises(AssertionError):
        await call(SentryMiddleware(app), {"type": "lifespan"}, STARTUP)
    (event,) = transport.events
    assert event["exception"]["values"][-1]["type"] == "KeyError"
    assert event["exception"]["values"][-1]["mechanism"]["handled"] is True


async def test_startup_failure_under_uvicorn_is_one_event(sentry_init, caplog):
    """Under uvicorn a failed start-up is one event: uvicorn's log lines about it (traceback, exiting) add none."""
    transport = sentry_init()

    with caplog.at_level(logging.INFO, logger="uvicorn.error"):
        server = await uvicorn_startup(SentryMiddleware(failing_starlette()))
    assert server.should_exit
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert logged[-1] == "Application startup failed. Exiting."
    assert "database down" in logged[0]
    (event,) = transport.events
    assert event["exception"]["values"][-1]["type"] == "ConnectionRefusedError"


async def test_uvicorn_lines_without_a_reported_failure_are_kept(sentry_init):
    """Uvicorn's own error lines reach Sentry when the middleware reported nothing (lifespan "on", no support)."""
    transport = sentry_init()

    async def app(scope, receive, send):
        assert scope["type"] == "http", "only http is supported"

    server = await uvicorn_startup(SentryMiddleware(app), lifespan="on")
    assert server.should_exit
    messages = [e["logentry"]["message"] for e in transport.events]
    assert messages == [
        "Exception in 'lifespan' protocol\n",
        "Application startup failed. Exiting.",
    ]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="ExceptionGroup is Python 3.11+")
async def test_startup_failure_in_a_task_group_is_titled_after_its_error(sentry_init):
    """Litestar's failed start-up (an ExceptionGroup from its task group) is titled after the real error."""
    from litestar import Litestar

    transport = sentry_init(auto_enabling_integrations=False)

    async def connect() -> None:
        raise ConnectionRefusedError("database down")

    app = SentryMiddleware(Litestar([], on_startup=[connect]))
    with pytest.raises(ExceptionGroup):  # noqa: F821 - Python 3.11+, skipped before
        await call(app, {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, STARTUP)
    (event,) = transport.events
    group = next(v for v in event["exception"]["values"] if v["type"] == "ExceptionGroup")
    assert (
        group["value"] == "ConnectionRefusedError: database down [unhandled errors in a TaskGroup]"
    )


async def test_a_request_the_app_sends_itself_at_start_up_is_reported_as_its_own(sentry_init):
    """A request the app sends to itself from its lifespan start-up is traced and reported as a request."""
    import httpx
    from starlette.applications import Starlette
    from starlette.routing import Route

    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)

    async def warm(request):
        raise ValueError("cache warm-up failed")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        itself = httpx.ASGITransport(app=wrapped, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=itself, base_url="http://testserver") as client:
            assert (await client.get("/warm")).status_code == 500
        yield

    wrapped = SentryMiddleware(Starlette(routes=[Route("/warm", warm)], lifespan=lifespan))
    await call(wrapped, {"type": "lifespan", "asgi": {"version": "3.0"}}, STARTUP)
    (event,) = transport.events
    assert event["request"]["url"] == "http://testserver/warm"
    assert [t["transaction"] for t in transport.transactions] == [event["transaction"]]
