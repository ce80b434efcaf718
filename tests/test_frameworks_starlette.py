"""Real Starlette and FastAPI apps: names, user context, one event per failure."""

from __future__ import annotations

import json
import secrets

import httpx
import pytest
import sentry_sdk
from conftest import Conversation, call, http_scope
from fastapi import APIRouter, Depends, FastAPI, Query, WebSocket
from fastapi.middleware.cors import CORSMiddleware
from frameworks.apps.django_app import django_app
from frameworks.apps.starlette_app import UserFromHeader
from frameworks.helpers import assert_reported_as_itself, websocket_scope
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute

from sentry_asgi import SentryMiddleware
from sentry_asgi.frameworks._starlette import matched_route

pytestmark = pytest.mark.anyio


async def item(request):
    raise ValueError(request.path_params["item_id"])


def starlette_app() -> Starlette:
    return Starlette(routes=[Route("/items/{item_id}", item)])


async def get(app, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get(path)


@pytest.mark.parametrize("wrap", ["wrapped", "add_middleware"])
async def test_sentry_sdks_integrations_name_requests_by_their_own_style(sentry_init, wrap):
    """With sentry_sdk's Starlette integration on, its "url" style names the request, as a framework's name would."""
    transport = sentry_init(traces_sample_rate=1.0)  # default integrations: Starlette's is on
    app = starlette_app()
    if wrap == "wrapped":
        app = SentryMiddleware(app)
    else:
        app.add_middleware(SentryMiddleware)  # sentry_sdk's middleware then runs around ours
    assert (await get(app, "/items/42")).status_code == 500
    sentry_sdk.flush()
    (event,) = transport.items("event")
    (transaction,) = transport.items("transaction")
    for payload in (event, transaction):
        assert payload["transaction"] == "/items/{item_id}"
        assert payload["transaction_info"] == {"source": "route"}


def fastapi_items() -> FastAPI:
    api = FastAPI()

    @api.get("/items/{item_id}")
    async def fastapi_item(item_id: int):
        raise ValueError(item_id)

    return api


@pytest.mark.parametrize(
    ("outer", "inner", "name"),
    [
        (Starlette, starlette_app, "generic Starlette request"),
        (FastAPI, fastapi_items, "/items/{item_id}"),
        (Starlette, django_app, "/items/{item_id}"),
    ],
)
async def test_under_a_mount_sentry_sdks_integrations_name_requests_without_it(
    sentry_init, outer, inner, name
):
    """With sentry_sdk's integrations on, their name for a mounted app's request (no mount in it) is kept, whatever the style."""
    transport = sentry_init(traces_sample_rate=1.0)  # default integrations: Starlette's is on
    app = outer(routes=[Mount("/api", app=SentryMiddleware(inner(), transaction_style="url"))])
    assert (await get(app, "/api/items/42")).status_code == 500
    (event,) = transport.events
    (transaction,) = transport.transactions
    for payload in (event, transaction):
        assert (payload["transaction"], payload["transaction_info"]) == (name, {"source": "route"})


async def test_endpoint_style_names_the_view(sentry_init):
    """The default style names the view function as module.qualname, source component."""
    transport = sentry_init(auto_enabling_integrations=False)
    response = await get(SentryMiddleware(starlette_app()), "/items/42")
    assert response.status_code == 500
    (event,) = transport.events
    assert event["transaction"] == "test_frameworks_starlette.item"
    assert event["transaction_info"] == {"source": "component"}


async def test_endpoint_style_names_a_view_without_a_module_by_its_qualname(sentry_init):
    """A view whose module is empty (defined by exec'd code) is named by its qualname alone."""
    transport = sentry_init(auto_enabling_integrations=False)

    async def orphan(request):
        raise ValueError(request.path_params["item_id"])

    orphan.__module__ = ""
    await get(SentryMiddleware(Starlette(routes=[Route("/items/{item_id}", orphan)])), "/items/4")
    (event,) = transport.events
    assert event["transaction"] == orphan.__qualname__
    assert not event["transaction"].startswith(".")


async def test_url_style_uses_the_route_template(sentry_init):
    """transaction_style='url' gives the same route template for /items/42 and /items/43."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = SentryMiddleware(starlette_app(), transaction_style="url")
    await get(app, "/items/42")
    await get(app, "/items/43")
    assert [e["transaction"] for e in transport.events] == ["/items/{item_id}"] * 2
    assert {e["transaction_info"]["source"] for e in transport.events} == {"route"}


def routed_three_ways() -> Starlette:
    """A route, a sub-app behind middleware under a Mount, a Mount of routes with a parameter."""
    sub_app = CORSMiddleware(starlette_app(), allow_origins=["*"])
    return Starlette(
        routes=[
            Route("/orders/{order_id}", order, methods=["POST"]),
            Mount("/api", app=sub_app),
            Mount("/orgs/{org_id:int}", routes=[Route("/teams/{team}", item)]),
        ]
    )


@pytest.mark.parametrize(
    ("method", "path", "template"),
    [
        ("POST", "/orders/5", "/orders/{order_id}"),
        ("GET", "/orders/5", "/orders/{order_id}"),  # a method the route lacks: its 405
        ("GET", "/api/items/7", "/items/{item_id}"),
        ("GET", "/orgs/42/teams/blue", "/teams/{team}"),
    ],
)
async def test_the_route_starlette_matched_is_found_again_as_starlette_records_it(
    method, path, template
):
    """The route found again from the outermost router is the one Starlette 1.7+ records in the scope, below mounts and middleware."""
    scopes = []
    app = routed_three_ways()

    async def keeping_the_scope(scope, receive, send):
        scopes.append(scope)
        await app(scope, receive, send)

    transport = httpx.ASGITransport(app=keeping_the_scope, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await client.request(method, path)
    (scope,) = scopes
    found = matched_route(scope)
    assert getattr(found, "path", None) == template
    assert scope.get("route", found) is found  # Starlette 1.7 and later record it themselves


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
    """A route template that begins with its mount's prefix still gets the prefix in front, as does the URL."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = Starlette(routes=[Mount(mount, app=Starlette(routes=[Route(route, item)]))])
    await get(SentryMiddleware(app, transaction_style="url"), path)
    sentry_sdk.flush()
    (event,) = transport.events
    (transaction,) = transport.transactions
    assert event["transaction"] == transaction["transaction"] == name
    assert event["request"]["url"] == f"http://testserver{path}"


def tenant_mounts() -> Starlette:
    """Routes below Mounts with path parameters: the tenant's sub-app, the organisation's routes."""
    tenant_api = FastAPI()

    @tenant_api.get("/things/{thing_id}")
    async def thing(thing_id: int):
        raise ValueError(thing_id)

    return Starlette(
        routes=[
            Mount("/t/{tenant}", app=tenant_api),
            Mount(
                "/orgs/{org_id:int}",
                routes=[Mount("/teams/{team}", routes=[Route("/items/{item_id}", item)])],
            ),
        ]
    )


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/t/acme/things/3", "/t/{tenant}/things/{thing_id}"),
        ("/orgs/42/teams/blue/items/5", "/orgs/{org_id:int}/teams/{team}/items/{item_id}"),
    ],
)
async def test_mount_with_path_parameters_is_named_after_its_template(sentry_init, path, name):
    """A Mount's path parameters are its template in the name, never the values the request matched."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    await get(SentryMiddleware(tenant_mounts(), transaction_style="url"), path)
    sentry_sdk.flush()
    (event,) = transport.events
    (transaction,) = transport.transactions
    assert event["transaction"] == transaction["transaction"] == name
    assert transaction["transaction_info"] == {"source": "route"}


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


async def test_path_a_mounted_wrapped_app_does_not_route_is_named_after_the_mount(sentry_init):
    """A wrapped sub-app's 404 under Mount("/api") is named after the mount, never after the middleware."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = Starlette(routes=[Mount("/api", app=SentryMiddleware(starlette_app()))])
    assert (await get(app, "/api/nowhere")).status_code == 404
    sentry_sdk.flush()
    (transaction,) = transport.transactions
    assert (transaction["transaction"], transaction["transaction_info"]["source"]) == (
        "/api",
        "route",
    )


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


