"""Unhandled exceptions: captured once, re-raised intact, never for a client that left."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import gc
import json
import logging
import sys
import types
import unittest.mock
import weakref

import pytest
import sentry_sdk
from conftest import Conversation, call, collect_leftovers, http_scope

from sentry_asgi import SentryMiddleware
from sentry_asgi._errors import is_disconnect
from sentry_asgi._exchange import Exchange

pytestmark = pytest.mark.anyio


async def test_exception_is_captured_once_and_the_same_object_reraised(sentry_init):
    """The app's exception reaches Sentry once, unhandled, and the server gets the very same object."""
    transport = sentry_init()
    raised = ValueError("nope")

    async def app(scope, receive, send):
        raise raised

    with pytest.raises(ValueError) as info:
        await call(SentryMiddleware(app), http_scope("/boom"))
    assert info.value is raised
    (event,) = transport.events
    (value,) = event["exception"]["values"]
    assert value["type"] == "ValueError"
    assert value["value"] == "nope"
    assert value["mechanism"] == {"type": "asgi", "handled": False}
    assert event["request"]["url"] == "http://testserver/boom"


@pytest.mark.internal_errors_expected
async def test_an_sdk_whose_event_builder_changed_still_gets_the_exception(
    sentry_init, monkeypatch, no_internal_errors
):
    """Should sentry_sdk's internal event builder change its signature, the exception is still sent, filtered."""
    transport = sentry_init()
    token = "Bearer 7c9e6679-7425-40de-944b-e07fc1f90ae7"  # noqa: S105 - a fake secret

    def changed(exc_info, mechanism=None):  # sentry-sdk 3.0's signature: no client_options
        return {}, {}  # never reached: the middleware's call passes client_options

    monkeypatch.setattr("sentry_asgi._errors.event_from_exception", changed)
    raised = ValueError("nope")

    async def app(scope, receive, send):
        raise raised

    scope = http_scope(
        "/boom", headers=[(b"host", b"testserver"), (b"authorization", token.encode())]
    )
    with pytest.raises(ValueError) as info:
        await call(SentryMiddleware(app), scope)
    assert info.value is raised
    (event,) = transport.events
    (value,) = event["exception"]["values"]
    assert (value["type"], value["value"]) == ("ValueError", "nope")
    assert value["mechanism"]["type"] == "generic"  # sentry_sdk's public capture_exception
    assert event["request"]["headers"]["authorization"] == "[Filtered]"
    assert token.split()[1] not in json.dumps(event)
    (fault,) = no_internal_errors
    assert "client_options" in str(fault.exc_info[1])


async def test_cause_chain_and_traceback_survive(sentry_init):
    """The re-raised exception keeps its cause and its traceback down to the app's frame."""
    transport = sentry_init()

    async def app(scope, receive, send):
        try:
            {}["missing"]
        except KeyError as exc:
            raise RuntimeError("lookup failed") from exc

    with pytest.raises(RuntimeError) as info:
        await call(SentryMiddleware(app), http_scope())
    assert isinstance(info.value.__cause__, KeyError)
    frames = []
    tb = info.value.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    assert frames[-1] == "app"
    (event,) = transport.events
    assert [v["type"] for v in event["exception"]["values"]] == ["KeyError", "RuntimeError"]


async def test_an_exception_raised_in_the_middlewares_send_keeps_the_frame_it_was_raised_in(
    sentry_init,
):
    """An app sending no message (its queue) is reported down to the middleware's send it failed in."""
    transport = sentry_init()

    async def app(scope, receive, send):
        await send(asyncio.Queue())  # `.get("type")` of a queue: a TypeError in our send

    with pytest.raises(TypeError):
        await call(SentryMiddleware(app), http_scope())
    (event,) = transport.events
    frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
    assert [(f["module"], f["function"]) for f in frames[-2:]] == [
        ("test_errors", "app"),
        ("sentry_asgi._exchange", "send"),
    ]
    assert not frames[0]["module"].startswith("sentry_asgi.")  # no caller of ours before the app


