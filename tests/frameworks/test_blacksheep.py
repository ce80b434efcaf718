"""BlackSheep specifics: an Exception handler the app already had keeps answering."""

from __future__ import annotations

import logging

import pytest
from blacksheep import Application, Response, WebSocket
from blacksheep.contents import TextContent
from blacksheep.server.controllers import Controller
from blacksheep.server.normalization import UnsupportedForwardRefInSignatureError
from blacksheep.server.routing import Router
from conftest import BLACKSHEEP_VERSION, call, http_scope
from test_scope_isolation import sent_session_totals

from frameworks.apps.blacksheep_app import blacksheep_app
from frameworks.apps.quart_app import quart_app
from frameworks.helpers import (
    OutOfStockError,
    assert_answer_reported_when_5xx,
    assert_late_handlers_report,
    websocket_scope,
)
from sentry_asgi import SentryMiddleware

pytestmark = pytest.mark.anyio

needs_router_prefixes = pytest.mark.skipif(
    BLACKSHEEP_VERSION < (2, 1), reason="a Router's prefix arrived in BlackSheep 2.1.0"
)
# Before 2.6.1 BlackSheep hands a mounted app the path below the mount, without root_path, and
# starts it only if it is an Application: README's Compatibility says what that means.
needs_mounts_keeping_the_path = pytest.mark.skipif(
    BLACKSHEEP_VERSION < (2, 6, 1),
    reason="BlackSheep 2.6.1 passes a mounted app root_path and starts a wrapped one",
)


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


async def test_a_client_leaving_mid_upload_is_a_cancelled_request_not_an_error(sentry_init):
    """BlackSheep's MessageAborted for a client gone mid-upload (answered 500) is no event: cancelled, session healthy."""
    transport = sentry_init(
        auto_enabling_integrations=False, traces_sample_rate=1.0, release="shop@1.0"
    )
    left = [
        {"type": "http.request", "body": b"part of a file", "more_body": True},
        {"type": "http.disconnect"},
    ]
    app = Application(router=Router())

    @app.router.post("/upload")
    async def upload(request):
        return Response(200, content=TextContent(f"{len(await request.read())} bytes"))

    conversation = await call(SentryMiddleware(app), http_scope("/upload", method="POST"), left)
    assert conversation.sent[0]["status"] == 500
    assert transport.events == []
    (transaction,) = transport.transactions
    assert transaction["contexts"]["trace"]["status"] == "cancelled"
    assert sent_session_totals(transport) == {"exited": 1}


@needs_router_prefixes
@pytest.mark.parametrize(
    ("style", "name"),
    [("url", "/api/cats/{cat_id}"), ("endpoint", f"{__name__}.sub_router_app.<locals>.cat")],
)
async def test_route_of_a_sub_router_names_the_request(style, name, sentry_init, http):
    """A route a sub-router holds (Router(sub_routers=[...])) names the request, events and transactions alike."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    wrapped = SentryMiddleware(sub_router_app(), transaction_style=style)
    assert (await http(wrapped, "/api/cats/3")).status_code == 500
    (event,) = transport.events
    (transaction,) = transport.transactions
    assert event["transaction"] == transaction["transaction"] == name


def sub_router_app() -> Application:
    """An app whose routes live in a sub-router with a prefix."""
    api = Router(prefix="/api")

    @api.get("/cats/{cat_id}")
    async def cat(cat_id: int):
        raise ValueError(f"cat {cat_id}")

    return Application(router=Router(sub_routers=[api]))


@needs_mounts_keeping_the_path
@pytest.mark.parametrize(
    ("style", "name"),
    [("url", "/sub/dogs/{dog_id}"), ("endpoint", f"{__name__}.mounting.<locals>.dog")],
)
async def test_wrapped_app_mounted_in_a_blacksheep_app_is_named_after_its_own_route(
    style, name, sentry_init, http
):
    """A wrapped app BlackSheep's app.mount passes requests to is named after its route, its error reported as itself, once."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    wrapped = SentryMiddleware(mounting(style), transaction_style=style)
    assert (await http(wrapped, "/sub/dogs/4")).status_code == 500
    event = reported_once_and_named(transport, name)
    assert event["request"]["url"] == "http://testserver/sub/dogs/4"


