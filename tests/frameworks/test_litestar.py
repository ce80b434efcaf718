"""Litestar specifics: the hook is added once; what the app's exception handlers answer decides."""

from __future__ import annotations

import contextlib
import sys

import falcon.asgi
import pytest
import sentry_sdk
from conftest import (
    CapturingTransport,
    call,
    http_scope,
    needs_mounts_keeping_the_path,
    needs_span_streaming,
)
from litestar import (
    Litestar,
    Request,
    Response,
    Router,
    WebSocket,
    asgi,
    get,
    websocket,
    websocket_listener,
)
from litestar.background_tasks import BackgroundTask
from litestar.config.allowed_hosts import AllowedHostsConfig
from litestar.exceptions import (
    InternalServerException,
    NotAuthorizedException,
    WebSocketException,
)
from litestar.handlers import WebsocketListener
from litestar.middleware import DefineMiddleware
from litestar.middleware.allowed_hosts import AllowedHostsMiddleware
from litestar.response import Stream
from litestar.types import ASGIApp, Receive, Scope, Send  # noqa: TC002 - likewise
from quart import Quart
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from test_scope_isolation import sent_session_totals

from frameworks.apps.litestar_app import item, litestar_app, socket
from frameworks.helpers import (
    FromPath,
    assert_reported_as_itself,
    websocket_scope,
)
from sentry_asgi import SentryMiddleware


def test_wrapping_twice_adds_the_hook_once():
    """The after_exception hook is added once per app, however often the app is wrapped."""
    app = litestar_app()
    SentryMiddleware(app)
    SentryMiddleware(app)
    assert len(app.after_exception) == 1


@pytest.mark.anyio
async def test_an_app_inside_litestars_own_middleware_is_hooked(sentry_init, http):
    """A Litestar app wrapped in one of Litestar's own middleware, then in SentryMiddleware, gets the hook: its view's exception is reported as itself."""
    transport = sentry_init(auto_enabling_integrations=False)
    hosts = AllowedHostsConfig(allowed_hosts=["testserver"])
    app = SentryMiddleware(AllowedHostsMiddleware(app=Litestar([item]), config=hosts))
    assert (await http(app, "/items/42")).status_code == 500
    (event,) = transport.events
    url = "http://testserver/items/42"
    assert_reported_as_itself(event, "ValueError", "item 42", "litestar", "item", url)


@get(["/shops/{shop:str}/stock/{sku:int}", "/stock/{sku:int}"])
async def stock(sku: FromPath[int], shop: FromPath[str] = "main") -> str:
    raise ValueError(f"{shop} {sku}")


@pytest.mark.anyio
async def test_a_handler_on_two_paths_names_each_request_after_the_path_it_ran_for(
    sentry_init, http
):
    """A handler declared on two paths names each request by the template it ran for; endpoint style by the handler."""
    transport = sentry_init(auto_enabling_integrations=False)
    for style in ("url", "endpoint"):
        app = SentryMiddleware(Litestar([stock]), transaction_style=style)
        for path in ("/shops/north/stock/7", "/stock/8"):
            assert (await http(app, path)).status_code == 500
    assert [(e["transaction"], e["transaction_info"]["source"]) for e in transport.events] == [
        ("/shops/{shop}/stock/{sku}", "route"),
        ("/stock/{sku}", "route"),
        ("frameworks.test_litestar.stock", "component"),
        ("frameworks.test_litestar.stock", "component"),
    ]


class OrderMissingError(Exception):
    """A domain error the app answers itself."""


@get("/orders/{order_id:int}")
async def order(order_id: FromPath[int]) -> str:
    raise OrderMissingError(order_id)


def answering(status: int) -> Litestar:
    """An app whose exception handler answers OrderMissingError with ``status``."""

    def handler(request: Request, exc: Exception) -> Response[str]:
        return Response(f"order {exc} not found", status_code=status)

    return Litestar([order], exception_handlers={OrderMissingError: handler})