async def test_exception_after_response_started_is_captured(sentry_init):
    """An exception raised mid-stream, after the headers went out, is still reported."""
    transport = sentry_init()

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        await call(SentryMiddleware(app), http_scope())
    (event,) = transport.events
    assert event["exception"]["values"][0]["value"] == "disk gone"


async def test_cancellation_is_not_reported(sentry_init):
    """asyncio.CancelledError passes through and produces no event."""
    transport = sentry_init()

    async def app(scope, receive, send):
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await call(SentryMiddleware(app), http_scope())
    assert transport.events == []


async def test_client_disconnect_is_not_reported(sentry_init):
    """Starlette's ClientDisconnect (the client went away) is not an error of the app."""
    from starlette.requests import ClientDisconnect, Request

    transport = sentry_init()

    async def app(scope, receive, send):
        await Request(scope, receive).body()

    with pytest.raises(ClientDisconnect):
        await call(SentryMiddleware(app), http_scope(method="POST"), [{"type": "http.disconnect"}])
    assert transport.events == []


async def test_a_client_disconnect_the_app_captures_itself_is_sent(sentry_init):
    """A ClientDisconnect the app catches and captures itself (a handled event) is the app's choice: sent."""
    from starlette.requests import ClientDisconnect, Request

    transport = sentry_init()

    async def app(scope, receive, send):
        try:
            await Request(scope, receive).body()
        except ClientDisconnect as exc:
            sentry_sdk.capture_exception(exc)

    await call(SentryMiddleware(app), http_scope(method="POST"), [{"type": "http.disconnect"}])
    (event,) = transport.events
    (value,) = event["exception"]["values"]
    assert (value["type"], value["mechanism"]["handled"]) == ("ClientDisconnect", True)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="ExceptionGroup is Python 3.11+")
async def test_a_task_group_of_disconnects_is_not_reported(sentry_init):
    """A disconnect seen by one task of a TaskGroup arrives as an ExceptionGroup: still no error."""
    from starlette.requests import ClientDisconnect, Request

    transport = sentry_init()

    async def app(scope, receive, send):
        async with asyncio.TaskGroup() as group:
            group.create_task(Request(scope, receive).body())

    with pytest.raises(ExceptionGroup):  # noqa: F821 - Python 3.11+, skipped before
        await call(SentryMiddleware(app), http_scope(method="POST"), [{"type": "http.disconnect"}])
    assert transport.events == []
    assert is_disconnect(ExceptionGroup("g", [ClientDisconnect()]))  # noqa: F821
    assert not is_disconnect(ExceptionGroup("g", [ClientDisconnect(), KeyError()]))  # noqa: F821
    assert is_disconnect(BaseExceptionGroup("g", [ClientDisconnect(), asyncio.CancelledError()]))  # noqa: F821


async def test_starlettes_500_after_a_disconnect_and_the_servers_log_of_it_are_not_reported(
    sentry_init,
):
    """Starlette answers 500 to a ClientDisconnect and the server logs it: neither is an event."""
    from starlette.applications import Starlette
    from starlette.requests import ClientDisconnect
    from starlette.routing import Route

    transport = sentry_init(traces_sample_rate=1.0)  # sentry_sdk's Starlette integration is on

    async def upload(request):
        await request.body()

    app = SentryMiddleware(Starlette(routes=[Route("/upload", upload, methods=["POST"])]))
    conversation = Conversation(app, http_scope("/upload", method="POST"), [])
    conversation.incoming = [{"type": "http.disconnect"}]
    with pytest.raises(ClientDisconnect) as raised:
        await conversation.run()
    assert conversation.sent[0]["status"] == 500
    # What uvicorn does with the exception once it left the app, through sentry_sdk's logging.
    logging.getLogger("uvicorn.error").error("Exception in ASGI application", exc_info=raised.value)
    assert transport.events == []
    (transaction,) = transport.transactions
    assert transaction["contexts"]["trace"]["status"] == "cancelled"