async def chained(request):
    try:
        {}[request.url.path]
    except KeyError as error:
        raise ValueError("chained") from error


@pytest.mark.parametrize(
    ("integrations", "cause", "mechanism"),
    [("default", type(None), "starlette"), ("disabled", KeyError, "asgi")],
)
async def test_only_without_sentry_sdks_integrations_does_the_server_get_the_cause(
    sentry_init, integrations, cause, mechanism
):
    """Their middleware re-raises from None: the server loses the cause; the event keeps it."""
    options = {"auto_enabling_integrations": False} if integrations == "disabled" else {}
    transport = sentry_init(**options)
    with pytest.raises(ValueError, match="chained") as raised:
        await call(SentryMiddleware(Starlette(routes=[Route("/", chained)])), http_scope())
    assert isinstance(raised.value.__cause__, cause)
    (event,) = transport.events
    assert [value["type"] for value in event["exception"]["values"]] == ["KeyError", "ValueError"]
    assert event["exception"]["values"][-1]["mechanism"]["type"] == mechanism


async def test_nested_middleware_reports_once(sentry_init):
    """SentryMiddleware around SentryMiddleware: one event, one transaction."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = SentryMiddleware(SentryMiddleware(starlette_app()))
    await get(app, "/items/3")
    assert len(transport.events) == 1
    assert len(transport.transactions) == 1


async def test_nested_middleware_under_a_middleware_that_copies_the_scope_reports_once(
    sentry_init,
):
    """SentryMiddleware around a middleware replacing the scope's headers, around SentryMiddleware: one event, one transaction, one trace."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)

    def adding_a_header(app):
        async def middleware(scope, receive, send):
            headers = [*scope["headers"], (b"x-added", b"1")]
            await app({**scope, "headers": headers}, receive, send)

        return middleware

    app = SentryMiddleware(adding_a_header(SentryMiddleware(starlette_app())))
    await get(app, "/items/3")
    (event,) = transport.events
    (transaction,) = transport.transactions
    assert event["request"]["url"] == "http://testserver/items/3"
    assert event["contexts"]["trace"]["trace_id"] == transaction["contexts"]["trace"]["trace_id"]