@pytest.mark.anyio
async def test_exception_the_app_answers_with_a_4xx_is_not_reported(sentry_init, http):
    """An exception the app's exception handler answers 404 is no error; the transaction is not_found."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    response = await http(SentryMiddleware(answering(404)), "/orders/3")
    assert (response.status_code, response.text) == (404, "order 3 not found")
    assert transport.events == []
    (transaction,) = transport.transactions
    assert transaction["contexts"]["trace"]["status"] == "not_found"


@pytest.mark.anyio
async def test_exception_the_app_answers_with_a_5xx_is_reported_once(sentry_init, http):
    """An exception the app's exception handler answers 500 is reported once, as itself."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    assert (await http(SentryMiddleware(answering(500)), "/orders/3")).status_code == 500
    (event,) = transport.events
    (value,) = event["exception"]["values"]
    assert value["type"] == "OrderMissingError"
    assert value["mechanism"] == {"type": "litestar", "handled": False}
    (transaction,) = transport.transactions
    assert transaction["contexts"]["trace"]["status"] == "internal_error"


@pytest.mark.anyio
async def test_exception_the_app_captures_itself_while_answering_4xx_is_kept(sentry_init, http):
    """The app's own capture of a domain error it answers 404 is its event to send, kept."""
    transport = sentry_init(auto_enabling_integrations=False)

    def handler(request: Request, exc: Exception) -> Response[str]:
        sentry_sdk.capture_exception(exc)
        return Response(f"order {exc} not found", status_code=404)

    app = Litestar([order], exception_handlers={OrderMissingError: handler})
    assert (await http(SentryMiddleware(app), "/orders/3")).status_code == 404
    (event,) = transport.events
    (value,) = event["exception"]["values"]
    assert (value["type"], value["mechanism"]["handled"]) == ("OrderMissingError", True)


@get("/ledger")
async def ledger() -> str:
    raise InternalServerException(detail="ledger unavailable")


@pytest.mark.anyio
async def test_internal_server_exception_the_app_raises_is_reported(sentry_init, http):
    """Litestar's InternalServerException with the app's own detail is its failure, not a disconnect."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    assert (await http(SentryMiddleware(Litestar([ledger])), "/ledger")).status_code == 500
    (event,) = transport.events
    assert event["exception"]["values"][-1]["type"] == "InternalServerException"
    (transaction,) = transport.transactions
    assert transaction["contexts"]["trace"]["status"] == "internal_error"


@pytest.mark.anyio
async def test_wrapped_app_mounted_with_a_copied_scope_reports_once(sentry_init, http):
    """A wrapped app mounted in a wrapped Litestar app with copy_scope=True: one event, one transaction."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)

    async def files(scope, receive, send):
        raise OSError("disk gone")

    inner = SentryMiddleware(files)

    @asgi("/files", is_mount=True, copy_scope=True)
    async def mounted(scope: Scope, receive: Receive, send: Send) -> None:
        await inner(scope, receive, send)

    assert (await http(SentryMiddleware(Litestar([mounted])), "/files/a")).status_code == 500
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "disk gone"
    assert len(transport.transactions) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("status", [404, 500])
async def test_with_sentry_sdks_litestar_integration_the_answer_still_decides(
    sentry_init, http, status
):
    """With sentry_sdk's Litestar integration on, an exception the app answers 404 is no error, and answered 500 is one event."""
    from sentry_sdk.integrations.litestar import LitestarIntegration

    transport = sentry_init(integrations=[LitestarIntegration()], traces_sample_rate=1.0)
    assert (await http(SentryMiddleware(answering(status)), "/orders/3")).status_code == status
    values = [event["exception"]["values"][-1] for event in transport.events]
    assert [v["type"] for v in values] == ([] if status < 500 else ["OrderMissingError"])
    assert all(v["mechanism"] == {"type": "litestar", "handled": False} for v in values)


@get("/private")
async def private() -> str:
    raise NotAuthorizedException


@pytest.mark.anyio
async def test_with_sentry_sdks_litestar_integration_a_4xx_exception_is_no_error(sentry_init, http):
    """With sentry_sdk's Litestar integration on, a NotAuthorizedException Litestar answers 401 sends no event, in every sentry-sdk release."""
    transport = sentry_init(auto_enabling_integrations=False, integrations=sdk_integration(True))
    assert (await http(SentryMiddleware(Litestar([private])), "/private")).status_code == 401
    assert transport.events == []