@pytest.mark.parametrize(
    ("error", "reported"),
    [(ConnectionResetError("peer reset"), 0), (KeyError("bug"), 1)],
    ids=["write-failure", "real-bug"],
)
async def test_after_a_disconnect_only_real_bugs_are_reported(sentry_init, error, reported):
    """Once the client is gone, a write failure is its doing and not reported; a real bug still is."""
    transport = sentry_init()

    async def app(scope, receive, send):
        await receive()
        raise error

    with pytest.raises(type(error)):
        await call(SentryMiddleware(app), http_scope(), [{"type": "http.disconnect"}])
    assert len(transport.events) == reported


@pytest.mark.skipif(sys.version_info < (3, 11), reason="ExceptionGroup is Python 3.11+")
async def test_exception_group_title_names_the_inner_errors(sentry_init):
    """A TaskGroup failure is titled after its real errors, not 'unhandled errors in a TaskGroup'."""
    transport = sentry_init()

    async def fail() -> None:
        1 / 0  # noqa: B018

    async def app(scope, receive, send):
        async with asyncio.TaskGroup() as group:
            group.create_task(fail())

    with pytest.raises(ExceptionGroup):  # noqa: F821 - Python 3.11+, skipped before
        await call(SentryMiddleware(app), http_scope())
    (event,) = transport.events
    values = event["exception"]["values"]
    group = next(v for v in values if v["type"] == "ExceptionGroup")
    assert group["value"].startswith("ZeroDivisionError: division by zero")
    assert "unhandled errors in a TaskGroup" in group["value"]
    assert any(v["type"] == "ZeroDivisionError" for v in values)


async def test_asgi2_app_is_wrapped_and_served_as_asgi3(sentry_init):
    """A double-callable ASGI2 app works behind the middleware, which speaks ASGI3."""
    transport = sentry_init()

    class Asgi2App:
        def __init__(self, scope):
            self.scope = scope

        async def __call__(self, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"asgi2"})
            raise LookupError("from asgi2")

    with pytest.raises(LookupError):
        conversation = await call(SentryMiddleware(Asgi2App), http_scope())
    (event,) = transport.events
    assert event["exception"]["values"][0]["type"] == "LookupError"


