"""Quart specifics: routes matched before the app runs; exceptions its error handlers answer."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
import sentry_sdk
from conftest import CapturingTransport, call, needs_span_streaming
from quart import Quart, Response, abort, websocket
from werkzeug.exceptions import HTTPException, ServiceUnavailable
from werkzeug.routing import BaseConverter

from frameworks.apps.quart_app import quart_app
from frameworks.helpers import assert_reported_as_itself, frame_functions, websocket_scope
from sentry_asgi import SentryMiddleware

pytestmark = pytest.mark.anyio


async def test_traces_sampler_sees_the_route_before_the_app_runs(sentry_init, http):
    """Where the framework can match the request up front, traces_sampler gets its route template."""
    seen = []

    def sampler(context):
        seen.append(context.get("http.route"))
        return 1.0

    sentry_init(auto_enabling_integrations=False, traces_sampler=sampler)
    await http(SentryMiddleware(quart_app()), "/items/42")
    assert seen == ["/items/<int:item_id>"]


def answering_everything(app: Quart) -> Quart:
    """The app with a catch-all error handler: HTTP errors as themselves, anything else a 500."""

    @app.errorhandler(Exception)
    async def everything(error: Exception):
        if isinstance(error, HTTPException):
            return error
        return "sorry", 500

    return app


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"auto_enabling_integrations": False}, id="bare"),
        pytest.param({}, id="defaults"),
    ],
)
async def test_exception_a_catch_all_handler_answers_500_is_reported_once(
    options, sentry_init, http
):
    """An exception an errorhandler(Exception) turns into a 500 is reported once, as itself, with no failed-status event."""
    transport = sentry_init(**options)
    app = answering_everything(quart_app())
    SentryMiddleware(app)  # wrapping twice hooks the app once
    response = await http(SentryMiddleware(app), "/items/42")
    assert (response.status_code, response.text) == (500, "sorry")
    (event,) = transport.events
    assert_reported_as_itself(
        event, "ValueError", "item 42", "quart", "item", "http://testserver/items/42"
    )


async def test_exceptions_error_handlers_answer_below_500_are_not_reported(sentry_init, http):
    """Handled HTTP errors (404, a 403 abort) and an exception a handler answers 400 send nothing."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = answering_everything(quart_app())

    @app.get("/forbidden")
    async def forbidden():
        abort(403)

    @app.errorhandler(KeyError)
    async def bad_request(error: KeyError):
        return {"missing": str(error)}, 400

    wrapped = SentryMiddleware(app)
    assert (await http(wrapped, "/missing")).status_code == 404
    assert (await http(wrapped, "/forbidden")).status_code == 403
    assert (await http(wrapped, "/sync/5")).status_code == 400
    assert transport.events == []


# What an errorhandler returns, in each form Quart reads, and the status Quart answers with.
HANDLER_ANSWERS = [
    pytest.param(lambda: ("down", 503, {"Retry-After": "60"}), 503, id="body-status-headers"),
    pytest.param(lambda: ("down", "503"), 503, id="status-as-text"),
    pytest.param(
        lambda: (Response("down", 503), {"Retry-After": "60"}), 503, id="response-headers"
    ),
    pytest.param(ServiceUnavailable, 503, id="http-exception"),
    pytest.param(lambda: "sorry", 200, id="body-alone"),
]