class StreamBrokeError(Exception):
    """The app's failure after its response started."""


async def chunks():
    yield b"first"
    raise StreamBrokeError("feed gone")


@get("/feed")
async def feed() -> Stream:
    return Stream(chunks())


async def send_receipt() -> None:
    raise StreamBrokeError("mailer gone")


@get("/checkout")
async def checkout() -> Response[str]:
    return Response("paid", background=BackgroundTask(send_receipt))


async def answers_its_failure_after_starting(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a failure 500 after the response started, as Litestar before 2.9 does."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    try:
        async for chunk in chunks():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except StreamBrokeError:
        await send({"type": "http.response.start", "status": 500, "headers": []})


@pytest.mark.anyio
async def test_an_answer_after_the_response_started_reports_the_failure_it_answers(
    sentry_init, http
):
    """The server refusing a second response start: one event, the app's exception, not the refusal."""
    transport = sentry_init(auto_enabling_integrations=False)
    await http(SentryMiddleware(answers_its_failure_after_starting), "/feed")
    (event,) = transport.events
    reported = event["exception"]["values"][-1]
    assert (reported["type"], reported["value"]) == ("StreamBrokeError", "feed gone")


def sdk_integration(enabled: bool) -> list[object]:
    from sentry_sdk.integrations.litestar import LitestarIntegration

    return [LitestarIntegration()] if enabled else []


async def the_one_event(sentry_init, http, handler, path, answer, *, sdk) -> dict:
    """Serve ``path`` from a wrapped Litestar app of ``handler``, answered ``answer``: its one event."""
    transport = sentry_init(auto_enabling_integrations=False, integrations=sdk_integration(sdk))
    response = await http(SentryMiddleware(Litestar([handler])), path)
    assert (response.status_code, response.text) == answer
    (event,) = transport.events
    return event


ALONE_AND_WITH_THE_INTEGRATION = pytest.mark.parametrize(
    "sdk", [False, True], ids=["alone", "with-sdk-integration"]
)


@pytest.mark.anyio
@ALONE_AND_WITH_THE_INTEGRATION
async def test_exception_mid_stream_is_reported_and_titled_as_itself(sentry_init, http, sdk):
    """A stream's generator failing after the headers went out: one event showing the app's exception, its frames, its title."""
    event = await the_one_event(sentry_init, http, feed, "/feed", (200, "first"), sdk=sdk)
    *leaves, group = event["exception"]["values"]
    assert group["value"] == "StreamBrokeError: feed gone [unhandled errors in a TaskGroup]"
    assert group["mechanism"]["type"] == "asgi"
    if sys.version_info >= (3, 11):  # sentry_sdk leaves the group of Python 3.10's backport whole
        (leaf,) = leaves
        assert (leaf["type"], leaf["value"]) == ("StreamBrokeError", "feed gone")
        assert "chunks" in [frame["function"] for frame in leaf["stacktrace"]["frames"]]


@pytest.mark.anyio
@ALONE_AND_WITH_THE_INTEGRATION
async def test_failing_background_task_is_reported_as_itself(sentry_init, http, sdk):
    """A background task failing after the response: one event, the task's exception itself, not Litestar's wrapper."""
    event = await the_one_event(sentry_init, http, checkout, "/checkout", (200, "paid"), sdk=sdk)
    assert_reported_as_itself(
        event,
        "StreamBrokeError",
        "mailer gone",
        "asgi",
        "send_receipt",
        "http://testserver/checkout",
    )


# Litestar passes a mounted app the path below the mount, a slash appended, root_path unchanged.
async def starlette_item(request: object) -> None:
    raise ValueError("item")


def starlette_below() -> Starlette:
    return Starlette(routes=[Route("/items/{item_id:int}/", starlette_item)])


def quart_below() -> Quart:
    app = Quart(__name__)

    @app.get("/items/<int:item_id>/")
    async def quart_item(item_id: int) -> None:
        raise ValueError("item")

    return app


async def plain_below(scope: Scope, receive: Receive, send: Send) -> None:
    raise ValueError("item")


INNER = {
    "starlette": (starlette_below, "/items/{item_id:int}/", "starlette_item"),
    "quart": (quart_below, "/items/<int:item_id>/", "quart_item"),
}


def mounted_at_sub(inner: object, style: str, *, wrap: bool = True, **options: bool) -> Litestar:
    """``inner``, wrapped unless told, mounted at /api/sub in a Litestar app (a router's /api, then /sub)."""
    wrapped = SentryMiddleware(inner, transaction_style=style) if wrap else inner

    @asgi("/sub", is_mount=True, **{"copy_scope": False, **options})
    async def sub(scope: Scope, receive: Receive, send: Send) -> None:
        await wrapped(scope, receive, send)

    return Litestar([Router("/api", route_handlers=[sub])])


async def plain_app(scope: Scope, receive: Receive, send: Send) -> None:
    """A plain ASGI app, no framework: no routes the middleware can read."""
    raise ValueError("plain")


BELOW_A_ROOT = {
    "starlette": (starlette_below, "/api/sub/items/{item_id:int}/"),
    "quart": (quart_below, "/api/sub/items/<int:item_id>/"),
    "plain": (lambda: plain_app, "/api/sub"),
}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("outer", "root", "asked"),
    [
        ("root_path", "/prefix", "/prefix"),
        pytest.param("mount", "/prefix", "/prefix", marks=needs_mounts_keeping_the_path),
        pytest.param("mount", "/orgs/{org_id}", "/orgs/7", marks=needs_mounts_keeping_the_path),
    ],
)
@pytest.mark.parametrize("inner", BELOW_A_ROOT)
async def test_app_under_a_litestar_mount_of_an_app_below_a_root_is_named_with_the_root_once(
    inner, outer, root, asked, sentry_init
):
    """A wrapped app under a Litestar mount, the Litestar app served below a root path or a Starlette Mount, has that root once in its name."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    build, name = BELOW_A_ROOT[inner]
    app = SentryMiddleware(mounted_at_sub(build(), "url"), transaction_style="url")
    path = f"{asked}/api/sub/items/3/"
    with contextlib.suppress(Exception):  # the app's error, left to the server
        if outer == "mount":
            await call(Starlette(routes=[Mount(root, app=app)]), http_scope(path))
        else:
            await call(app, http_scope(path, root_path=root))
    assert named(transport.transactions) == [(root + name, "route")]


def named(items: list[dict]) -> list[tuple[str, str]]:
    """Each event's or transaction's name and its source."""
    return [(item["transaction"], item["transaction_info"]["source"]) for item in items]


@pytest.mark.anyio
@pytest.mark.parametrize("inner", INNER)
@pytest.mark.parametrize("copy_scope", [False, True], ids=["own-scope", "copied-scope"])
async def test_wrapped_app_mounted_in_litestar_is_named_after_its_own_route(
    sentry_init, http, inner, copy_scope
):
    """A wrapped app under a Litestar mount, given the scope or a copy, is named the mount's path plus its route, or its view: never the mount."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    build, route, view = INNER[inner]
    for style in ("url", "endpoint"):
        mounted = mounted_at_sub(build(), style, copy_scope=copy_scope)
        app = SentryMiddleware(mounted, transaction_style=style)
        assert (await http(app, "/api/sub/items/42")).status_code == 500
    (url_name, endpoint_name) = named(transport.events)
    assert named(transport.events) == named(transport.transactions)
    assert url_name == (f"/api/sub{route}", "route")
    assert endpoint_name[0].endswith(f".{view}")
    assert endpoint_name[1] == "component"