async def test_partials_and_async_mocks_are_asgi3_and_partial_classes_asgi2(sentry_init):
    """A partial is judged by what it wraps, an AsyncMock by its coroutine mark: both served."""
    sentry_init()

    async def greet(scope, receive, send, *, greeting):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": greeting})

    conversation = await call(
        SentryMiddleware(functools.partial(greet, greeting=b"hello")), http_scope()
    )
    assert conversation.sent[-1]["body"] == b"hello"

    mock_app = unittest.mock.AsyncMock()
    scope = http_scope()
    await call(SentryMiddleware(mock_app), scope)
    assert mock_app.await_args.args[0] is scope

    class Asgi2App:
        def __init__(self, scope, *, body):
            self.body = body

        async def __call__(self, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": self.body})

    conversation = await call(
        SentryMiddleware(functools.partial(Asgi2App, body=b"two")), http_scope()
    )
    assert conversation.sent[-1]["body"] == b"two"


async def test_the_same_exception_object_raised_in_later_requests_is_reported_each_time(
    sentry_init,
):
    """A failed shared future re-raises one exception object per request: each one is reported."""
    transport = sentry_init()
    shared: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    shared.set_exception(ConnectionRefusedError("database unreachable"))

    async def app(scope, receive, send):
        await shared

    for _ in range(3):
        with pytest.raises(ConnectionRefusedError):
            await call(SentryMiddleware(app), http_scope())
    sentry_sdk.capture_exception(shared.exception())  # the app's own report, outside a request
    assert len(transport.events) == 4


async def test_no_active_client_passes_requests_through():
    """Without sentry_sdk.init the middleware is a pass-through: the app's messages go straight out."""
    sentry_sdk.init()

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    conversation = await call(SentryMiddleware(app), http_scope())
    assert [m["type"] for m in conversation.sent] == ["http.response.start", "http.response.body"]


# The failing request of the cycle check, told apart from an earlier test's freed late.
CYCLE_PATH = "/cycle-check"


def _of_the_request(thing: object) -> bool:
    """Tell whether a freed object is the failed request's: its exception, exchange or frames."""
    if type(thing) in weakref.ProxyTypes:  # cleared by the collection: isinstance would raise
        return False
    if isinstance(thing, types.FrameType):
        return any(_about_the_request(value) for value in thing.f_locals.values())
    if isinstance(thing, LookupError):
        return thing.args == (CYCLE_PATH,)
    return _about_the_request(thing)


def _about_the_request(value: object) -> bool:
    scope = value.scope if isinstance(value, Exchange) else value
    return isinstance(scope, dict) and scope.get("path") == CYCLE_PATH


def test_a_failed_request_leaves_no_reference_cycle_behind(sentry_init):
    """A reported exception and its frames are freed with the request, not by the collector."""
    transport = sentry_init()

    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message):
        pass

    async def app(scope, receive_, send_):
        await receive_()
        raise LookupError(CYCLE_PATH)

    middleware = SentryMiddleware(app)

    def fail_once():  # driven as a server's task would be, without asyncio's own bookkeeping
        request = middleware(http_scope(CYCLE_PATH, method="POST"), receive, send)
        try:
            contextvars.copy_context().run(request.send, None)
        except LookupError:
            return
        raise AssertionError  # pytest.raises would keep the exception, and make the cycle

    fail_once()
    collect_leftovers()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what the collector frees is kept in gc.garbage, to look at
    try:
        for _ in range(10):
            fail_once()
        gc.collect()
        # Older sentry_sdk serialisers, the test runner's own tasks and earlier tests' requests
        # leave cycles, freed now or later: only this request's count.
        cycled = [o for o in gc.garbage if _of_the_request(o)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert cycled == []
    assert len(transport.events) == 11


async def test_sentry_sdks_own_middleware_outside_does_not_report_it_again(sentry_init):
    """With sentry_sdk's dedupe off, its ASGI middleware around ours sends no second, raw copy."""
    from sentry_sdk.integrations.asgi import SentryAsgiMiddleware
    from sentry_sdk.integrations.dedupe import DedupeIntegration

    transport = sentry_init(disabled_integrations=[DedupeIntegration()])

    async def app(scope, receive, send):
        raise LookupError("once")

    with pytest.raises(LookupError) as raised:
        await call(SentryAsgiMiddleware(SentryMiddleware(app)), http_scope())
    (event,) = transport.events
    assert event["exception"]["values"][-1]["mechanism"]["type"] == "asgi"
    sentry_sdk.capture_exception(raised.value)  # the app's own report of it, handled, is kept
    assert len(transport.events) == 2


def stopped_by_the_server(app) -> None:
    """Run one request of ``app`` under trio, cancelled 50 ms in, as a stopping server does."""
    import trio

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        pass

    async def server_stopping() -> None:
        with trio.move_on_after(0.05):
            await SentryMiddleware(app)(http_scope(), receive, send)

    trio.run(server_stopping)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="BaseExceptionGroup is Python 3.11+")
def test_an_error_beside_the_servers_cancellation_in_a_trio_nursery_is_reported(sentry_init):
    """A task failing while the server cancels its nursery is reported once, with the group."""
    import trio

    transport = sentry_init(traces_sample_rate=1.0)

    async def fails_on_the_way_out() -> None:
        try:
            await trio.sleep_forever()
        finally:
            raise ValueError("cleanup failed")

    async def app(scope, receive, send):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(fails_on_the_way_out)
            await trio.sleep_forever()

    with pytest.raises(BaseExceptionGroup) as raised:  # noqa: F821 - Python 3.11+, skipped before
        stopped_by_the_server(app)
    (error,) = transport.events
    assert "ValueError" in [value["type"] for value in error["exception"]["values"]]
    (transaction,) = transport.transactions
    assert transaction["contexts"]["trace"]["status"] == "internal_error"


def test_a_trio_nursery_the_server_cancels_is_a_cancelled_transaction(sentry_init):
    """A nursery the server cancels raises a group of Cancelled: still a cancelled request."""
    import trio

    transport = sentry_init(traces_sample_rate=1.0)

    async def app(scope, receive, send):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.sleep_forever)
            await trio.sleep_forever()

    stopped_by_the_server(app)
    assert transport.events == []
    (transaction,) = transport.transactions
    assert transaction["contexts"]["trace"]["status"] == "cancelled"