def reported_once_and_named(transport, name: str) -> dict:
    """The one event, reported unhandled by BlackSheep's hook; it and the one transaction named ``name``."""
    (event,) = transport.events
    (transaction,) = transport.transactions
    assert event["transaction"] == transaction["transaction"] == name
    assert event["exception"]["values"][-1]["mechanism"] == {"type": "blacksheep", "handled": False}
    return event


@pytest.mark.parametrize(
    "child",
    [
        pytest.param(blacksheep_app, id="blacksheep"),
        pytest.param(
            quart_app,
            id="quart",
            marks=pytest.mark.skipif(
                BLACKSHEEP_VERSION == (2, 6, 1),
                reason="BlackSheep 2.6.1 hands a mounted Quart app a path it answers 404",
            ),
        ),
    ],
)
@pytest.mark.parametrize("when", ["before wrapping", "after wrapping, before start-up"])
async def test_app_mounted_unwrapped_in_a_wrapped_blacksheep_app_reports_its_views_exception(
    child, when, sentry_init, http
):
    """An app BlackSheep's app.mount passes requests to as it is reports a view's exception as itself, once; the request keeps its raw path."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = Application(router=Router())
    if when == "before wrapping":
        app.mount("/sub", child())
    wrapped = SentryMiddleware(app, transaction_style="url")
    if when != "before wrapping":
        app.mount("/sub", child())
        await app.start()
    assert (await http(wrapped, "/sub/items/42")).status_code == 500
    (event,) = transport.events
    (reported,) = event["exception"]["values"]
    assert (reported["type"], reported["value"]) == ("ValueError", "item 42")
    assert reported["mechanism"]["type"] == child.__name__.removesuffix("_app")
    assert (event["transaction"], event["transaction_info"]) == (mounted_path, {"source": "url"})


# BlackSheep before 2.6.1 passes a mounted app the path below the mount, without root_path.
mounted_path = "/sub/items/42" if BLACKSHEEP_VERSION >= (2, 6, 1) else "/items/42"


def mounting(style: str) -> Application:
    """A BlackSheep app with a wrapped BlackSheep app mounted at /sub."""
    sub = Application(router=Router())

    @sub.router.get("/dogs/{dog_id}")
    async def dog(dog_id: int):
        raise ValueError(f"dog {dog_id}")

    app = Application(router=Router())
    app.mount("/sub", SentryMiddleware(sub, transaction_style=style))
    return app


@pytest.mark.parametrize(
    ("style", "name"),
    [("url", "/pets/cats/{cat_id}"), ("endpoint", f"{__name__}.controller_app.<locals>.Cats.cat")],
)
async def test_controller_error_its_handler_answers_500_is_reported_once_by_its_route(
    style, name, sentry_init, http
):
    """A controller's exception that the app's handler answers 500 itself is one event, as itself, named after the controller's route or method."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    response = await http(
        SentryMiddleware(controller_app(), transaction_style=style), "/pets/cats/3"
    )
    assert (response.status_code, response.text) == (500, "sorry")
    event = reported_once_and_named(transport, name)
    assert event["exception"]["values"][-1]["type"] == "OutOfStockError"


def controller_app() -> Application:
    """An app whose controller, routed under /pets, raises a domain error its handler answers 500."""
    app = Application(router=Router())
    get = app.controllers_router.get

    class Cats(Controller):
        @classmethod
        def route(cls) -> str:
            return "/pets"

        @get("/cats/{cat_id}")
        async def cat(self, cat_id: int):
            raise OutOfStockError(cat_id)

    async def sorry(app, request, exc):
        return Response(500, content=TextContent("sorry"))

    app.exceptions_handlers[OutOfStockError] = sorry
    return app