@pytest.mark.anyio
async def test_litestar_mount_of_an_app_without_routes_is_named_after_the_mount(sentry_init, http):
    """Under a Litestar mount, an app without routes the middleware can read is named the mount's path, not an empty name."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    for style in ("url", "endpoint"):
        app = SentryMiddleware(mounted_at_sub(plain_below, style), transaction_style=style)
        assert (await http(app, "/api/sub/items/42")).status_code == 500
    assert named(transport.events) == named(transport.transactions) == [("/api/sub", "route")] * 2


@pytest.mark.anyio
async def test_path_a_wrapped_app_under_a_litestar_mount_does_not_route_keeps_the_mount(
    sentry_init, http
):
    """A path the wrapped app under a Litestar mount does not route is named by the path the client asked for, the mount's path included."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = SentryMiddleware(mounted_at_sub(quart_below(), "url"), transaction_style="url")
    assert (await http(app, "/api/sub/nowhere")).status_code == 404
    assert named(transport.transactions) == [("/api/sub/nowhere", "url")]


def urls(transport: CapturingTransport) -> list[str]:
    """The request URL of each event, then of each transaction."""
    return [item["request"]["url"] for item in transport.events + transport.transactions]


@pytest.mark.anyio
@pytest.mark.parametrize("wrap", [False, True], ids=["plain-below", "wrapped-below"])
@pytest.mark.parametrize("copy_scope", [False, True], ids=["own-scope", "copied-scope"])
async def test_events_under_a_litestar_mount_carry_the_url_the_client_asked_for(
    sentry_init, http, wrap, copy_scope
):
    """Under a Litestar mount, which rewrites the scope's path, the error and the transaction carry the URL the client asked for, percent-encoded as sent."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    mounted = mounted_at_sub(plain_below, "url", wrap=wrap, copy_scope=copy_scope)
    response = await http(SentryMiddleware(mounted), "/api/sub/caf%C3%A9/a%20b?x=1")
    assert response.status_code == 500
    assert urls(transport) == ["http://testserver/api/sub/caf%C3%A9/a%20b"] * 2


@pytest.mark.anyio
@pytest.mark.parametrize("raw_path", [b"/api/sub/a", b"/app/api/sub/a"], ids=["raw", "raw-rooted"])
@pytest.mark.parametrize("wrap", [False, True], ids=["plain-below", "wrapped-below"])
async def test_url_under_a_litestar_mount_keeps_the_servers_root_path(sentry_init, raw_path, wrap):
    """Behind a server's root_path, whether raw_path starts with it or not, the URL under a Litestar mount is root_path then the path asked for."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    mounted = mounted_at_sub(plain_below, "url", wrap=wrap)
    scope = http_scope("/app/api/sub/a", raw_path=raw_path, root_path="/app")
    await call(SentryMiddleware(mounted), scope)
    assert urls(transport) == ["http://testserver/app/api/sub/a"] * 2


