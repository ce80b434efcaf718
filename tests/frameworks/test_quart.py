"""A real Quart app: it turns view errors into 500s itself, and logs them."""

from __future__ import annotations

import pytest
import sentry_sdk
from conftest import call
from quart import Quart, request, websocket

from frameworks.helpers import frame_functions, websocket_scope
from sentry_asgi import SentryMiddleware

pytestmark = pytest.mark.anyio


def quart_app() -> Quart:
    app = Quart(__name__)

    @app.before_request
    async def user_from_header():
        if "x-user" in request.headers:
            sentry_sdk.set_user({"id": request.headers["x-user"]})
            sentry_sdk.set_tag("hook", "quart-before-request")

    @app.get("/items/<int:item_id>")
    async def item(item_id: int):
        raise ValueError(f"item {item_id}")

    @app.get("/sync/<int:item_id>")
    def sync_item(item_id: int):
        raise KeyError(item_id)

    @app.get("/broken")
    async def broken():
        return "down", 503

    @app.post("/orders")
    async def create_order():
        raise ValueError((await request.get_json())["name"])

    @app.websocket("/ws")
    async def socket():
        await websocket.accept()
        raise RuntimeError("websocket failed")

    return app


@pytest.mark.matrix("quart", "errors")
async def test_view_error_is_reported_once_with_its_frame_and_request(sentry_init, http):
    """A view's exception, answered with a 500 by Quart, reaches Sentry once, with the view frame and the request."""
    transport = sentry_init(auto_enabling_integrations=False)
    response = await http(SentryMiddleware(quart_app()), "/items/42?q=1")
    assert response.status_code == 500
    (event,) = transport.events
    value = event["exception"]["values"][-1]
    assert (value["type"], value["value"]) == ("ValueError", "item 42")
    assert value["mechanism"] == {"type": "quart", "handled": False}
    assert "item" in frame_functions(event)
    assert event["request"]["url"] == "http://testserver/items/42"
    assert event["request"]["query_string"] == "q=1"


@pytest.mark.matrix("quart", "errors")
async def test_with_default_integrations_the_error_and_its_log_record_are_one_event(
    sentry_init, http
):
    """sentry_sdk's default and auto-enabled integrations (logging, Quart) on: still one event, one transaction."""
    transport = sentry_init(traces_sample_rate=1.0)
    await http(SentryMiddleware(quart_app(), transaction_style="url"), "/items/7")
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "item 7"
    assert len(transport.transactions) == 1


@pytest.mark.matrix("quart", "errors")
async def test_failed_status_event_does_not_double_a_captured_error(sentry_init, http):
    """The 500 Quart renders for a captured error is not reported again; a bare 503 still is."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = SentryMiddleware(quart_app())
    await http(app, "/items/1")
    await http(app, "/broken")
    assert [bool(e.get("exception")) for e in transport.events] == [True, False]
    assert transport.events[1]["message"].startswith("503 Service Unavailable")


@pytest.mark.matrix("quart", "route names")
async def test_url_style_names_the_url_rule(sentry_init, http):
    """transaction_style='url' names /items/42 and /items/43 after Quart's URL rule, source route."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = SentryMiddleware(quart_app(), transaction_style="url")
    await http(app, "/items/42")
    await http(app, "/items/43")
    names = [(e["transaction"], e["transaction_info"]["source"]) for e in transport.events]
    assert names == [("/items/<int:item_id>", "route")] * 2
    assert {t["transaction"] for t in transport.transactions} == {"/items/<int:item_id>"}


@pytest.mark.matrix("quart", "route names")
async def test_endpoint_style_names_the_view(sentry_init, http):
    """The default style names the view function, source component, for events and transactions."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    await http(SentryMiddleware(quart_app()), "/items/42")
    (event,) = transport.events
    name = "frameworks.test_quart.quart_app.<locals>.item"
    assert (event["transaction"], event["transaction_info"]["source"]) == (name, "component")
    assert transport.transactions[0]["transaction"] == name


@pytest.mark.matrix("quart", "route names")
async def test_unrouted_request_keeps_the_raw_path(sentry_init, http):
    """A path no rule matches is named by its raw path, source url."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    response = await http(SentryMiddleware(quart_app(), transaction_style="url"), "/nowhere")
    assert response.status_code == 404
    (transaction,) = transport.transactions
    assert (transaction["transaction"], transaction["transaction_info"]["source"]) == (
        "/nowhere",
        "url",
    )


@pytest.mark.matrix("quart", "user")
async def test_user_set_in_before_request_reaches_a_sync_views_event(sentry_init, http):
    """set_user in a before_request hook lands on the event of a sync view run in a thread."""
    transport = sentry_init(auto_enabling_integrations=False)
    await http(SentryMiddleware(quart_app()), "/sync/5", headers={"x-user": "u-5"})
    (event,) = transport.events
    assert event["user"]["id"] == "u-5"
    assert event["tags"]["hook"] == "quart-before-request"
    assert "sync_item" in frame_functions(event)


@pytest.mark.matrix("quart", "websockets")
async def test_websocket_handler_error_is_reported_once(sentry_init):
    """A websocket handler's exception, handled by Quart, reaches Sentry once, named by its rule."""
    transport = sentry_init(auto_enabling_integrations=False)
    await call(
        SentryMiddleware(quart_app(), transaction_style="url"),
        websocket_scope("/ws"),
        [{"type": "websocket.connect"}],
    )
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "websocket failed"
    assert "socket" in frame_functions(event)
    assert event["request"]["url"] == "ws://testserver/ws"
    assert event["transaction"] == "/ws"


async def test_unwrapped_app_is_left_alone(sentry_init, http):
    """The signal does nothing for a Quart request no SentryMiddleware handles."""
    transport = sentry_init(auto_enabling_integrations=False, default_integrations=False)
    SentryMiddleware(quart_app())
    assert (await http(quart_app(), "/items/3")).status_code == 500
    assert transport.events == []


async def test_two_wrapped_apps_still_report_once(sentry_init, http):
    """Wrapping two Quart apps connects the signal once: one event per error."""
    transport = sentry_init(auto_enabling_integrations=False)
    SentryMiddleware(quart_app())
    await http(SentryMiddleware(quart_app()), "/items/3")
    assert len(transport.events) == 1


@pytest.mark.matrix("quart", "body")
async def test_json_body_the_view_read_is_on_the_event(sentry_init, http):
    """The JSON body the view read reaches it intact and is attached to the event, secrets filtered."""
    transport = sentry_init(auto_enabling_integrations=False)
    body = {"name": "widget", "password": "hunter2"}
    response = await http(SentryMiddleware(quart_app()), "/orders", method="POST", json=body)
    assert response.status_code == 500
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "widget"
    assert event["request"]["data"] == {"name": "widget", "password": "[Filtered]"}


async def test_traces_sampler_sees_the_route_before_the_app_runs(sentry_init, http):
    """Where the framework can match the request up front, traces_sampler gets its route template."""
    seen = []

    def sampler(context):
        seen.append(context.get("http.route"))
        return 1.0

    sentry_init(auto_enabling_integrations=False, traces_sampler=sampler)
    await http(SentryMiddleware(quart_app()), "/items/42")
    assert seen == ["/items/<int:item_id>"]
