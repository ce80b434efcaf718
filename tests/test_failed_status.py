"""A 5xx response that no exception explains is still reported, once."""

from __future__ import annotations

import pytest
import sentry_sdk
from conftest import call, http_scope
from frameworks.helpers import websocket_scope
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from sentry_asgi import SentryMiddleware

pytestmark = pytest.mark.anyio


def responder(status: int, capture: bool = False):
    async def app(scope, receive, send):
        if capture:
            sentry_sdk.capture_exception(RuntimeError("handled by the app"))
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


async def test_failed_status_becomes_one_error_event(sentry_init):
    """A 503 with no exception produces one error event naming status, method and route."""
    transport = sentry_init(auto_enabling_integrations=False)

    async def unavailable(request):
        raise HTTPException(503)

    app = Starlette(routes=[Route("/items/{item_id}", unavailable)])
    middleware = SentryMiddleware(app)
    await call(middleware, http_scope("/items/42"))
    (event,) = transport.events
    assert event["message"] == "503 Service Unavailable: GET /items/{item_id}"
    assert event["level"] == "error"
    assert event["request"]["url"] == "http://testserver/items/42"
    assert event["contexts"]["response"] == {"status_code": 503}


async def test_failed_status_events_group_per_status_method_and_route(sentry_init):
    """Failed statuses group per status, method and route, tagged, one without a phrase too."""
    transport = sentry_init(auto_enabling_integrations=False)

    async def overloaded(request):
        return PlainTextResponse("overloaded", status_code=599)

    app = Starlette(routes=[Route("/items/{item_id}", overloaded)])
    middleware = SentryMiddleware(app, failed_request_status_codes={599})
    await call(middleware, http_scope("/items/1"))
    await call(middleware, http_scope("/items/2"))
    first, second = transport.events
    assert first["message"] == "599 HTTP error: GET /items/{item_id}"
    assert first["fingerprint"] == second["fingerprint"]
    assert first["fingerprint"] == ["http-status", "599", "GET", "/items/{item_id}"]
    assert first["tags"]["http.status_code"] == "599"


def denying(status: int):
    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.http.response.start", "status": status, "headers": []})
        await send({"type": "websocket.http.response.body", "body": b""})

    return app


@pytest.mark.parametrize(("status", "reported"), [(503, True), (403, False)])
async def test_websocket_denied_with_a_failed_status_is_reported(sentry_init, status, reported):
    """A websocket handshake denied with a 5xx response is an error event, as an HTTP 5xx is."""
    transport = sentry_init()
    scope = {**websocket_scope("/live"), "extensions": {"websocket.http.response": {}}}
    await call(SentryMiddleware(denying(status)), scope, [{"type": "websocket.connect"}])
    messages = [event["message"] for event in transport.events]
    assert messages == (["503 Service Unavailable: /live"] if reported else [])


async def test_status_outside_the_set_is_not_reported(sentry_init):
    """A 404 is not a failure by default."""
    transport = sentry_init()
    await call(SentryMiddleware(responder(404)), http_scope())
    assert transport.events == []


async def test_empty_set_turns_it_off(sentry_init):
    """failed_request_status_codes=() reports no status at all."""
    transport = sentry_init()
    await call(SentryMiddleware(responder(500), failed_request_status_codes=()), http_scope())
    assert transport.events == []


async def test_app_that_captured_its_own_error_is_not_reported_twice(sentry_init):
    """A catch-all handler that reported its error and answered 500 gives one event, not two."""
    transport = sentry_init()
    await call(SentryMiddleware(responder(500, capture=True)), http_scope())
    (event,) = transport.events
    assert event["exception"]["values"][0]["value"] == "handled by the app"


async def test_unhandled_exception_and_its_500_are_one_event(sentry_init):
    """Starlette's ServerErrorMiddleware answers 500 and re-raises: one event, the exception."""
    transport = sentry_init(auto_enabling_integrations=False)

    async def boom(request):
        raise ZeroDivisionError

    app = Starlette(routes=[Route("/", boom)])
    with pytest.raises(ZeroDivisionError):
        await call(SentryMiddleware(app), http_scope())
    (event,) = transport.events
    assert event["exception"]["values"][0]["type"] == "ZeroDivisionError"


async def test_healthy_response_is_untouched(sentry_init):
    """The app's messages reach the server as the very same objects, in order."""
    sentry_init()
    sent = [
        {"type": "http.response.start", "status": 200, "headers": [(b"x", b"1")]},
        {"type": "http.response.body", "body": b"a", "more_body": True},
        {"type": "http.response.body", "body": b"b"},
    ]

    async def app(scope, receive, send):
        for message in sent:
            await send(message)

    conversation = await call(SentryMiddleware(app), http_scope())
    assert all(a is b for a, b in zip(conversation.sent, sent, strict=True))