@pytest.mark.anyio
async def test_litestar_request_not_under_a_mount_keeps_its_url(sentry_init, http):
    """A Litestar route that is no mount: the URL is the scope's path, as before."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    assert (await http(SentryMiddleware(answering(500)), "/orders/3/?x=1")).status_code == 500
    assert urls(transport) == ["http://testserver/orders/3"] * 2


@pytest.mark.anyio
@needs_span_streaming
async def test_streamed_segment_under_a_litestar_mount_has_the_path_asked_for(sentry_init, http):
    """A streamed segment under a Litestar mount has the URL and path the client asked for as url.full and url.path."""
    transport = sentry_init(
        auto_enabling_integrations=False, traces_sample_rate=1.0, trace_lifecycle="stream"
    )
    mounted = mounted_at_sub(plain_below, "url", wrap=False)
    assert (await http(SentryMiddleware(mounted), "/api/sub/a%20b?x=1")).status_code == 500
    sentry_sdk.flush()
    spans = transport.batched("span")
    (segment,) = [span for span in spans if span["is_segment"]]
    attributes = {name: value["value"] for name, value in segment["attributes"].items()}
    assert attributes["url.full"] == "http://testserver/api/sub/a%20b?x=1"
    assert attributes["url.path"] == "/api/sub/a b"


@pytest.mark.anyio
async def test_url_under_a_litestar_mount_at_the_root_keeps_its_host(sentry_init, http):
    """Under a Litestar mount at /, which passes the path without its leading slash, the URL is the host, then the path asked for."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)

    @asgi("/", is_mount=True, copy_scope=False)
    async def everything(scope: Scope, receive: Receive, send: Send) -> None:
        await plain_below(scope, receive, send)

    assert (await http(SentryMiddleware(Litestar([everything])), "/x/y")).status_code == 500
    assert urls(transport) == ["http://testserver/x/y"] * 2


