"""One isolation scope per connection: what a request sets belongs to that request alone."""

from __future__ import annotations

import asyncio
import logging

import pytest
import sentry_sdk
from conftest import CapturingTransport, call, http_scope
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from sentry_asgi import SentryMiddleware
from sentry_asgi import _sessions as sessions
from sentry_asgi._errors import capture_exception

pytestmark = pytest.mark.anyio


async def test_concurrent_requests_keep_their_own_tags_user_and_breadcrumbs(sentry_init):
    """Under 300 interleaved requests, each error event carries only its own request's data."""
    transport = sentry_init()

    async def app(scope, receive, send):
        n = scope["path"].strip("/")
        sentry_sdk.set_tag("n", n)
        sentry_sdk.set_user({"id": n})
        sentry_sdk.add_breadcrumb(message=f"crumb {n}")
        await asyncio.sleep(0)  # let the others interleave
        await asyncio.sleep(0.001)
        raise ValueError(n)

    middleware = SentryMiddleware(app)

    async def one(n: int) -> None:
        with pytest.raises(ValueError):
            await call(middleware, http_scope(f"/{n}"))

    await asyncio.gather(*(one(n) for n in range(300)))
    assert len(transport.events) == 300
    for event in transport.events:
        n = event["exception"]["values"][0]["value"]
        assert event["tags"]["n"] == n
        assert event["user"]["id"] == n
        assert [c["message"] for c in event["breadcrumbs"]["values"]] == [f"crumb {n}"]


async def test_nothing_leaks_out_of_a_request(sentry_init):
    """Tags set inside a request do not show up on events captured outside any request."""
    transport = sentry_init()

    async def app(scope, receive, send):
        sentry_sdk.set_tag("inside", "yes")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    await call(SentryMiddleware(app), http_scope())
    sentry_sdk.capture_message("outside")
    (event,) = transport.events
    assert "inside" not in (event.get("tags") or {})
    assert "request" not in event


async def test_startup_breadcrumbs_do_not_show_up_in_request_events(sentry_init):
    """Breadcrumbs recorded at import or start-up are not part of any request's trail."""
    transport = sentry_init()
    sentry_sdk.add_breadcrumb(message="at startup")

    async def app(scope, receive, send):
        sentry_sdk.add_breadcrumb(message="in request")
        raise RuntimeError("x")

    with pytest.raises(RuntimeError):
        await call(SentryMiddleware(app), http_scope())
    (event,) = transport.events
    assert [c["message"] for c in event["breadcrumbs"]["values"]] == ["in request"]


async def test_each_request_gets_its_own_trace_id(sentry_init):
    """Errors of two unrelated requests are not glued into one trace."""
    transport = sentry_init()

    async def app(scope, receive, send):
        raise RuntimeError("x")

    for _ in range(2):
        with pytest.raises(RuntimeError):
            await call(SentryMiddleware(app), http_scope())
    first, second = transport.events
    assert first["contexts"]["trace"]["trace_id"] != second["contexts"]["trace"]["trace_id"]


async def test_request_session_is_recorded_and_marked_by_an_error(sentry_init):
    """With a release, every request is a request-mode session; a failing one is not healthy."""
    transport = sentry_init(release="shop@1.0")

    async def app(scope, receive, send):
        if scope["path"] == "/fail":
            raise RuntimeError("x")
        if scope["path"] == "/handled":
            sentry_sdk.capture_exception(KeyError("handled"))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = SentryMiddleware(app)
    await call(middleware, http_scope("/ok"))
    await call(middleware, http_scope("/ok"))
    await call(middleware, http_scope("/handled"))
    with pytest.raises(RuntimeError):
        await call(middleware, http_scope("/fail"))
    ours = sent_session_totals(transport)
    # sentry_sdk counts an unhandled error as "crashed" and a captured one as "errored".
    assert ours == {"exited": 2, "errored": 1, "crashed": 1}

    # The very same requests, recorded by sentry_sdk's own request-mode sessions.
    reference = sentry_init(release="shop@1.0")
    for outcome in ("ok", "ok", "handled", "fail"):
        with sentry_sdk.isolation_scope() as scope:
            scope.start_session(session_mode="request")
            if outcome == "handled":
                sentry_sdk.capture_exception(KeyError("handled"))
            if outcome == "fail":
                capture_exception(RuntimeError("x"))
            scope.end_session()
    sentry_sdk.flush()
    assert session_totals(reference) == ours


