"""A real Falcon ASGI app: its catch-all error handler turns responder errors into 500s."""

from __future__ import annotations

import json

import falcon
import falcon.asgi
import pytest
import sentry_sdk
from conftest import call, http_scope

from frameworks.helpers import frame_functions, websocket_scope
from sentry_asgi import SentryMiddleware

pytestmark = pytest.mark.anyio


class UserFromHeader:
    """A Falcon middleware component (the framework's request hook) that names the user."""

    async def process_request(self, req, resp):
        user = req.get_header("x-user")
        if user:
            sentry_sdk.set_user({"id": user})
            sentry_sdk.set_tag("hook", "falcon-middleware")


class Items:
    """A responder that fails."""

    async def on_get(self, req, resp, item_id):
        raise ValueError(f"item {item_id}")


class Broken:
    """A responder that answers 503 with no exception."""

    async def on_get(self, req, resp):
        resp.status = 503
        resp.text = "down"


class Missing:
    """A responder that answers 404 through an HTTPError."""

    async def on_get(self, req, resp):
        raise falcon.HTTPNotFound


class Orders:
    """A responder that reads the JSON body, then fails."""

    async def on_post(self, req, resp):
        raise ValueError((await req.get_media())["name"])


class Socket:
    """A websocket responder that fails after accepting."""

    async def on_websocket(self, req, ws):
        await ws.accept()
        raise RuntimeError("websocket failed")


def falcon_app() -> falcon.asgi.App:
    app = falcon.asgi.App(middleware=[UserFromHeader()])
    app.add_route("/items/{item_id:int}", Items())
    app.add_route("/broken", Broken())
    app.add_route("/missing", Missing())
    app.add_route("/ws", Socket())
    app.add_route("/orders", Orders())
    return app


@pytest.mark.matrix("falcon", "errors")
async def test_responder_error_is_reported_once_with_its_frame_and_request(sentry_init, http):
    """A responder's exception, answered with a 500 by Falcon, reaches Sentry once, with the responder frame and the request."""
    transport = sentry_init(auto_enabling_integrations=False)
    response = await http(SentryMiddleware(falcon_app()), "/items/42?q=1")
    assert response.status_code == 500
    (event,) = transport.events
    value = event["exception"]["values"][-1]
    assert (value["type"], value["value"]) == ("ValueError", "item 42")
    assert value["mechanism"] == {"type": "falcon", "handled": False}
    assert "on_get" in frame_functions(event)
    assert event["request"]["url"] == "http://testserver/items/42"
    assert event["request"]["query_string"] == "q=1"


@pytest.mark.matrix("falcon", "errors")
async def test_with_default_integrations_the_error_and_its_log_record_are_one_event(
    sentry_init, http
):
    """sentry_sdk's default and auto-enabled integrations (logging, Falcon) on: still one event, one transaction."""
    transport = sentry_init(traces_sample_rate=1.0)
    await http(SentryMiddleware(falcon_app(), transaction_style="url"), "/items/7")
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "item 7"
    (transaction,) = transport.transactions
    assert transaction["transaction"] == "/items/{item_id:int}"


@pytest.mark.matrix("falcon", "errors")
async def test_failed_status_event_does_not_double_a_captured_error(sentry_init, http):
    """The 500 Falcon renders for a captured error is not reported again; a bare 503 still is; a 404 never."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = SentryMiddleware(falcon_app())
    await http(app, "/items/1")
    await http(app, "/broken")
    assert (await http(app, "/missing")).status_code == 404
    assert [bool(e.get("exception")) for e in transport.events] == [True, False]
    assert transport.events[1]["message"].startswith("503 Service Unavailable")


@pytest.mark.matrix("falcon", "route names")
async def test_url_style_names_the_uri_template(sentry_init, http):
    """transaction_style='url' names /items/42 and /items/43 after Falcon's URI template, source route."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = SentryMiddleware(falcon_app(), transaction_style="url")
    await http(app, "/items/42")
    await http(app, "/items/43")
    names = [(e["transaction"], e["transaction_info"]["source"]) for e in transport.events]
    assert names == [("/items/{item_id:int}", "route")] * 2
    assert {t["transaction"] for t in transport.transactions} == {"/items/{item_id:int}"}