@websocket_listener("/echo/{room:int}")
async def echo(data: str, room: FromPath[int]) -> str:
    return f"{room}: {data}"


@websocket_listener("/shout")
def shout(data: str) -> str:
    return data.upper()


class Whisper(WebsocketListener):
    """A class-based listener: Litestar calls its on_receive."""

    path = "/whisper"

    async def on_receive(self, data: str) -> str:
        return data.lower()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "view"),
    [
        ("/echo/3", f"{__name__}.echo"),
        ("/shout", f"{__name__}.shout"),
        ("/whisper", f"{__name__}.Whisper.on_receive"),
    ],
    ids=["async", "sync", "class"],
)
async def test_websocket_listener_is_named_after_the_apps_function(sentry_init, path, view):
    """A websocket listener (async, sync or a WebsocketListener class) is named after the app's function, not Litestar's loop around it."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = SentryMiddleware(Litestar([echo, shout, Whisper]))
    incoming = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": "Hi"},
        {"type": "websocket.disconnect", "code": 1000},
    ]
    conversation = await call(app, websocket_scope(path), incoming)
    assert conversation.sent[0]["type"] == "websocket.accept"
    assert conversation.sent[1]["type"] == "websocket.send"
    (transaction,) = transport.transactions
    assert transaction["transaction"] == view
    assert transaction["transaction_info"] == {"source": "component"}


def _integrations(which: str) -> dict[str, object]:
    """No integrations, or sentry_sdk's defaults with its Litestar one (auto-enabled from 2.19 on)."""
    from sentry_sdk.integrations.litestar import LitestarIntegration

    if which == "bare":
        return {"auto_enabling_integrations": False}
    return {"integrations": [LitestarIntegration()]}


@pytest.mark.anyio
@pytest.mark.parametrize("integrations", ["bare", "defaults"])
async def test_in_litestars_middleware_list_a_views_exception_is_reported_as_itself_once(
    sentry_init, http, integrations
):
    """In `middleware=[...]` a view's exception is reported once, as itself, its transaction failed; an unrouted request never reaches it."""
    transport = sentry_init(traces_sample_rate=1.0, **_integrations(integrations))
    middleware = DefineMiddleware(SentryMiddleware, transaction_style="url")
    app = Litestar(route_handlers=[item], middleware=[middleware])
    assert (await http(app, "/items/42")).status_code == 500
    assert (await http(app, "/nowhere")).status_code == 404
    # Older sentry_sdk Litestar integrations also report the 404's NotFoundException, outside
    # the middleware (no request data): not the middleware's to hold back there.
    (event,) = [e for e in transport.events if "request" in e]
    url = "http://testserver/items/42"
    assert_reported_as_itself(event, "ValueError", "item 42", "litestar", "item", url)
    (transaction,) = transport.transactions
    assert transaction["contexts"]["trace"]["status"] == "internal_error"


@pytest.mark.anyio
@ALONE_AND_WITH_THE_INTEGRATION
async def test_in_litestars_middleware_list_a_websockets_exception_is_reported_as_itself(
    sentry_init, sdk
):
    """In `middleware=[...]` a websocket handler's exception, which Litestar answers with a close, is reported once, as itself."""
    transport = sentry_init(auto_enabling_integrations=False, integrations=sdk_integration(sdk))
    app = Litestar(route_handlers=[socket], middleware=[SentryMiddleware])
    conversation = await call(app, websocket_scope("/ws"), [{"type": "websocket.connect"}])
    assert conversation.sent[-1]["type"] == "websocket.close"
    (event,) = transport.events
    (reported,) = event["exception"]["values"]
    assert (reported["type"], reported["value"]) == ("RuntimeError", "websocket failed")
    assert reported["mechanism"] == {"type": "litestar", "handled": False}