@pytest.mark.parametrize(("answer", "status"), HANDLER_ANSWERS)
async def test_exception_is_reported_when_its_handler_answers_5xx_in_any_form(
    answer, status, sentry_init, http
):
    """An exception an errorhandler answers is reported as itself when Quart answers 5xx, whatever form the handler's return value takes; otherwise nothing is sent."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = quart_app()

    @app.errorhandler(ValueError)
    async def unavailable(error: ValueError):
        return answer()

    assert (await http(SentryMiddleware(app), "/items/42")).status_code == status
    if status < 500:
        assert transport.events == []
        return
    (event,) = transport.events
    assert_reported_as_itself(
        event, "ValueError", "item 42", "quart", "item", "http://testserver/items/42"
    )


async def test_an_http_error_a_handler_answers_5xx_is_the_failed_status_event(sentry_init, http):
    """An abort(503) its errorhandler answers 503 is one failed-status event, not an exception report."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = quart_app()

    @app.get("/maintenance")
    async def maintenance():
        abort(503)

    @app.errorhandler(503)
    async def unavailable(error: HTTPException):
        return "back soon", 503

    assert (await http(SentryMiddleware(app), "/maintenance")).status_code == 503
    (event,) = transport.events
    assert "exception" not in event
    assert event["tags"]["http.status_code"] == "503"


async def test_a_quart_without_the_expected_handling_still_answers(sentry_init, http):
    """Where Quart's handle_user_exception is not the coroutine method it wraps, the app runs unwrapped."""

    class Moved(Quart):
        def handle_user_exception(self, error):  # returns an awaitable instead of being async
            return Quart.handle_user_exception(self, error)

    transport = sentry_init(auto_enabling_integrations=False)
    app = Moved(__name__)

    @app.get("/boom")
    async def boom():
        raise ValueError("boom")

    answering_everything(app)
    response = await http(SentryMiddleware(app), "/boom")
    assert (response.status_code, response.text) == (500, "sorry")
    (event,) = transport.events
    assert event["message"] == "500 Internal Server Error: GET /boom"


class Tenant(BaseConverter):
    """A path converter that looks the tenant up: a KeyError for one nobody registered."""

    def to_python(self, value: str) -> int:
        return {"acme": 1}[value]


def assert_converter_reported(transport: CapturingTransport, path: str) -> None:
    """The converter's KeyError is the one event, unhandled, raised in the converter; the transaction failed."""
    (event,) = transport.events
    (reported,) = event["exception"]["values"]
    assert (reported["type"], reported["mechanism"]["handled"]) == ("KeyError", False)
    assert frame_functions(event)[-1] == "to_python"
    assert event["transaction"] == path
    (transaction,) = transport.transactions
    assert transaction["transaction"] == path
    assert transaction["contexts"]["trace"]["status"] == "internal_error"


@pytest.mark.parametrize("debug", [False, True], ids=["default", "debug"])
async def test_a_route_converter_that_raises_costs_the_request_nothing(debug, sentry_init, http):
    """A path converter raising on a request is reported as itself, named by the path, keeping no secret, the transaction sent failed, whether Quart raises it or answers it with its debug page."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = Quart(__name__)
    app.debug = debug  # Quart 0.22 answers with its debug page in debug mode; 0.21.0 always
    app.url_map.converters["tenant"] = Tenant

    @app.route("/t/<tenant:tenant>/items")
    async def items(tenant):
        return "ok"

    headers = {"authorization": "Bearer s3cr3t-token"}
    response = await http(
        SentryMiddleware(app, transaction_style="url"), "/t/nobody/items", headers=headers
    )
    assert response.status_code == 500
    assert_converter_reported(transport, "/t/nobody/items")
    assert "s3cr3t-token" not in json.dumps(transport.events)


async def test_a_route_converter_that_raises_on_a_websocket_is_reported(sentry_init):
    """A path converter raising on a websocket is reported as itself, and its transaction failed."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = Quart(__name__)
    app.url_map.converters["tenant"] = Tenant

    @app.websocket("/t/<tenant:tenant>/ws")
    async def feed(tenant):
        await websocket.accept()

    incoming = [{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1000}]
    with contextlib.suppress(KeyError):  # raised to the server, or answered by Quart 0.21.0
        await call(
            SentryMiddleware(app, transaction_style="url"),
            websocket_scope("/t/nobody/ws"),
            incoming,
        )
    assert_converter_reported(transport, "/t/nobody/ws")