@pytest.mark.matrix("falcon", "route names")
async def test_endpoint_style_names_the_responder(sentry_init, http):
    """The default style names the responder method, source component, for events and transactions."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    await http(SentryMiddleware(falcon_app()), "/items/42")
    (event,) = transport.events
    name = "frameworks.test_falcon.Items.on_get"
    assert (event["transaction"], event["transaction_info"]["source"]) == (name, "component")
    assert transport.transactions[0]["transaction"] == name


@pytest.mark.matrix("falcon", "route names")
async def test_unrouted_request_keeps_the_raw_path(sentry_init, http):
    """A path no route matches is named by its raw path, source url."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    response = await http(SentryMiddleware(falcon_app(), transaction_style="url"), "/nowhere")
    assert response.status_code == 404
    (transaction,) = transport.transactions
    assert (transaction["transaction"], transaction["transaction_info"]["source"]) == (
        "/nowhere",
        "url",
    )


@pytest.mark.matrix("falcon", "user")
async def test_user_set_in_a_middleware_component_reaches_the_event(sentry_init, http):
    """set_user in a Falcon middleware component's process_request lands on the responder's event."""
    transport = sentry_init(auto_enabling_integrations=False)
    await http(SentryMiddleware(falcon_app()), "/items/5", headers={"x-user": "u-5"})
    (event,) = transport.events
    assert event["user"]["id"] == "u-5"
    assert event["tags"]["hook"] == "falcon-middleware"


@pytest.mark.matrix("falcon", "websockets")
async def test_websocket_responder_error_is_reported_once(sentry_init):
    """A websocket responder's exception, answered with a close by Falcon, reaches Sentry once."""
    transport = sentry_init(auto_enabling_integrations=False)
    conversation = await call(
        SentryMiddleware(falcon_app(), transaction_style="url"),
        websocket_scope("/ws"),
        [{"type": "websocket.connect"}],
    )
    assert conversation.sent[-1]["type"] == "websocket.close"
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "websocket failed"
    assert "on_websocket" in frame_functions(event)
    assert event["transaction"] == "/ws"


async def test_an_earlier_catch_all_handler_still_answers(sentry_init, http):
    """An Exception handler the app registered before wrapping still renders the response, after the report."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = falcon_app()

    async def teapot(req, resp, ex, params):
        resp.status = 418

    app.add_error_handler(Exception, teapot)
    wrapped = SentryMiddleware(app)
    SentryMiddleware(app)  # wrapping twice adds nothing
    assert (await http(wrapped, "/items/9")).status_code == 418
    assert len(transport.events) == 1


async def test_unwrapped_requests_are_left_alone(sentry_init, http):
    """The handler does nothing for a request no SentryMiddleware handles."""
    transport = sentry_init(auto_enabling_integrations=False, default_integrations=False)
    app = falcon_app()
    SentryMiddleware(app)
    assert (await http(app, "/items/3")).status_code == 500
    assert transport.events == []


@pytest.mark.matrix("falcon", "body")
async def test_json_body_the_responder_read_is_on_the_event(sentry_init):
    """The JSON body the responder read reaches it intact and is attached to the event, secrets filtered."""
    transport = sentry_init(auto_enabling_integrations=False)
    body = json.dumps({"name": "widget", "password": "hunter2"}).encode()
    headers = [(b"host", b"testserver"), (b"content-type", b"application/json")]
    headers.append((b"content-length", str(len(body)).encode()))
    # One message, as servers deliver a small body: Falcon reads exactly content-length bytes
    # and never asks for a closing empty message, which httpx's in-process transport sends.
    conversation = await call(
        SentryMiddleware(falcon_app()),
        http_scope("/orders", method="POST", headers=headers),
        [{"type": "http.request", "body": body, "more_body": False}],
    )
    assert conversation.sent[0]["status"] == 500
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "widget"
    assert event["request"]["data"] == {"name": "widget", "password": "[Filtered]"}
