"""Falcon specifics: the middleware's catch-all error handler hands over to one the app had."""

from __future__ import annotations

from http import HTTPStatus

import falcon.asgi
import pytest
from conftest import call, needs_mounts_keeping_the_path
from starlette.applications import Starlette
from starlette.routing import Mount

from frameworks.apps.falcon_app import Items, falcon_app
from frameworks.helpers import (
    OutOfStockError,
    assert_answer_reported_when_5xx,
    assert_late_handlers_report,
    websocket_scope,
)
from sentry_asgi import SentryMiddleware

pytestmark = pytest.mark.anyio


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


async def test_a_method_the_resource_lacks_is_named_after_its_route(sentry_init, http):
    """A 405 (a responder Falcon makes for every resource) is named after the route, not Falcon's function."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = SentryMiddleware(falcon_app())
    assert (await http(app, "/items/9", method="DELETE")).status_code == 405
    (transaction,) = transport.transactions
    assert transaction["transaction"] == "/items/{item_id:int}"
    assert transaction["transaction_info"] == {"source": "route"}


async def proxy(req, resp, **params):
    """A sink: answers every path under its prefix."""
    resp.status = 502


@pytest.mark.parametrize(
    ("style", "name", "source"),
    [
        ("url", "/proxy/{rest}", "route"),
        ("endpoint", f"{__name__}.proxy", "component"),
    ],
)
async def test_sink_is_named_after_its_prefix(style, name, source, sentry_init, http):
    """Paths a sink drains are named after its prefix pattern, made readable (or the sink), events and transactions alike."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = falcon_app()
    app.add_sink(proxy, r"/proxy/(?P<rest>.+)")
    wrapped = SentryMiddleware(app, transaction_style=style)
    assert (await http(wrapped, "/proxy/a/1")).status_code == 502
    assert (await http(wrapped, "/proxy/b/2")).status_code == 502
    assert (await http(wrapped, "/nowhere")).status_code == 404
    names = [(t["transaction"], t["transaction_info"]["source"]) for t in transport.transactions]
    assert names == [(name, source), (name, source), ("/nowhere", "url")]
    assert [e["message"] for e in transport.events] == ["502 Bad Gateway: GET /proxy/{rest}"] * 2


@pytest.mark.parametrize("style", ["url", "endpoint"])
async def test_static_route_is_named_after_its_prefix(style, sentry_init, http, tmp_path):
    """Files a static route serves (or misses) are named after its prefix, source route, in either style."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    (tmp_path / "a.txt").write_text("a")
    app = falcon_app()
    app.add_static_route("/static", str(tmp_path))
    wrapped = SentryMiddleware(app, transaction_style=style)
    assert (await http(wrapped, "/static/a.txt")).text == "a"
    assert (await http(wrapped, "/static/missing.css")).status_code == 404
    names = [(t["transaction"], t["transaction_info"]["source"]) for t in transport.transactions]
    assert names == [("/static", "route")] * 2


@pytest.mark.parametrize(
    ("style", "name", "source"),
    [
        ("url", "/api/items/{item_id:int}", "route"),
        ("endpoint", "frameworks.apps.falcon_app.Items.on_get", "component"),
    ],
)
@pytest.mark.parametrize("wrapped", ["the app", "the router"])
@needs_mounts_keeping_the_path
async def test_mounted_app_is_named_after_its_own_route(
    style, name, source, wrapped, sentry_init, http
):
    """Mounted at /api under Starlette, Falcon (which routes the whole path) is named after its route, not the mount, whichever is wrapped."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = falcon.asgi.App()
    app.add_route("/api/items/{item_id:int}", Items())
    if wrapped == "the app":
        router = Starlette(
            routes=[Mount("/api", app=SentryMiddleware(app, transaction_style=style))]
        )
    else:
        router = SentryMiddleware(
            Starlette(routes=[Mount("/api", app=app)]), transaction_style=style
        )
    assert (await http(router, "/api/items/42")).status_code == 500
    assert [(e["transaction"], e["transaction_info"]["source"]) for e in transport.events] == [
        (name, source)
    ]
    (transaction,) = transport.transactions
    assert transaction["transaction"] == name