def tenant_app() -> Quart:
    """An app that routes subdomains of its SERVER_NAME, one tenant each."""
    app = Quart(__name__, subdomain_matching=True)
    app.config["SERVER_NAME"] = "example.com"

    @app.route("/items/<int:item_id>", subdomain="<tenant>")
    async def tenant_item(tenant: str, item_id: int):
        return f"{tenant} {item_id}"

    return app


@pytest.mark.parametrize("host", ["acme.example.com", "acme.example.com:80"])
async def test_route_of_a_subdomain_is_named_as_quart_binds_it(host, sentry_init, http):
    """A route matched on a subdomain of SERVER_NAME (default port or not) is named after its rule."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    wrapped = SentryMiddleware(tenant_app(), transaction_style="url")
    response = await http(wrapped, "/items/3", headers={"host": host})
    assert response.text == "acme 3"
    (transaction,) = transport.transactions
    assert transaction["transaction"] == "/items/<int:item_id>"


def with_a_failing_background_task(app: Quart) -> Quart:
    """The app with /later, which answers 200 and leaves a background task that fails."""

    async def fails_later():
        raise LookupError("task failed")

    @app.get("/later")
    async def later():
        app.add_background_task(fails_later)
        return "accepted"

    return app


@pytest.mark.parametrize(
    ("options", "mechanism", "name"),
    [
        pytest.param({"auto_enabling_integrations": False}, "logging", "/later", id="bare"),
        pytest.param({}, "quart", "later", id="defaults"),  # the integration's own style
    ],
)
async def test_a_background_tasks_exception_is_reported_once_by_sentry_sdk_alone(
    options, mechanism, name, sentry_init, http
):
    """A background task's exception is one event, Quart's log record's (or sentry_sdk's Quart integration's), with the request's data and name; the request's transaction stays ok."""
    transport = sentry_init(traces_sample_rate=1.0, **options)
    app = with_a_failing_background_task(quart_app())
    response = await http(SentryMiddleware(app, transaction_style="url"), "/later")
    assert response.text == "accepted"
    await asyncio.gather(*app.background_tasks)
    (event,) = transport.events
    assert event["exception"]["values"][-1]["type"] == "LookupError"
    assert event["exception"]["values"][-1]["mechanism"]["type"] == mechanism
    assert (event["request"]["url"], event["transaction"]) == ("http://testserver/later", name)
    (transaction,) = transport.transactions
    assert transaction["contexts"]["trace"]["status"] == "ok"


async def test_an_after_request_hooks_exception_is_reported_and_its_second_failure_logged(
    sentry_init, http
):
    """An after_request hook's exception is reported as itself; Quart runs the hook again for its 500, and logs that failure, a second event through sentry_sdk's logging."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = quart_app()

    @app.after_request
    async def fails(response):
        raise LookupError("hook failed")

    assert (await http(SentryMiddleware(app), "/broken")).status_code == 500
    reported, logged = transport.events
    assert reported["exception"]["values"][-1]["mechanism"] == {"type": "quart", "handled": False}
    assert logged["logentry"]["message"] == "Request finalizing errored"
    assert logged["exception"]["values"][-1]["value"] == "hook failed"


@pytest.mark.parametrize(
    ("answer", "reported"),
    [("nothing", True), ("a close", True), ("a denial", False)],
)
async def test_websocket_exception_an_errorhandler_answers_is_reported_unless_denied_below_500(
    answer, reported, sentry_init
):
    """A websocket's exception an errorhandler answers with no response (closing, or leaving it to Quart) is reported as itself; one answered 403 is not."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = quart_app()

    @app.errorhandler(RuntimeError)
    async def closing(error: RuntimeError):
        if answer == "a close":
            await websocket.close(1011)
        return ("no", 403) if answer == "a denial" else None

    incoming = [{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1000}]
    await call(SentryMiddleware(app), websocket_scope("/ws"), incoming)
    events = [e["exception"]["values"][-1] for e in transport.events]
    expected = [{"type": "quart", "handled": False}] if reported else []
    assert [e["mechanism"] for e in events] == expected
    assert [e["value"] for e in events] == (["websocket failed"] if reported else [])