async def test_a_request_a_view_sends_to_a_wrapped_app_in_process_is_reported_as_its_own(
    sentry_init,
):
    """A view calling another wrapped app in process, which fails: that request is reported and traced as itself."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    backend = SentryMiddleware(starlette_app())

    async def gateway(request):
        answer = await get(backend, "/items/9")
        return PlainTextResponse(f"fallback after {answer.status_code}")

    app = SentryMiddleware(Starlette(routes=[Route("/quote", gateway)]))
    assert (await get(app, "/quote")).text == "fallback after 500"
    (event,) = transport.events
    assert event["request"]["url"] == "http://testserver/items/9"
    assert len(transport.transactions) == 2


async def test_a_scope_copy_sent_in_process_after_the_response_began_is_its_own_request(
    sentry_init,
):
    """A copy of its scope an app sends to a wrapped app once its own answer began is a request of its own, reported and traced as itself."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    backend = SentryMiddleware(starlette_app())

    async def gateway(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        copy = {**scope, "path": "/items/9", "raw_path": b"/items/9"}  # its headers, shared
        answer = Conversation(backend, copy, [])
        with pytest.raises(ValueError, match="9"):
            await backend(copy, receive, answer.send)  # in this request's context
        await send(
            {"type": "http.response.body", "body": b"fallback %d" % answer.sent[0]["status"]}
        )

    await call(SentryMiddleware(gateway), http_scope("/quote"))
    sentry_sdk.flush()
    (event,) = transport.events
    assert event["request"]["url"] == "http://testserver/items/9"
    names = sorted(t["transaction"] for t in transport.transactions)
    assert names == ["/quote", "test_frameworks_starlette.item"]


async def test_a_view_failing_after_an_in_process_request_is_reported_as_its_own_request(
    sentry_init,
):
    """A view that fails after calling a wrapped app in process: its event has its own URL and name, and no secret."""
    transport = sentry_init(auto_enabling_integrations=False)
    backend = SentryMiddleware(
        Starlette(routes=[Route("/price", lambda _: PlainTextResponse("1"))])
    )
    token = secrets.token_hex(16)  # not in this file's source, which events quote

    async def gateway(request):
        await get(backend, "/price")
        raise ValueError("quote failed")

    app = SentryMiddleware(Starlette(routes=[Route("/quote", gateway)]))
    transport_ = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport_, base_url="http://testserver") as client:
        await client.get("/quote", headers={"authorization": f"Bearer {token}"})
    (event,) = transport.events
    assert event["request"]["url"] == "http://testserver/quote"
    assert event["transaction"].endswith("gateway")
    assert token not in json.dumps(event)