async def test_path_with_an_encoded_slash_is_named_after_its_route(sentry_init, http):
    """A segment holding an encoded slash (%2F) is named after the route BlackSheep matched on the raw path."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = Application(router=Router())

    @app.router.get("/files/{name}")
    async def file(name: str):
        raise LookupError(name)

    wrapped = SentryMiddleware(app, transaction_style="url")
    assert (await http(wrapped, "/files/a%2Fb")).status_code == 500
    (event,) = transport.events
    (transaction,) = transport.transactions
    assert event["transaction"] == transaction["transaction"] == "/files/{name}"


def out_of_stock_app() -> Application:
    """An app whose /stock/{code} raises OutOfStockError(code), on a router of its own."""
    app = Application(router=Router())

    @app.router.get("/stock/{code}")
    async def stock(code: int):
        raise OutOfStockError(code)

    return app


@pytest.mark.parametrize(("status", "reported"), [(503, True), (404, False)])
async def test_exception_a_handler_for_its_class_answers_is_reported_when_5xx(
    status, reported, sentry_init, http
):
    """An exception the app's handler for its class answers 5xx is reported as itself, once; one answered 404 is not."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = out_of_stock_app()

    async def answer(app, request, exc):
        return Response(exc.args[0], content=TextContent("out of stock"))

    app.exceptions_handlers[OutOfStockError] = answer
    await assert_answer_reported_when_5xx(
        transport, http, app, status, reported=reported, mechanism="blacksheep"
    )


@pytest.mark.parametrize(
    "key",
    [
        OutOfStockError,
        pytest.param(
            Exception,
            marks=pytest.mark.skipif(
                BLACKSHEEP_VERSION < (2, 4, 1),
                reason="BlackSheep before 2.4.1 recurses for ever on a failing Exception handler",
            ),
        ),
    ],
)
async def test_a_handler_that_raises_is_reported_once_with_the_exception_it_handled(
    key, sentry_init, http, caplog
):
    """A handler that fails (BlackSheep then answers 500) is one event: its own exception, chained to the one it handled; BlackSheep (2.4.1 on) still logs its line, naming the app's handler."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = out_of_stock_app()

    async def broken(app, request, exc):
        raise RuntimeError("handler broke")

    app.exceptions_handlers[key] = broken
    assert (await http(SentryMiddleware(app), "/stock/503")).status_code == 500
    (event,) = transport.events
    assert [v["type"] for v in event["exception"]["values"]] == [
        "OutOfStockError",
        "RuntimeError",
    ]
    assert event["exception"]["values"][-1]["mechanism"]["type"] == "blacksheep"
    if BLACKSHEEP_VERSION >= (2, 4, 1):  # older releases log no line about a failing handler
        assert "Unhandled exception in exception_handler: broken" in caplog.text


async def test_a_failing_handler_is_logged_as_blacksheep_alone_logs_it(sentry_init, http, caplog):
    """A handler that fails leaves BlackSheep's log as the app alone leaves it (before 2.4.1: no line about it)."""
    sentry_init(auto_enabling_integrations=False)

    async def broken(app, request, exc):
        raise RuntimeError("handler broke")

    logged = []
    for wrap in (False, True):
        app = out_of_stock_app()
        app.exceptions_handlers[OutOfStockError] = broken
        caplog.clear()
        assert (await http(SentryMiddleware(app) if wrap else app, "/stock/503")).status_code == 500
        records = [r for r in caplog.records if r.name == "blacksheep.server"]
        logged.append([(r.levelname, r.getMessage()) for r in records])
    assert logged[1] == logged[0]