@pytest.mark.parametrize(
    ("style", "name"),
    [
        ("url", "/items/{item_id:int}"),
        ("endpoint", "frameworks.apps.falcon_app.Items.on_get"),
    ],
)
async def test_path_with_a_trailing_slash_the_app_strips_is_named_after_its_route(
    style, name, sentry_init, http
):
    """With strip_url_path_trailing_slash, a path ending in a slash is named after the route Falcon routed it to."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = falcon_app()
    app.req_options.strip_url_path_trailing_slash = True
    app.add_sink(proxy, r"/proxy$")
    wrapped = SentryMiddleware(app, transaction_style=style)
    assert (await http(wrapped, "/items/9/")).status_code == 500
    assert (await http(wrapped, "/proxy/")).status_code == 502
    assert [e.get("transaction") for e in transport.events][:1] == [name]
    assert [t["transaction"] for t in transport.transactions] == [
        name,
        "/proxy" if style == "url" else f"{__name__}.proxy",
    ]


class Stock:
    """A responder whose domain error the app's own handler answers."""

    async def on_get(self, req, resp, status):
        raise OutOfStockError(status)


async def answer_with_the_status(req, resp, ex, params):
    """Answers the domain error with the status it carries."""
    resp.status = ex.args[0]


async def raise_an_http_error(req, resp, ex, params):
    """Answers the domain error as Falcon documents it: by raising an HTTPError of its status."""
    raise falcon.HTTPError(ex.args[0])


async def raise_an_http_status(req, resp, ex, params):
    """Answers the domain error by raising an HTTPStatus of its status."""
    raise falcon.HTTPStatus(ex.args[0])


@pytest.mark.parametrize(
    "answer", [answer_with_the_status, raise_an_http_error, raise_an_http_status]
)
@pytest.mark.parametrize(("status", "reported"), [(500, True), (503, True), (404, False)])
async def test_exception_a_handler_for_its_class_answers_is_reported_when_5xx(
    status, reported, answer, sentry_init, http
):
    """An exception the app's handler for its class answers 5xx (setting it, or raising an HTTPError or HTTPStatus) is reported as itself, once; one answered 404 is not."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = falcon.asgi.App()
    app.add_route("/stock/{status:int}", Stock())
    app.add_error_handler(OutOfStockError, answer)
    await assert_answer_reported_when_5xx(
        transport, http, app, status, reported=reported, mechanism="falcon"
    )


class StockFeed:
    """A websocket responder whose domain error the app's own handler answers."""

    async def on_websocket(self, req, ws, status):
        await ws.accept()
        raise OutOfStockError(status)


async def test_websocket_exception_a_handler_for_its_class_answers_is_reported(sentry_init):
    """A websocket's exception the app's handler for its class answers (no ws argument, no response) is reported as itself, once."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = falcon.asgi.App()
    app.add_route("/stock/{status:int}", StockFeed())

    async def answer(req, resp, ex, params):
        assert resp is None  # a websocket has no response to set

    app.add_error_handler(OutOfStockError, answer)
    incoming = [{"type": "websocket.connect"}]
    await call(SentryMiddleware(app), websocket_scope("/stock/503"), incoming)
    (event,) = transport.events
    (value,) = event["exception"]["values"]
    assert (value["type"], value["mechanism"]) == (
        "OutOfStockError",
        {"type": "falcon", "handled": False},
    )


async def test_handlers_the_app_registers_after_wrapping_report_as_earlier_ones(sentry_init, http):
    """Handlers registered after wrapping (a catch-all, one for a class) still let the exception be reported as itself."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = falcon_app()
    app.add_route("/stock/{status:int}", Stock())
    wrapped = SentryMiddleware(app)

    async def teapot(req, resp, ex, params):
        resp.status = 418

    async def answer(req, resp, ex, params):
        resp.status = ex.args[0]

    app.add_error_handler(Exception, teapot)
    app.add_error_handler(OutOfStockError, answer)
    await assert_late_handlers_report(transport, http, wrapped, catch_all=418)


class Unavailable:
    """A responder that answers 500 and 503 on purpose, through Falcon's HTTPError classes."""

    async def on_get(self, req, resp, status):
        raise (falcon.HTTPInternalServerError if status == 500 else falcon.HTTPServiceUnavailable)


@pytest.mark.parametrize("status", [500, 503])
async def test_5xx_http_error_a_responder_raises_is_the_failed_status_event(
    status, sentry_init, http
):
    """An HTTPError a responder raises on purpose is a response: its 5xx is the one failed-status event, with no exception."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = falcon.asgi.App()
    app.add_route("/down/{status:int}", Unavailable())
    wrapped = SentryMiddleware(app, transaction_style="url")
    assert (await http(wrapped, f"/down/{status}")).status_code == status
    (event,) = transport.events
    assert "exception" not in event
    assert event["message"] == f"{status} {HTTPStatus(status).phrase}: GET /down/{{status:int}}"


def test_falcons_own_middleware_list_refuses_it():
    """Falcon's `middleware=[...]` takes Falcon components, not ASGI middleware: it refuses SentryMiddleware as the app is built."""
    with pytest.raises(TypeError, match="must implement at least one middleware method"):
        falcon.asgi.App(middleware=[SentryMiddleware])