@pytest.mark.anyio
async def test_in_litestars_middleware_list_of_a_wrapped_app_the_exception_is_reported_once(
    sentry_init, http
):
    """In `middleware=[...]` of an app wrapped too, each route's middleware adds no second hook, event or transaction."""
    transport = sentry_init(traces_sample_rate=1.0, auto_enabling_integrations=False)
    app = Litestar(route_handlers=[item, stock], middleware=[SentryMiddleware])
    assert len(app.after_exception) == 1
    wrapped = SentryMiddleware(app)
    assert len(app.after_exception) == 1
    assert (await http(wrapped, "/items/42")).status_code == 500
    (event,) = transport.events
    url = "http://testserver/items/42"
    assert_reported_as_itself(event, "ValueError", "item 42", "litestar", "item", url)
    (transaction,) = transport.transactions
    assert transaction["contexts"]["trace"]["status"] == "internal_error"


@pytest.mark.anyio
async def test_in_litestars_middleware_list_the_integrations_transaction_has_its_query_filtered(
    sentry_init, http
):
    """In `middleware=[...]`, the transaction sentry_sdk's Litestar integration sends once the middleware is done has its query string's secrets filtered."""
    transport = sentry_init(traces_sample_rate=1.0, **_integrations("defaults"))
    app = Litestar(route_handlers=[item], middleware=[SentryMiddleware])
    assert (await http(app, "/items/42?token=tok-4f2a&page=2")).status_code == 500
    (transaction,) = transport.transactions
    assert transaction["contexts"]["trace"]["origin"] == "auto.http.litestar"  # sentry_sdk's own
    assert transaction["request"]["query_string"] == "token=[Filtered]&page=2"


@websocket("/chat")
async def chat(socket: WebSocket) -> None:
    await socket.accept()
    while True:  # until the client leaves: Litestar raises its WebSocketDisconnect
        await socket.send_text(await socket.receive_text())


@pytest.mark.anyio
@pytest.mark.parametrize("sdk", [False, True], ids=["alone", "with-sdk-integration"])
async def test_a_client_leaving_a_websocket_is_not_reported(sentry_init, sdk):
    """Litestar's WebSocketDisconnect, when the client leaves a chat, is no event, even as sentry_sdk's integration reports it."""
    from sentry_sdk.integrations.litestar import LitestarIntegration

    transport = sentry_init(
        auto_enabling_integrations=False,
        integrations=[LitestarIntegration()] if sdk else [],
        traces_sample_rate=1.0,
        release="shop@1.0",
    )
    incoming = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": "Hi"},
        {"type": "websocket.disconnect", "code": 1001},
    ]
    conversation = await call(
        SentryMiddleware(Litestar([chat])), websocket_scope("/chat"), incoming
    )
    assert [m["type"] for m in conversation.sent][:2] == ["websocket.accept", "websocket.send"]
    assert transport.events == []
    (transaction,) = transport.transactions
    assert transaction["contexts"]["trace"]["status"] == "ok"
    assert transaction["contexts"]["trace"]["data"]["websocket.close_code"] == 1001
    assert sent_session_totals(transport) == {"exited": 1}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("style", "name", "source"),
    [
        ("endpoint", "frameworks.apps.litestar_app.item", "component"),
        ("url", "/items/{item_id}", "route"),
    ],
)
async def test_in_litestars_middleware_list_requests_are_named_per_transaction_style(
    sentry_init, http, style, name, source
):
    """In `middleware=[...]` a request is named after its handler's function or its route, as the style asks."""
    transport = sentry_init(traces_sample_rate=1.0, auto_enabling_integrations=False)
    middleware = DefineMiddleware(SentryMiddleware, transaction_style=style)
    app = Litestar(route_handlers=[item], middleware=[middleware])
    assert (await http(app, "/items/42")).status_code == 500
    ((event_name, event_source),) = [
        (e["transaction"], e["transaction_info"]["source"]) for e in transport.events
    ]
    (transaction,) = transport.transactions
    assert (event_name, event_source) == (name, source)
    assert (transaction["transaction"], transaction["transaction_info"]["source"]) == (name, source)