async def test_abort_500_is_the_failed_status_event_and_an_exception_is_itself(sentry_init, http):
    """abort(500) is a response: one failed-status event, no exception; an unhandled exception's 500 is the exception's event alone."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = quart_app()

    @app.get("/abort")
    async def aborting():
        abort(500)

    wrapped = SentryMiddleware(app, transaction_style="url")
    assert (await http(wrapped, "/abort")).status_code == 500
    assert (await http(wrapped, "/items/42")).status_code == 500
    aborted, failed = transport.events
    assert "exception" not in aborted
    assert aborted["message"] == "500 Internal Server Error: GET /abort"
    assert failed["exception"]["values"][-1]["value"] == "item 42"


async def test_wrapping_the_apps_asgi_app_is_wrapping_the_app(sentry_init, http):
    """`app.asgi_app = SentryMiddleware(app.asgi_app)` reports a view's exception as itself, named by its rule."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = quart_app()
    app.asgi_app = SentryMiddleware(app.asgi_app, transaction_style="url")  # type: ignore[method-assign]
    assert (await http(app, "/items/42")).status_code == 500
    (event,) = transport.events
    assert_reported_as_itself(
        event, "ValueError", "item 42", "quart", "item", "http://testserver/items/42"
    )
    (transaction,) = transport.transactions
    assert [event["transaction"], transaction["transaction"]] == ["/items/<int:item_id>"] * 2


def asgi_app_wrapped() -> Quart:
    """A Quart app wrapped as Quart adds middleware: its `asgi_app`, inside sentry_sdk's Quart integration."""
    app = quart_app()
    app.asgi_app = SentryMiddleware(app.asgi_app)  # type: ignore[method-assign]
    return app


def sdk_transaction(transport) -> dict:
    """The one transaction sent: sentry_sdk's own, its Quart integration's around the middleware."""
    (transaction,) = transport.transactions
    assert transaction["contexts"]["trace"]["origin"] == "auto.http.quart"
    return transaction


async def spans_streamed_for_a_cart(sentry_init, http, build_app, **request) -> list[dict]:
    """Every span streamed for a cart path with a session id (no rule: 404), batches flushed.

    ``build_app`` makes the app once sentry_sdk streams; ``request`` goes with the request.
    """
    transport = sentry_init(traces_sample_rate=1.0, trace_lifecycle="stream")
    response = await http(build_app(), "/cart;jsessionid=sid-4f2a", **request)
    assert response.status_code == 404
    sentry_sdk.flush()
    return transport.batched("span")


@pytest.mark.parametrize(
    ("pii", "sent"), [(False, "token=[Filtered]&page=2"), (True, "token=tok-4f2a&page=2")]
)
async def test_transaction_of_sentry_sdks_quart_integration_around_asgi_app_has_its_query_filtered(
    pii, sent, sentry_init, http
):
    """sentry_sdk's Quart integration sends the transaction of a request to a wrapped `app.asgi_app` once the middleware is done: its query string's secrets are filtered all the same."""
    transport = sentry_init(traces_sample_rate=1.0, send_default_pii=pii)
    app = asgi_app_wrapped()
    assert (await http(app, "/items/42?token=tok-4f2a&page=2")).status_code == 500
    (event,) = transport.events
    transaction = sdk_transaction(transport)
    assert event["request"]["query_string"] == transaction["request"]["query_string"] == sent


async def test_client_address_sentry_sdks_quart_integration_reads_from_x_forwarded_for_is_not_believed(
    sentry_init, http
):
    """With PII on, the event's REMOTE_ADDR is the peer, not the X-Forwarded-For address sentry_sdk's Quart integration reads."""
    transport = sentry_init(send_default_pii=True)
    headers = {"x-forwarded-for": "198.51.100.77"}
    response = await http(SentryMiddleware(quart_app()), "/items/42", headers=headers)
    assert response.status_code == 500
    (event,) = transport.events
    assert event["request"]["env"] == {"REMOTE_ADDR": "127.0.0.1"}


