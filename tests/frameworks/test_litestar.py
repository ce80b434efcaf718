"""A real Litestar app: its exception middleware turns handler errors into 500s itself."""

from __future__ import annotations

import pytest
import sentry_sdk
from conftest import call
from litestar import Litestar, Response, get, post, websocket
from litestar.connection import WebSocket  # noqa: TC002 - Litestar reads annotations at runtime
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, JSONBody  # noqa: TC002 - likewise

from frameworks.helpers import frame_functions, websocket_scope
from sentry_asgi import SentryMiddleware

pytestmark = pytest.mark.anyio


@get("/items/{item_id:int}")
async def item(item_id: FromPath[int]) -> str:
    raise ValueError(f"item {item_id}")


def current_user() -> str:
    sentry_sdk.set_user({"id": "u-7"})
    sentry_sdk.set_tag("hook", "litestar-provide")
    return "u-7"


@get(
    "/orders/{order_id:int}",
    dependencies={"user": Provide(current_user, sync_to_thread=True)},
    sync_to_thread=True,
)
def order(order_id: FromPath[int], user: NamedDependency[str]) -> str:
    raise KeyError(order_id)


@get("/broken")
async def broken() -> Response[str]:
    return Response("down", status_code=503)


@get("/missing")
async def missing() -> str:
    raise NotFoundException


@websocket("/ws")
async def socket(socket: WebSocket) -> None:
    await socket.accept()
    raise RuntimeError("websocket failed")


@post("/orders")
async def create_order(data: JSONBody[dict[str, str]]) -> None:
    raise ValueError(data["name"])


def litestar_app() -> Litestar:
    return Litestar(route_handlers=[item, order, broken, missing, socket, create_order])


@pytest.mark.matrix("litestar", "errors")
async def test_handler_error_is_reported_once_with_its_frame_and_request(sentry_init, http):
    """A handler's exception, answered with a 500 by Litestar, reaches Sentry once, with the handler frame and the request."""
    transport = sentry_init(auto_enabling_integrations=False)
    response = await http(SentryMiddleware(litestar_app()), "/items/42?q=1")
    assert response.status_code == 500
    (event,) = transport.events
    value = event["exception"]["values"][-1]
    assert (value["type"], value["value"]) == ("ValueError", "item 42")
    assert value["mechanism"] == {"type": "litestar", "handled": False}
    assert "item" in frame_functions(event)
    assert event["request"]["url"] == "http://testserver/items/42"
    assert event["request"]["query_string"] == "q=1"


@pytest.mark.matrix("litestar", "errors")
async def test_with_default_integrations_there_is_one_event_and_one_transaction(sentry_init, http):
    """sentry_sdk's default and auto-enabled integrations (logging, Litestar) on: still one of each."""
    transport = sentry_init(traces_sample_rate=1.0)
    await http(SentryMiddleware(litestar_app(), transaction_style="url"), "/items/7")
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "item 7"
    assert len(transport.transactions) == 1


@pytest.mark.matrix("litestar", "errors")
async def test_failed_status_event_does_not_double_a_captured_error(sentry_init, http):
    """The 500 Litestar renders for a captured error is not reported again; a bare 503 still is; a 404 never."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = SentryMiddleware(litestar_app())
    await http(app, "/items/1")
    await http(app, "/broken")
    assert (await http(app, "/missing")).status_code == 404
    assert [bool(e.get("exception")) for e in transport.events] == [True, False]
    assert transport.events[1]["message"].startswith("503 Service Unavailable")


@pytest.mark.matrix("litestar", "route names")
async def test_url_style_names_the_route_template(sentry_init, http):
    """transaction_style='url' names /items/42 and /items/43 after the route template, source route."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = SentryMiddleware(litestar_app(), transaction_style="url")
    await http(app, "/items/42")
    await http(app, "/items/43")
    names = [(e["transaction"], e["transaction_info"]["source"]) for e in transport.events]
    assert names == [("/items/{item_id}", "route")] * 2
    assert {t["transaction"] for t in transport.transactions} == {"/items/{item_id}"}


@pytest.mark.matrix("litestar", "route names")
async def test_endpoint_style_names_the_handler(sentry_init, http):
    """The default style names the handler function, source component, for events and transactions."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    await http(SentryMiddleware(litestar_app()), "/items/42")
    (event,) = transport.events
    name = "frameworks.test_litestar.item"
    assert (event["transaction"], event["transaction_info"]["source"]) == (name, "component")
    assert transport.transactions[0]["transaction"] == name


@pytest.mark.matrix("litestar", "user")
async def test_user_set_in_a_dependency_reaches_a_sync_handlers_event(sentry_init, http):
    """set_user in a Provide() dependency lands on the event of a sync handler run in a thread."""
    transport = sentry_init(auto_enabling_integrations=False)
    await http(SentryMiddleware(litestar_app()), "/orders/5")
    (event,) = transport.events
    assert event["user"]["id"] == "u-7"
    assert event["tags"]["hook"] == "litestar-provide"
    assert "order" in frame_functions(event)


@pytest.mark.matrix("litestar", "websockets")
async def test_websocket_handler_error_is_reported_once(sentry_init):
    """A websocket handler's exception, answered with a close by Litestar, reaches Sentry once."""
    transport = sentry_init(auto_enabling_integrations=False)
    conversation = await call(
        SentryMiddleware(litestar_app()),
        websocket_scope("/ws"),
        [{"type": "websocket.connect"}],
    )
    assert conversation.sent[-1]["type"] == "websocket.close"
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "websocket failed"
    assert "socket" in frame_functions(event)
    assert event["request"]["url"] == "ws://testserver/ws"


async def test_wrapping_twice_adds_the_hook_once(sentry_init, http):
    """The after_exception hook is added once per app, however often the app is wrapped."""
    app = litestar_app()
    SentryMiddleware(app)
    SentryMiddleware(app)
    assert len(app.after_exception) == 1


async def test_unwrapped_requests_are_left_alone(sentry_init, http):
    """The hook does nothing for a request no SentryMiddleware handles."""
    transport = sentry_init(auto_enabling_integrations=False, default_integrations=False)
    app = litestar_app()
    SentryMiddleware(app)
    assert (await http(app, "/items/3")).status_code == 500
    assert transport.events == []


@pytest.mark.matrix("litestar", "body")
async def test_json_body_the_handler_read_is_on_the_event(sentry_init, http):
    """The JSON body the handler read reaches it intact and is attached to the event, secrets filtered."""
    transport = sentry_init(auto_enabling_integrations=False)
    body = {"name": "widget", "password": "hunter2"}
    response = await http(SentryMiddleware(litestar_app()), "/orders", method="POST", json=body)
    assert response.status_code == 500
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "widget"
    assert event["request"]["data"] == {"name": "widget", "password": "[Filtered]"}