async def ok(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def test_request_counts_go_to_the_client_they_were_counted_under(sentry_init):
    """After another sentry_sdk.init, requests counted under the first client are sent through its transport, not the new one's."""
    first = sentry_init(release="shop@1.0")
    counted_under = sentry_sdk.get_client()
    await call(SentryMiddleware(ok), http_scope("/"))
    second = CapturingTransport({"dsn": "http://other@127.0.0.1:9/2"})
    sentry_sdk.init(dsn="http://other@127.0.0.1:9/2", transport=second, release="shop@2.0")
    try:
        await call(SentryMiddleware(ok), http_scope("/"))
        sessions.flush()
        assert session_totals(first) == {"exited": 1}
        (payload,) = second.items("sessions")
        assert payload["attrs"]["release"] == "shop@2.0"
    finally:
        counted_under.close()


@pytest.mark.parametrize("flushing", ["sentry_sdk.flush", "client.close"])
async def test_the_clients_own_flush_sends_the_pending_request_counts(sentry_init, flushing):
    """sentry_sdk.flush() and closing the client (a serverless integration's flush too) send the counts not yet sent."""
    transport = sentry_init(release="shop@1.0")
    client = sentry_sdk.get_client()
    await call(SentryMiddleware(ok), http_scope("/"))
    if flushing == "sentry_sdk.flush":
        sentry_sdk.flush()
    else:
        client.close()
    assert session_totals(transport) == {"exited": 1}


async def test_only_exceptions_and_failed_statuses_make_a_session_errored(sentry_init):
    """Error-level log records and messages do not make a session errored; a 5xx answer does."""
    transport = sentry_init(release="shop@1.0")  # sentry_sdk's logging integration on

    async def app(scope, receive, send):
        if scope["path"] == "/logged":
            logging.getLogger("shop").error("payment provider slow")
        if scope["path"] == "/message":
            sentry_sdk.capture_message("odd basket", level="error")
        status = 503 if scope["path"] == "/failed" else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    for path in ("/logged", "/message", "/failed"):
        await call(SentryMiddleware(app), http_scope(path))
    assert sent_session_totals(transport) == {"exited": 2, "errored": 1}
    assert len(transport.events) == 3


async def test_a_log_record_carrying_an_exception_makes_its_session_errored(sentry_init):
    """A log record with its exception (logger.exception) is an exception captured: errored."""
    transport = sentry_init(release="shop@1.0")  # sentry_sdk's logging integration on

    async def app(scope, receive, send):
        try:
            raise ConnectionError("payment provider down")  # noqa: TRY301 - the app's own handling
        except ConnectionError:
            logging.getLogger("shop").exception("payment failed")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    await call(SentryMiddleware(app), http_scope("/"))
    assert sent_session_totals(transport) == {"errored": 1}
    (event,) = transport.events
    assert event["exception"]["values"][-1]["mechanism"]["handled"] is True


async def test_a_client_that_left_mid_upload_leaves_its_session_exited(sentry_init):
    """The 500 Starlette answers a client that went away reached nobody: the session is not errored."""
    from starlette.requests import ClientDisconnect

    transport = sentry_init(release="shop@1.0")

    async def upload(request):
        await request.body()
        return PlainTextResponse("")

    app = SentryMiddleware(Starlette(routes=[Route("/upload", upload, methods=["POST"])]))
    with pytest.raises(ClientDisconnect):
        await call(app, http_scope("/upload", method="POST"), [{"type": "http.disconnect"}])
    await call(app, http_scope("/upload", method="POST"))
    assert sent_session_totals(transport) == {"exited": 2}
    assert transport.events == []


async def test_an_exception_event_the_app_builds_without_handled_is_no_crash(sentry_init):
    """An exception event the app builds itself, no mechanism saying unhandled, errs its session."""
    transport = sentry_init(release="shop@1.0")

    async def app(scope, receive, send):
        sentry_sdk.capture_event({"exception": {"values": [{"type": "Upstream", "value": "down"}]}})
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    await call(SentryMiddleware(app), http_scope("/"))
    assert sent_session_totals(transport) == {"errored": 1}


async def test_sentry_sdks_middleware_around_ours_counts_each_request_once(sentry_init):
    """With sentry_sdk's middleware around ours, its session counts each request, a failed status errored."""
    transport = sentry_init(release="shop@1.0")  # its Starlette integration wraps the app

    async def view(request):
        if request.url.path == "/fail":
            raise RuntimeError("x")
        return PlainTextResponse("", status_code=503 if request.url.path == "/failed" else 200)

    app = Starlette(routes=[Route(path, view) for path in ("/ok", "/fail", "/failed")])
    app.add_middleware(SentryMiddleware)
    await call(app, http_scope("/ok"))
    await call(app, http_scope("/failed"))
    with pytest.raises(RuntimeError):
        await call(app, http_scope("/fail"))
    assert sent_session_totals(transport) == {"exited": 1, "errored": 1, "crashed": 1}


def sent_session_totals(transport) -> dict[str, int]:
    """Send the middleware's pending counts and what sentry_sdk holds, then total them."""
    sessions.flush()
    sentry_sdk.flush()
    return session_totals(transport)


def session_totals(transport) -> dict[str, int]:
    totals: dict[str, int] = {}
    for payload in transport.items("sessions"):
        assert payload["attrs"] == {"release": "shop@1.0", "environment": "production"}
        for bucket in payload["aggregates"]:
            for key, value in bucket.items():
                if key != "started":
                    totals[key] = totals.get(key, 0) + value
    return totals