@pytest.mark.parametrize("key", [OutOfStockError, Exception])
async def test_exception_a_handler_answers_with_nothing_is_not_reported(key, sentry_init, http):
    """A handler that returns no response has BlackSheep answer 204: its exception is no failure, its transaction ok."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = out_of_stock_app()

    async def nothing(app, request, exc):
        return None

    app.exceptions_handlers[key] = nothing
    assert (await http(SentryMiddleware(app), "/stock/503")).status_code == 204
    assert transport.events == []
    assert [t["contexts"]["trace"]["status"] for t in transport.transactions] == ["ok"]


async def test_handlers_the_app_sets_after_wrapping_report_as_earlier_ones(sentry_init, http):
    """Handlers set after wrapping (a catch-all, one for a class) still let a 5xx's exception be reported as itself."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = blacksheep_app()

    @app.router.get("/stock/{code}")
    async def stock(code: int):
        raise OutOfStockError(code)

    wrapped = SentryMiddleware(app)

    async def unavailable(app, request, exc):
        return Response(503, content=TextContent("later"))

    async def answer(app, request, exc):
        return Response(exc.args[0], content=TextContent("out of stock"))

    app.exceptions_handlers[Exception] = unavailable
    app.exception_handler(OutOfStockError)(answer)
    await assert_late_handlers_report(transport, http, wrapped, catch_all=503)


async def test_every_blacksheep_2_reports_a_views_exception_and_a_late_handlers_5xx(
    sentry_init, http
):
    """A view's exception BlackSheep answers 500, and one a handler set after wrapping answers 503, are each reported once."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = Application()

    @app.router.get("/fail")
    async def fail():
        raise ValueError("failed")

    @app.router.get("/stock")
    async def stock():
        raise OutOfStockError(503)

    wrapped = SentryMiddleware(app)

    async def unavailable(app, request, exc):
        return Response(503, content=TextContent("later"))

    app.exceptions_handlers[OutOfStockError] = unavailable
    await app.start()  # as a server's lifespan does: older BlackSheep 2 releases start only then
    assert (await http(wrapped, "/fail")).status_code == 500
    assert (await http(wrapped, "/stock")).status_code == 503
    reported = [
        (e["exception"]["values"][-1]["type"], e["exception"]["values"][-1]["mechanism"]["type"])
        for e in transport.events
    ]
    assert reported == [("ValueError", "blacksheep"), ("OutOfStockError", "blacksheep")]


async def test_a_client_leaving_a_websocket_is_not_reported(sentry_init):
    """BlackSheep's WebSocketDisconnectError, when the client leaves a chat, is no event: ok, session healthy."""
    transport = sentry_init(
        auto_enabling_integrations=False, traces_sample_rate=1.0, release="shop@1.0"
    )
    app = Application(router=Router())

    @app.router.ws("/chat")
    async def chat(websocket: WebSocket):
        await websocket.accept()
        while True:  # until the client leaves: BlackSheep raises WebSocketDisconnectError
            await websocket.send_text(await websocket.receive_text())

    incoming = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": "Hi"},
        {"type": "websocket.disconnect", "code": 1001},
    ]
    await call(SentryMiddleware(app), websocket_scope("/chat"), incoming)
    assert transport.events == []
    (transaction,) = transport.transactions
    assert transaction["contexts"]["trace"]["status"] == "ok"
    assert transaction["contexts"]["trace"]["data"]["websocket.close_code"] == 1001
    assert sent_session_totals(transport) == {"exited": 1}


@pytest.mark.parametrize("default_integrations", [False, True])
async def test_websocket_handler_error_is_reported_as_itself(default_integrations, sentry_init):
    """A websocket handler's exception is reported as itself, once, and fails its transaction (not only BlackSheep's log record)."""
    transport = sentry_init(
        auto_enabling_integrations=False,
        default_integrations=default_integrations,
        traces_sample_rate=1.0,
    )
    app = SentryMiddleware(blacksheep_app())
    conversation = await call(app, websocket_scope("/ws"), [{"type": "websocket.connect"}])
    assert conversation.sent[-1] == {
        "type": "websocket.close",
        "code": 1011,
        "reason": "websocket failed",
    }
    (event,) = transport.events
    (reported,) = event["exception"]["values"]
    assert (reported["type"], reported["value"]) == ("RuntimeError", "websocket failed")
    assert reported["mechanism"] == {"type": "blacksheep", "handled": False}
    (transaction,) = transport.transactions
    assert transaction["contexts"]["trace"]["status"] == "internal_error"


