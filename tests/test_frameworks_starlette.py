"""Real Starlette and FastAPI apps: names, user context, one event per failure."""

from __future__ import annotations

import httpx
import pytest
import sentry_sdk
from fastapi import APIRouter, Depends, FastAPI
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from sentry_asgi import SentryMiddleware

pytestmark = pytest.mark.anyio


async def item(request):
    raise ValueError(request.path_params["item_id"])


def starlette_app() -> Starlette:
    return Starlette(routes=[Route("/items/{item_id}", item)])


async def get(app, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get(path)


async def test_endpoint_style_names_the_view(sentry_init):
    """The default style names the view function as module.qualname, source component."""
    transport = sentry_init(auto_enabling_integrations=False)
    response = await get(SentryMiddleware(starlette_app()), "/items/42")
    assert response.status_code == 500
    (event,) = transport.events
    assert event["transaction"] == "test_frameworks_starlette.item"
    assert event["transaction_info"] == {"source": "component"}


async def test_url_style_uses_the_route_template(sentry_init):
    """transaction_style='url' gives the same route template for /items/42 and /items/43."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = SentryMiddleware(starlette_app(), transaction_style="url")
    await get(app, "/items/42")
    await get(app, "/items/43")
    assert [e["transaction"] for e in transport.events] == ["/items/{item_id}"] * 2
    assert {e["transaction_info"]["source"] for e in transport.events} == {"route"}


async def test_unrouted_request_falls_back_to_the_raw_path(sentry_init):
    """With no route matched (a 404 that fails), the raw path is the name, source url."""
    transport = sentry_init(auto_enabling_integrations=False)

    async def broken_404(request, exc):
        raise RuntimeError("404 handler broke")

    app = Starlette(routes=[], exception_handlers={404: broken_404})
    await get(SentryMiddleware(app, transaction_style="url"), "/nowhere")
    (event,) = transport.events
    assert (event["transaction"], event["transaction_info"]["source"]) == ("/nowhere", "url")


async def test_mounted_app_prefix_is_not_doubled(sentry_init):
    """A sub-app mounted at /api reports /api/items/7 and /api/items/{item_id}, never /api/api."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = Starlette(routes=[Mount("/api", app=starlette_app())])
    await get(SentryMiddleware(app, transaction_style="url"), "/api/items/7")
    (event,) = transport.events
    assert event["request"]["url"] == "http://testserver/api/items/7"
    assert event["transaction"] == "/api/items/{item_id}"


@pytest.mark.parametrize(
    ("mount", "route", "path", "name"),
    [
        ("/items", "/items/{item_id}", "/items/items/5", "/items/items/{item_id}"),
        ("/v1", "/v1beta/{item_id}", "/v1/v1beta/5", "/v1/v1beta/{item_id}"),
    ],
)
async def test_mount_prefix_is_kept_when_the_route_starts_like_it(
    sentry_init, mount, route, path, name
):
    """A route template that begins with its mount's prefix still gets the prefix in front."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = Starlette(routes=[Mount(mount, app=Starlette(routes=[Route(route, item)]))])
    await get(SentryMiddleware(app, transaction_style="url"), path)
    sentry_sdk.flush()
    (event,) = transport.events
    (transaction,) = transport.transactions
    assert event["transaction"] == transaction["transaction"] == name


async def test_a_mounted_app_that_is_no_router_is_named_after_its_mount(sentry_init):
    """A request routed to a mounted plain ASGI app is named after the mount, prefix not doubled."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)

    async def files(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    inner = Starlette(routes=[Mount("/static", app=files)])
    app = Starlette(routes=[Mount("/api", app=inner)])
    await get(SentryMiddleware(app, transaction_style="url"), "/api/static/css/site.css")
    sentry_sdk.flush()
    (transaction,) = transport.transactions
    assert transaction["transaction"] == "/api/static"


async def test_fastapi_router_included_under_a_prefix_is_named_with_it(sentry_init):
    """One APIRouter included under /v1 and /v2 names /v1/users/{user_id} and /v2/users/{user_id}."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    users = APIRouter(prefix="/users")

    @users.get("/{user_id}")
    async def user(user_id: int):
        raise ValueError(user_id)

    api = FastAPI()
    api.include_router(users, prefix="/v1")
    api.include_router(users, prefix="/v2")
    app = SentryMiddleware(Starlette(routes=[Mount("/api", app=api)]), transaction_style="url")
    await get(app, "/api/v1/users/3")
    await get(app, "/api/v2/users/3")
    sentry_sdk.flush()
    names = ["/api/v1/users/{user_id}", "/api/v2/users/{user_id}"]
    assert [e["transaction"] for e in transport.events] == names
    assert [t["transaction"] for t in transport.transactions] == names


@pytest.mark.parametrize("source", [None, "custom"])
async def test_name_set_by_the_user_is_never_overwritten(sentry_init, source):
    """A transaction name the app set, with or without a source, survives (tracing off)."""
    transport = sentry_init(auto_enabling_integrations=False)

    async def view(request):
        sentry_sdk.get_current_scope().set_transaction_name("checkout", source=source)
        raise ValueError("x")

    app = Starlette(routes=[Route("/c", view)])
    await get(SentryMiddleware(app), "/c")
    (event,) = transport.events
    assert event["transaction"] == "checkout"
    assert event["transaction_info"].get("source") == source


async def test_fastapi_dependency_user_lands_on_the_event(sentry_init):
    """set_user inside a FastAPI dependency (and a sync view in the thread pool) reaches the event."""
    transport = sentry_init(auto_enabling_integrations=False)
    api = FastAPI()

    def current_user() -> str:
        sentry_sdk.set_user({"id": "u-42"})
        return "u-42"

    @api.get("/orders/{order_id}")
    def order(order_id: int, user: str = Depends(current_user)) -> dict[str, str]:
        sentry_sdk.set_tag("order", str(order_id))
        raise KeyError(order_id)

    app = SentryMiddleware(api, transaction_style="url")
    await get(app, "/orders/5")
    (event,) = transport.events
    assert event["user"]["id"] == "u-42"
    assert event["tags"]["order"] == "5"
    assert event["transaction"] == "/orders/{order_id}"


async def test_add_middleware_form_works(sentry_init):
    """app.add_middleware(SentryMiddleware), as in the original README, captures view errors."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = starlette_app()
    app.add_middleware(SentryMiddleware)
    response = await get(app, "/items/9")
    assert response.status_code == 500
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "9"


async def test_with_sentry_sdk_integrations_active_there_is_one_event_and_one_transaction(
    sentry_init,
):
    """sentry_sdk's auto-enabled Starlette/FastAPI integrations and ours give one of each, not two."""
    transport = sentry_init(traces_sample_rate=1.0)  # default integrations on
    api = FastAPI()

    @api.get("/items/{item_id}")
    async def read(item_id: int):
        raise ValueError(item_id)

    app = SentryMiddleware(api, transaction_style="url")
    await get(app, "/items/1")
    assert len(transport.events) == 1
    assert len(transport.transactions) == 1
    assert transport.transactions[0]["transaction"] == "/items/{item_id}"


async def test_nested_middleware_reports_once(sentry_init):
    """SentryMiddleware around SentryMiddleware: one event, one transaction."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = SentryMiddleware(SentryMiddleware(starlette_app()))
    await get(app, "/items/3")
    assert len(transport.events) == 1
    assert len(transport.transactions) == 1


async def test_plain_response_passes_through(sentry_init):
    """A healthy Starlette response reaches the client byte for byte."""
    sentry_init(auto_enabling_integrations=False)

    async def hello(request):
        return PlainTextResponse("hello", headers={"x-app": "1"})

    response = await get(SentryMiddleware(Starlette(routes=[Route("/", hello)])), "/")
    assert (response.status_code, response.text, response.headers["x-app"]) == (200, "hello", "1")