async def test_plain_response_passes_through(sentry_init):
    """A healthy Starlette response reaches the client byte for byte."""
    sentry_init(auto_enabling_integrations=False)

    async def hello(request):
        return PlainTextResponse("hello", headers={"x-app": "1"})

    response = await get(SentryMiddleware(Starlette(routes=[Route("/", hello)])), "/")
    assert (response.status_code, response.text, response.headers["x-app"]) == (200, "hello", "1")


class OrderMissingError(Exception):
    """A domain error the app's exception handler answers."""


async def order(request):
    raise OrderMissingError(request.path_params["order_id"])


def answering(status: int):
    """An exception handler answering OrderMissingError with ``status``."""

    async def handler(request, exc):
        return PlainTextResponse(f"order {exc} not found", status_code=status)

    return handler


def wrapped(app: Starlette, form: str):
    """The app with SentryMiddleware installed: around it, or added above the app's own middleware."""
    if form == "wrap":
        return SentryMiddleware(app)
    if form == "add_middleware_above_the_apps":
        app.add_middleware(UserFromHeader)
    app.add_middleware(SentryMiddleware)
    return app


FORMS = pytest.mark.parametrize("form", ["wrap", "add_middleware", "add_middleware_above_the_apps"])
DEFAULTS = pytest.mark.parametrize(
    "options",
    [
        pytest.param({"auto_enabling_integrations": False}, id="bare"),
        pytest.param({}, id="defaults"),
    ],
)


@FORMS
@DEFAULTS
async def test_exception_a_handler_answers_500_is_reported_once(sentry_init, form, options):
    """An exception a class handler answers 500 is one event: itself, its view's frame, the request."""
    transport = sentry_init(**options)
    app = Starlette(
        routes=[Route("/orders/{order_id}", order)],
        exception_handlers={OrderMissingError: answering(500)},
    )
    response = await get(wrapped(app, form), "/orders/3")
    assert (response.status_code, response.text) == (500, "order 3 not found")
    (event,) = transport.events
    assert_reported_as_itself(
        event, "OrderMissingError", "3", "starlette", "order", "http://testserver/orders/3"
    )