async def test_transaction_of_sentry_sdks_quart_integration_around_asgi_app_believes_no_forwarded_address(
    sentry_init, http
):
    """With PII on, the transaction sentry_sdk's Quart integration sends around a wrapped `app.asgi_app` carries no client address read from X-Forwarded-For."""
    transport = sentry_init(traces_sample_rate=1.0, send_default_pii=True)
    app = asgi_app_wrapped()
    headers = {"x-forwarded-for": "198.51.100.77"}
    assert (await http(app, "/items/42", headers=headers)).status_code == 500
    transaction = sdk_transaction(transport)
    assert "env" not in transaction["request"]


async def test_transaction_of_sentry_sdks_quart_integration_around_asgi_app_has_its_path_session_id_filtered(
    sentry_init, http
):
    """The transaction sentry_sdk's Quart integration sends around a wrapped `app.asgi_app`, named after its raw URL when no rule matched, has a session id in the path filtered there and in its URL."""
    transport = sentry_init(traces_sample_rate=1.0)
    app = asgi_app_wrapped()
    assert (await http(app, "/cart;jsessionid=sid-4f2a")).status_code == 404
    transaction = sdk_transaction(transport)
    assert transaction["request"]["url"] == "http://testserver/cart;jsessionid=[Filtered]"
    assert transaction["transaction"].endswith("/cart;jsessionid=[Filtered]")
    assert "sid-4f2a" not in json.dumps(transaction)


@needs_span_streaming
async def test_segment_sentry_sdks_quart_integration_streams_around_asgi_app_has_its_secrets_filtered(
    sentry_init, http
):
    """The segment sentry_sdk's Quart integration streams around a wrapped `app.asgi_app` has a Referer's token, a Host's password and a path's session id filtered."""
    headers = {"referer": "http://shop/?token=tok-4f2a", "host": "alice:pw-4f2a@testserver"}
    spans = await spans_streamed_for_a_cart(sentry_init, http, asgi_app_wrapped, headers=headers)
    assert "4f2a" not in json.dumps(spans)
    # sentry_sdk's own segment (an earlier test's client may have left httpx's patched too)
    (segment,) = [
        s for s in spans if s["attributes"]["sentry.origin"]["value"] == "auto.http.quart"
    ]
    attributes = {name: value["value"] for name, value in segment["attributes"].items()}
    assert attributes["http.request.header.referer"] == "http://shop/?token=[Filtered]"
    assert attributes["http.request.header.host"] == "alice:[Filtered]@testserver"
    assert segment["name"].endswith("/cart;jsessionid=[Filtered]")
    assert "4f2a" not in json.dumps(segment)


@needs_span_streaming
async def test_child_spans_of_sentry_sdks_quart_segment_have_its_path_session_id_filtered(
    sentry_init, http
):
    """A span around the middleware, in the segment sentry_sdk's Quart integration streams around `app.asgi_app`, carries that segment's raw name with the path's session id filtered."""

    def traced_app() -> Quart:
        app = quart_app()
        inner = SentryMiddleware(app.asgi_app)

        async def traced(scope, receive, send):  # an ASGI middleware around ours that traces
            with sentry_sdk.traces.start_span(name="outer middleware"):
                await inner(scope, receive, send)

        app.asgi_app = traced  # type: ignore[method-assign]
        return app

    spans = await spans_streamed_for_a_cart(sentry_init, http, traced_app)
    (outer,) = [span for span in spans if span["name"] == "outer middleware"]
    segment_name = outer["attributes"]["sentry.segment.name"]["value"]
    assert segment_name.endswith("/cart;jsessionid=[Filtered]")
    assert "sid-4f2a" not in json.dumps(spans)
