"""A real BlackSheep app: it turns request handler errors into 500s itself."""

from __future__ import annotations

import pytest
import sentry_sdk
from blacksheep import Application, Request, Response, WebSocket
from blacksheep.contents import TextContent
from blacksheep.server.routing import Router
from conftest import call

from frameworks.helpers import frame_functions, websocket_scope
from sentry_asgi import SentryMiddleware

pytestmark = pytest.mark.anyio


def blacksheep_app() -> Application:
    app = Application(router=Router())  # not the process-wide default router

    async def user_from_header(request, handler):
        user = request.get_first_header(b"x-user")
        if user:
            sentry_sdk.set_user({"id": user.decode()})
            sentry_sdk.set_tag("hook", "blacksheep-middleware")
        return await handler(request)

    app.middlewares.append(user_from_header)

    @app.router.get("/items/{item_id}")
    async def item(item_id: int):
        raise ValueError(f"item {item_id}")

    @app.router.get("/sync/{item_id}")
    def sync_item(item_id: int):
        raise KeyError(item_id)

    @app.router.get("/broken")
    async def broken():
        return Response(503, content=TextContent("down"))

    @app.router.post("/orders")
    async def create_order(request: Request):
        raise ValueError((await request.json())["name"])

    @app.router.ws("/ws")
    async def socket(websocket: WebSocket):
        await websocket.accept()
        raise RuntimeError("websocket failed")

    return app


@pytest.mark.matrix("blacksheep", "errors")
async def test_handler_error_is_reported_once_with_its_frame_and_request(sentry_init, http):
    """A handler's exception, answered with a 500 by BlackSheep, reaches Sentry once, with the handler frame and the request."""
    transport = sentry_init(auto_enabling_integrations=False)
    response = await http(SentryMiddleware(blacksheep_app()), "/items/42?q=1")
    assert response.status_code == 500
    (event,) = transport.events
    value = event["exception"]["values"][-1]
    assert (value["type"], value["value"]) == ("ValueError", "item 42")
    assert value["mechanism"] == {"type": "blacksheep", "handled": False}
    assert "item" in frame_functions(event)
    assert event["request"]["url"] == "http://testserver/items/42"
    assert event["request"]["query_string"] == "q=1"


@pytest.mark.matrix("blacksheep", "errors")
async def test_with_default_integrations_the_error_and_its_log_record_are_one_event(
    sentry_init, http
):
    """sentry_sdk's default and auto-enabled integrations (logging) on: still one event, one transaction."""
    transport = sentry_init(traces_sample_rate=1.0)
    await http(SentryMiddleware(blacksheep_app(), transaction_style="url"), "/items/7")
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "item 7"
    (transaction,) = transport.transactions
    assert transaction["transaction"] == "/items/{item_id}"


@pytest.mark.matrix("blacksheep", "errors")
async def test_failed_status_event_does_not_double_a_captured_error(sentry_init, http):
    """The 500 BlackSheep renders for a captured error is not reported again; a bare 503 still is; a 404 never."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = SentryMiddleware(blacksheep_app())
    await http(app, "/items/1")
    await http(app, "/broken")
    assert (await http(app, "/missing")).status_code == 404
    assert [bool(e.get("exception")) for e in transport.events] == [True, False]
    assert transport.events[1]["message"].startswith("503 Service Unavailable")


@pytest.mark.matrix("blacksheep", "route names")
async def test_url_style_names_the_route_pattern(sentry_init, http):
    """transaction_style='url' names /items/42 and /items/43 after the route pattern, source route."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = SentryMiddleware(blacksheep_app(), transaction_style="url")
    await http(app, "/items/42")
    await http(app, "/items/43")
    names = [(e["transaction"], e["transaction_info"]["source"]) for e in transport.events]
    assert names == [("/items/{item_id}", "route")] * 2
    assert {t["transaction"] for t in transport.transactions} == {"/items/{item_id}"}


@pytest.mark.matrix("blacksheep", "route names")
async def test_endpoint_style_names_the_handler(sentry_init, http):
    """The default style names the request handler, source component, for events and transactions."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    await http(SentryMiddleware(blacksheep_app()), "/items/42")
    (event,) = transport.events
    name = "frameworks.test_blacksheep.blacksheep_app.<locals>.item"
    assert (event["transaction"], event["transaction_info"]["source"]) == (name, "component")
    assert transport.transactions[0]["transaction"] == name


@pytest.mark.matrix("blacksheep", "route names")
async def test_unrouted_request_keeps_the_raw_path(sentry_init, http):
    """A path no route matches is named by its raw path, source url."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    response = await http(SentryMiddleware(blacksheep_app(), transaction_style="url"), "/nowhere")
    assert response.status_code == 404
    (transaction,) = transport.transactions
    assert (transaction["transaction"], transaction["transaction_info"]["source"]) == (
        "/nowhere",
        "url",
    )


@pytest.mark.matrix("blacksheep", "user")
async def test_user_set_in_an_app_middleware_reaches_a_sync_handlers_event(sentry_init, http):
    """set_user in a BlackSheep middleware lands on the event of a sync request handler."""
    transport = sentry_init(auto_enabling_integrations=False)
    await http(SentryMiddleware(blacksheep_app()), "/sync/5", headers={"x-user": "u-5"})
    (event,) = transport.events
    assert event["user"]["id"] == "u-5"
    assert event["tags"]["hook"] == "blacksheep-middleware"
    assert "sync_item" in frame_functions(event)


@pytest.mark.matrix("blacksheep", "websockets", note="through its log record")
async def test_websocket_handler_error_is_reported_once_through_its_log_record(sentry_init):
    """BlackSheep only logs a websocket handler's exception (no hook): with sentry_sdk's logging integration that record is one event, with the request."""
    transport = sentry_init(traces_sample_rate=1.0)
    await call(
        SentryMiddleware(blacksheep_app(), transaction_style="url"),
        websocket_scope("/ws"),
        [{"type": "websocket.connect"}],
    )
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "websocket failed"
    assert "socket" in frame_functions(event)
    assert event["request"]["url"] == "ws://testserver/ws"
    assert event["transaction"] == "/ws"


async def test_an_earlier_catch_all_handler_still_answers(sentry_init, http):
    """An Exception handler the app set before wrapping still answers; its 5xx is reported, once."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = blacksheep_app()

    async def unavailable(app, request, exc):
        return Response(503, content=TextContent("later"))

    app.exceptions_handlers[Exception] = unavailable
    wrapped = SentryMiddleware(app)
    SentryMiddleware(app)  # wrapping twice adds nothing
    assert (await http(wrapped, "/items/9")).status_code == 503
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "item 9"


async def test_unwrapped_requests_are_left_alone(sentry_init, http):
    """The handler does nothing for a request no SentryMiddleware handles."""
    transport = sentry_init(auto_enabling_integrations=False, default_integrations=False)
    app = blacksheep_app()
    SentryMiddleware(app)
    assert (await http(app, "/items/3")).status_code == 500
    assert transport.events == []


@pytest.mark.matrix("blacksheep", "body")
async def test_json_body_the_handler_read_is_on_the_event(sentry_init, http):
    """The JSON body the handler read reaches it intact and is attached to the event, secrets filtered."""
    transport = sentry_init(auto_enabling_integrations=False)
    body = {"name": "widget", "password": "hunter2"}
    response = await http(SentryMiddleware(blacksheep_app()), "/orders", method="POST", json=body)
    assert response.status_code == 500
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "widget"
    assert event["request"]["data"] == {"name": "widget", "password": "[Filtered]"}