def host_filtered_app() -> Application:
    """An app whose first sub-router serves only the admin host, on the same paths as the second."""
    admin = Router(host="admin.example")
    public = Router()

    @admin.get("/pages/{slug}")
    async def admin_page(slug: str):
        raise ValueError(slug)

    @public.get("/pages/{page_id}")
    async def public_page(page_id: str):
        raise ValueError(page_id)

    return Application(router=Router(sub_routers=[admin, public]))


@pytest.mark.parametrize(
    ("host", "name"),
    [("admin.example", "/pages/{slug}"), ("www.example", "/pages/{page_id}")],
)
async def test_route_a_host_filter_excludes_does_not_name_the_request(
    host, name, sentry_init, http
):
    """A route whose host filter the request fails is passed over, as BlackSheep passes it over: the route that ran names it."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    wrapped = SentryMiddleware(host_filtered_app(), transaction_style="url")
    assert (await http(wrapped, "/pages/3", headers={"host": host})).status_code == 500
    (event,) = transport.events
    (transaction,) = transport.transactions
    assert event["transaction"] == transaction["transaction"] == name


async def test_websocket_path_with_an_encoded_slash_is_named_after_the_route_that_ran(sentry_init):
    """A websocket path holding %2F is named after the route BlackSheep ran it on: by its decoded path, where the slash splits."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = Application(router=Router())

    @app.router.ws("/files/{name}")
    async def one_segment(websocket: WebSocket, name: str):
        await websocket.accept()
        raise RuntimeError(name)

    @app.router.ws("/files/{folder}/{name}")
    async def two_segments(websocket: WebSocket, folder: str, name: str):
        await websocket.accept()
        raise RuntimeError(name)

    scope = {**websocket_scope("/files/a/b"), "raw_path": b"/files/a%2Fb"}
    await call(
        SentryMiddleware(app, transaction_style="url"), scope, [{"type": "websocket.connect"}]
    )
    (event,) = transport.events
    (transaction,) = transport.transactions
    assert event["transaction"] == transaction["transaction"] == "/files/{folder}/{name}"


@needs_router_prefixes
async def test_websocket_route_of_a_sub_router_does_not_name_the_connection(sentry_init):
    """BlackSheep routes a websocket by the app's router's own routes, not its sub-routers': one that matches a sub-router's keeps its path."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    api = Router(prefix="/api")

    @api.ws("/chat/{room}")
    async def chat(websocket: WebSocket, room: str):
        await websocket.accept()

    app = Application(router=Router(sub_routers=[api]))
    wrapped = SentryMiddleware(app, transaction_style="url")
    await call(wrapped, websocket_scope("/api/chat/1"), [{"type": "websocket.connect"}])
    (transaction,) = transport.transactions
    assert (transaction["transaction"], transaction["transaction_info"]["source"]) == (
        "/api/chat/1",
        "url",
    )


async def test_a_view_error_is_logged_as_blacksheep_logs_it_after_an_info_line(
    sentry_init, http, caplog
):
    """BlackSheep's ERROR line for a view's exception is unchanged; its handler for Exception has BlackSheep log an INFO line in front."""
    sentry_init(auto_enabling_integrations=False)
    caplog.set_level(logging.INFO, logger="blacksheep")
    assert (await http(SentryMiddleware(blacksheep_app()), "/items/9")).status_code == 500
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "blacksheep.server"]
    assert lines == [
        ("INFO", 'Handled error: "GET /items/9". item 9'),
        ("ERROR", 'Unhandled exception - "GET /items/9"'),
    ]


async def test_blacksheeps_own_middlewares_refuse_it_at_start_up():
    """BlackSheep's `app.middlewares` take BlackSheep middleware, not ASGI middleware: the app fails to start with SentryMiddleware there."""
    app = blacksheep_app()
    app.middlewares.append(SentryMiddleware)
    with pytest.raises(UnsupportedForwardRefInSignatureError):
        await app.start()
