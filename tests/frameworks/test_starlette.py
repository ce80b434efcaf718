"""A real Starlette app: errors reach the middleware, routes are in the scope."""

from __future__ import annotations

import pytest
import sentry_sdk
from conftest import call
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route, WebSocketRoute

from frameworks.helpers import frame_functions, websocket_scope
from sentry_asgi import SentryMiddleware

pytestmark = pytest.mark.anyio


class UserFromHeader:
    """A pure ASGI middleware inside the app (Starlette's request hook) that names the user."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        for name, value in scope.get("headers", ()):
            if name == b"x-user":
                sentry_sdk.set_user({"id": value.decode()})
        await self.app(scope, receive, send)


async def item(request):
    raise ValueError(f"item {request.path_params['item_id']}")


def sync_item(request):
    raise KeyError(request.path_params["item_id"])


async def create_order(request):
    raise ValueError((await request.json())["name"])


async def socket(websocket):
    await websocket.accept()
    raise RuntimeError("websocket failed")


def starlette_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/items/{item_id:int}", item),
            Route("/sync/{item_id:int}", sync_item),
            Route("/orders", create_order, methods=["POST"]),
            WebSocketRoute("/ws", socket),
        ],
        middleware=[Middleware(UserFromHeader)],
    )


@pytest.mark.matrix("starlette", "errors")
async def test_view_error_is_reported_once_with_its_frame_and_request(sentry_init, http):
    """A view's exception reaches Sentry once, with the view frame and the request."""
    transport = sentry_init(auto_enabling_integrations=False)
    response = await http(SentryMiddleware(starlette_app()), "/items/42?q=1")
    assert response.status_code == 500
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "item 42"
    assert "item" in frame_functions(event)
    assert event["request"]["url"] == "http://testserver/items/42"


@pytest.mark.matrix("starlette", "errors")
async def test_with_default_integrations_there_is_one_event_and_one_transaction(sentry_init, http):
    """sentry_sdk's default and auto-enabled integrations on: still one event, one transaction."""
    transport = sentry_init(traces_sample_rate=1.0)
    await http(SentryMiddleware(starlette_app()), "/items/7")
    assert (len(transport.events), len(transport.transactions)) == (1, 1)


@pytest.mark.matrix("starlette", "route names")
async def test_url_and_endpoint_styles(sentry_init, http):
    """'url' names the route template (source route), 'endpoint' the view (source component)."""
    transport = sentry_init(auto_enabling_integrations=False)
    await http(SentryMiddleware(starlette_app(), transaction_style="url"), "/items/42")
    await http(SentryMiddleware(starlette_app(), transaction_style="url"), "/items/43")
    await http(SentryMiddleware(starlette_app()), "/items/44")
    names = [(e["transaction"], e["transaction_info"]["source"]) for e in transport.events]
    assert names == [
        ("/items/{item_id:int}", "route"),
        ("/items/{item_id:int}", "route"),
        ("frameworks.test_starlette.item", "component"),
    ]


@pytest.mark.matrix("starlette", "user")
async def test_user_set_in_an_inner_middleware_reaches_a_sync_views_event(sentry_init, http):
    """set_user in a middleware inside the app lands on the event of a sync view run in a thread."""
    transport = sentry_init(auto_enabling_integrations=False)
    await http(SentryMiddleware(starlette_app()), "/sync/5", headers={"x-user": "u-5"})
    (event,) = transport.events
    assert event["user"]["id"] == "u-5"


@pytest.mark.matrix("starlette", "body")
async def test_json_body_the_view_read_is_on_the_event(sentry_init, http):
    """The JSON body the view read reaches it intact and is attached to the event, secrets filtered."""
    transport = sentry_init(auto_enabling_integrations=False)
    body = {"name": "widget", "password": "hunter2"}
    await http(SentryMiddleware(starlette_app()), "/orders", method="POST", json=body)
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "widget"
    assert event["request"]["data"] == {"name": "widget", "password": "[Filtered]"}


@pytest.mark.matrix("starlette", "websockets")
async def test_websocket_handler_error_is_reported_once(sentry_init):
    """A websocket endpoint's exception reaches Sentry once, named by its route."""
    transport = sentry_init(auto_enabling_integrations=False)
    with pytest.raises(RuntimeError):
        await call(
            SentryMiddleware(starlette_app(), transaction_style="url"),
            websocket_scope("/ws"),
            [{"type": "websocket.connect"}],
        )
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "websocket failed"
    assert event["transaction"] == "/ws"