@pytest.mark.anyio
async def test_in_a_routers_middleware_list_the_app_is_found_through_litestars_own_middleware(
    sentry_init, http
):
    """In a router's `middleware=[...]`, with Litestar's own middleware inside it, the route's app gets the hook: the view's exception is reported as itself."""
    transport = sentry_init(auto_enabling_integrations=False)
    api = Router("/api", route_handlers=[item], middleware=[SentryMiddleware])
    app = Litestar(route_handlers=[api], allowed_hosts=["testserver"])
    assert (await http(app, "/api/items/42")).status_code == 500
    (event,) = transport.events
    url = "http://testserver/api/items/42"
    assert_reported_as_itself(event, "ValueError", "item 42", "litestar", "item", url)


def passing_through(app: ASGIApp) -> ASGIApp:
    """A middleware that keeps the app it wraps in a closure, out of sight."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        await app(scope, receive, send)

    return middleware


@pytest.mark.anyio
async def test_in_litestars_middleware_list_a_closure_inside_it_hides_the_route(sentry_init, http):
    """In `middleware=[...]` before a middleware that keeps its app in a closure, a view's exception is only the failed-status event; listed after it, itself."""
    transport = sentry_init(auto_enabling_integrations=False)
    for middleware in ([SentryMiddleware, passing_through], [passing_through, SentryMiddleware]):
        app = Litestar(route_handlers=[item], middleware=middleware)
        assert (await http(app, "/items/42")).status_code == 500
    hidden, found = transport.events
    assert "exception" not in hidden
    assert hidden["contexts"]["response"]["status_code"] == 500
    assert found["exception"]["values"][-1]["type"] == "ValueError"


@pytest.mark.anyio
@pytest.mark.parametrize("integrations", ["bare", "defaults"])
async def test_in_litestars_middleware_list_an_exception_answered_4xx_is_not_reported(
    sentry_init, http, integrations
):
    """In `middleware=[...]` an exception the app answers 404 is no event, even as sentry_sdk's Litestar integration reports it."""
    transport = sentry_init(traces_sample_rate=1.0, **_integrations(integrations))

    def not_found(request: Request, exc: Exception) -> Response[str]:
        return Response(f"order {exc} not found", status_code=404)

    app = Litestar(
        [order],
        middleware=[SentryMiddleware],
        exception_handlers={OrderMissingError: not_found},
    )
    assert (await http(app, "/orders/3")).status_code == 404
    assert transport.events == []


@websocket("/members")
async def members(socket: WebSocket) -> None:
    await socket.accept()
    raise WebSocketException(detail="members only", code=4403)


@pytest.mark.anyio
@ALONE_AND_WITH_THE_INTEGRATION
async def test_websocket_closed_with_a_websocket_exception_is_not_reported(sentry_init, sdk):
    """A handler raising WebSocketException(code=4403) closes the socket deliberately: no event."""
    transport = sentry_init(auto_enabling_integrations=False, integrations=sdk_integration(sdk))
    app = SentryMiddleware(Litestar([members]))
    conversation = await call(app, websocket_scope("/members"), [{"type": "websocket.connect"}])
    assert conversation.sent[-1] == {
        "type": "websocket.close",
        "code": 4403,
        "reason": "members only",
    }
    assert transport.events == []


class FailingOrders:
    """A Falcon responder that fails: Falcon answers its exception with a 500 itself."""

    async def on_get(self, req, resp):
        raise ValueError("mounted")


@pytest.mark.anyio
async def test_an_app_mounted_as_it_is_under_a_litestar_mount_gets_no_hooks(sentry_init, http):
    """A Falcon app mounted unwrapped under a wrapped Litestar app's mount has no hooks: its view's exception is only the log record Falcon writes."""
    transport = sentry_init(auto_enabling_integrations=False)
    falcon_app = falcon.asgi.App()
    falcon_app.req_options.strip_url_path_trailing_slash = True
    falcon_app.add_route("/orders", FailingOrders())
    mounted = mounted_at_sub(falcon_app, "url", wrap=False)
    assert (await http(SentryMiddleware(mounted), "/api/sub/orders")).status_code == 500
    (event,) = transport.events  # sentry_sdk's logging integration, a default one
    assert event["logger"] == "falcon"
    (error,) = event["exception"]["values"]
    assert (error["type"], error["mechanism"]) == (
        "ValueError",
        {"type": "logging", "handled": True},
    )
