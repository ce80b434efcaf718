"""A real FastAPI app: errors reach the middleware, routes are in the scope."""

from __future__ import annotations

import pytest
import sentry_sdk
from conftest import call
from fastapi import Depends, FastAPI, WebSocket
from pydantic import BaseModel

from frameworks.helpers import frame_functions, websocket_scope
from sentry_asgi import SentryMiddleware

pytestmark = pytest.mark.anyio


class Order(BaseModel):
    """A request body model."""

    name: str
    password: str


def current_user() -> str:
    sentry_sdk.set_user({"id": "u-42"})
    return "u-42"


def fastapi_app() -> FastAPI:
    api = FastAPI()

    @api.get("/items/{item_id}")
    async def item(item_id: int):
        raise ValueError(f"item {item_id}")

    @api.get("/sync/{item_id}")
    def sync_item(item_id: int, user: str = Depends(current_user)):
        raise KeyError(item_id)

    @api.post("/orders")
    async def create_order(order: Order):
        raise ValueError(order.name)

    @api.websocket("/ws")
    async def socket(websocket: WebSocket):
        await websocket.accept()
        raise RuntimeError("websocket failed")

    return api


@pytest.mark.matrix("fastapi", "errors")
async def test_view_error_is_reported_once_with_its_frame_and_request(sentry_init, http):
    """A path operation's exception reaches Sentry once, with its frame and the request."""
    transport = sentry_init(auto_enabling_integrations=False)
    response = await http(SentryMiddleware(fastapi_app()), "/items/42?q=1")
    assert response.status_code == 500
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "item 42"
    assert "item" in frame_functions(event)
    assert event["request"]["url"] == "http://testserver/items/42"


@pytest.mark.matrix("fastapi", "errors")
async def test_with_default_integrations_there_is_one_event_and_one_transaction(sentry_init, http):
    """sentry_sdk's default and auto-enabled integrations on: still one event, one transaction."""
    transport = sentry_init(traces_sample_rate=1.0)
    await http(SentryMiddleware(fastapi_app()), "/items/7")
    assert (len(transport.events), len(transport.transactions)) == (1, 1)


@pytest.mark.matrix("fastapi", "route names")
async def test_url_and_endpoint_styles(sentry_init, http):
    """'url' names the path template (source route), 'endpoint' the path operation (source component)."""
    transport = sentry_init(auto_enabling_integrations=False)
    await http(SentryMiddleware(fastapi_app(), transaction_style="url"), "/items/42")
    await http(SentryMiddleware(fastapi_app(), transaction_style="url"), "/items/43")
    await http(SentryMiddleware(fastapi_app()), "/items/44")
    names = [(e["transaction"], e["transaction_info"]["source"]) for e in transport.events]
    assert names == [
        ("/items/{item_id}", "route"),
        ("/items/{item_id}", "route"),
        ("frameworks.test_fastapi.fastapi_app.<locals>.item", "component"),
    ]


@pytest.mark.matrix("fastapi", "user")
async def test_user_set_in_a_dependency_reaches_a_sync_views_event(sentry_init, http):
    """set_user in a Depends() dependency lands on the event of a sync path operation run in a thread."""
    transport = sentry_init(auto_enabling_integrations=False)
    await http(SentryMiddleware(fastapi_app()), "/sync/5")
    (event,) = transport.events
    assert event["user"]["id"] == "u-42"


@pytest.mark.matrix("fastapi", "body")
async def test_json_body_the_model_read_is_on_the_event(sentry_init, http):
    """The JSON body FastAPI parsed reaches the path operation intact and is attached to the event, secrets filtered."""
    transport = sentry_init(auto_enabling_integrations=False)
    body = {"name": "widget", "password": "hunter2"}
    await http(SentryMiddleware(fastapi_app()), "/orders", method="POST", json=body)
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "widget"
    assert event["request"]["data"] == {"name": "widget", "password": "[Filtered]"}


@pytest.mark.matrix("fastapi", "websockets")
async def test_websocket_handler_error_is_reported_once(sentry_init):
    """A websocket endpoint's exception reaches Sentry once, named by its route."""
    transport = sentry_init(auto_enabling_integrations=False)
    with pytest.raises(RuntimeError):
        await call(
            SentryMiddleware(fastapi_app(), transaction_style="url"),
            websocket_scope("/ws"),
            [{"type": "websocket.connect"}],
        )
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "websocket failed"
    assert event["transaction"] == "/ws"