@FORMS
async def test_exception_a_handler_answers_404_is_not_reported(sentry_init, form):
    """A domain error a class handler turns into a 404 is no error: nothing is sent."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = Starlette(
        routes=[Route("/orders/{order_id}", order)],
        exception_handlers={OrderMissingError: answering(404)},
    )
    assert (await get(wrapped(app, form), "/orders/3")).status_code == 404
    assert transport.events == []


def fastapi_answering(status: int) -> FastAPI:
    """A FastAPI sub-app whose own exception handler answers OrderMissingError with ``status``."""
    api = FastAPI()
    api.add_api_route("/orders/{order_id}", order_view)
    api.add_exception_handler(OrderMissingError, answering(status))
    return api


async def order_view(order_id: str):
    raise OrderMissingError(order_id)


@FORMS
@DEFAULTS
@pytest.mark.parametrize("status", [503, 404])
async def test_a_mounted_sub_apps_own_handlers_are_covered_by_the_outer_middleware(
    sentry_init, form, options, status
):
    """A sub-app mounted unwrapped (FastAPI's app.mount, a Mount in a Mount) reports what its own handler answers 5xx, and not 404."""
    transport = sentry_init(**options)
    outer = FastAPI()
    outer.mount("/api", fastapi_answering(status))
    outer.router.routes.append(Mount("/v2", routes=[Mount("/api", app=fastapi_answering(status))]))
    app = wrapped(outer, form)
    for path in ("/api/orders/3", "/v2/api/orders/3"):
        assert (await get(app, path)).status_code == status
    reported = [
        (e["exception"]["values"][-1]["type"], e["request"]["url"]) for e in transport.events
    ]
    if status == 404:
        assert reported == []
    else:
        assert reported == [
            ("OrderMissingError", "http://testserver/api/orders/3"),
            ("OrderMissingError", "http://testserver/v2/api/orders/3"),
        ]


class UnavailableError(Exception):
    """A domain error that carries its own HTTP status, as many apps' errors do."""

    status_code = 503


async def unavailable(request):
    raise UnavailableError(request.path_params["order_id"])


async def test_with_sentry_sdks_integrations_a_status_code_on_the_exception_decides(sentry_init):
    """With sentry_sdk's Starlette integration on, an exception carrying status_code 503 is reported though answered 404."""
    transport = sentry_init()  # default integrations: Starlette's is on

    async def not_found(request, exc):
        return PlainTextResponse("not found", status_code=404)

    app = Starlette(
        routes=[Route("/orders/{order_id}", unavailable)],
        exception_handlers={UnavailableError: not_found},
    )
    assert (await get(SentryMiddleware(app), "/orders/3")).status_code == 404
    (event,) = transport.events
    assert event["exception"]["values"][-1]["mechanism"] == {"type": "starlette", "handled": True}


async def test_an_unwrapped_call_of_the_app_reports_nothing(sentry_init):
    """The app's wrapped handler reports nothing for a request no SentryMiddleware handles."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = Starlette(
        routes=[Route("/orders/{order_id}", order)],
        exception_handlers={OrderMissingError: answering(500)},
    )
    SentryMiddleware(app)
    assert (await get(app, "/orders/3")).status_code == 500
    assert transport.events == []


@FORMS
async def test_a_handler_that_raises_is_reported_once_with_the_exception_it_handled(
    sentry_init, form
):
    """A class handler that fails is one event: its own exception, chained to the one it handled."""
    transport = sentry_init(auto_enabling_integrations=False)

    async def broken(request, exc):
        raise RuntimeError("handler broke")

    app = Starlette(
        routes=[Route("/orders/{order_id}", order)],
        exception_handlers={OrderMissingError: broken},
    )
    assert (await get(wrapped(app, form), "/orders/3")).status_code == 500
    (event,) = transport.events
    assert [v["type"] for v in event["exception"]["values"]] == [
        "OrderMissingError",
        "RuntimeError",
    ]


@DEFAULTS
async def test_http_exception_and_catch_all_handlers_are_not_reported_twice(sentry_init, options):
    """An HTTPException a handler answers 503 and an exception the Exception handler answers: one event each."""
    transport = sentry_init(**options)

    async def unavailable(request):
        raise HTTPException(503)

    async def as_is(request, exc):
        return PlainTextResponse("down", status_code=exc.status_code)

    async def everything(request, exc):
        return PlainTextResponse("sorry", status_code=500)

    app = Starlette(
        routes=[Route("/down", unavailable), Route("/orders/{order_id}", order)],
        exception_handlers={HTTPException: as_is, Exception: everything},
    )
    app = SentryMiddleware(app)
    assert (await get(app, "/down")).status_code == 503
    assert (await get(app, "/orders/3")).status_code == 500
    assert len(transport.events) == 2
    assert transport.events[1]["exception"]["values"][-1]["type"] == "OrderMissingError"


async def test_fastapi_handler_registered_after_wrapping_is_reported(sentry_init):
    """A sync @app.exception_handler added after the app was wrapped reports what it answers 503."""
    transport = sentry_init(auto_enabling_integrations=False)
    api = FastAPI()
    app = SentryMiddleware(api, transaction_style="url")

    @api.get("/orders/{order_id}")
    async def read(order_id: int):
        raise OrderMissingError(order_id)

    @api.exception_handler(OrderMissingError)
    def unavailable(request, exc):
        return PlainTextResponse("try later", status_code=503)

    assert (await get(app, "/orders/3")).status_code == 503
    (event,) = transport.events
    assert event["exception"]["values"][-1]["type"] == "OrderMissingError"
    assert event["transaction"] == "/orders/{order_id}"


async def test_websocket_handlers_report_a_close_and_not_a_denial_below_500(sentry_init):
    """A class handler closing a websocket reports the exception; one denying it with a 403 does not."""
    transport = sentry_init(auto_enabling_integrations=False)

    async def accepted(websocket):
        await websocket.accept()
        raise OrderMissingError("accepted")

    async def refused(websocket):
        raise PermissionError("refused")

    async def close(websocket, exc):
        await websocket.close(code=1011)

    app = Starlette(
        routes=[WebSocketRoute("/accepted", accepted), WebSocketRoute("/refused", refused)],
        exception_handlers={OrderMissingError: close, PermissionError: answering(403)},
    )
    app = SentryMiddleware(app)
    for path in ("/accepted", "/refused"):
        scope = websocket_scope(path)
        scope["extensions"] = {"websocket.http.response": {}}
        await call(app, scope, [{"type": "websocket.connect"}])
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "accepted"


async def test_fastapi_websocket_validation_close_is_not_reported(sentry_init):
    """FastAPI closing a websocket with 1008 for a missing parameter reports nothing."""
    transport = sentry_init(auto_enabling_integrations=False)
    api = FastAPI()

    @api.websocket("/live")
    async def live(websocket: WebSocket, since: int = Query()):
        await websocket.accept()

    conversation = await call(
        SentryMiddleware(api), websocket_scope("/live"), [{"type": "websocket.connect"}]
    )
    assert conversation.sent[-1]["code"] == 1008
    assert transport.events == []


@DEFAULTS
@pytest.mark.parametrize("style", ["endpoint", "url"])
async def test_preflight_and_404_are_named_after_the_path_asked_for(sentry_init, options, style):
    """A CORS pre-flight the CORS middleware answers, and a 404, are named after their path."""
    transport = sentry_init(traces_sample_rate=1.0, **options)
    api = FastAPI()
    api.add_middleware(CORSMiddleware, allow_origins=["https://shop.example"], allow_methods=["*"])

    @api.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item": item_id}

    app = SentryMiddleware(api, transaction_style=style, http_methods_to_capture=["OPTIONS", "GET"])
    transport_ = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport_, base_url="http://testserver") as client:
        preflight = {"origin": "https://shop.example", "access-control-request-method": "GET"}
        assert (await client.options("/items/5", headers=preflight)).status_code == 200
        assert (await client.get("/nowhere/7")).status_code == 404
    sentry_sdk.flush()
    names = [(t["transaction"], t["transaction_info"]["source"]) for t in transport.transactions]
    assert names == [("/items/5", "url"), ("/nowhere/7", "url")]
