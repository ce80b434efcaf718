"""Litestar, Quart, Falcon and BlackSheep apps as users write them: each failure reported once, as itself."""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass

import falcon
import falcon.asgi
import pytest
from blacksheep import Application, FromJSON
from blacksheep.server.routing import Router
from conftest import call
from litestar import Litestar, get, post
from litestar.dto import DataclassDTO
from litestar.exceptions import NotAuthorizedException
from litestar.response import Stream
from quart import Quart, abort, request
from test_lifespan import STARTUP, no_expected_repeats  # noqa: F401 - its fixture, used here

from frameworks.helpers import (
    FromPath,
    JSONBody,
    OutOfStockError,
)
from frameworks.patterns import (
    BODY,
    CRASH,
    FILTERED,
    INTEGRATIONS,
    Pattern,
    assert_titled_after,
    check,
    each_way,
)
from sentry_asgi import SentryMiddleware

pytestmark = pytest.mark.anyio
HERE = "frameworks.test_patterns_others"


@dataclass
class Basket:
    """A request body model."""

    name: str
    count: int


def failing_guard(connection, handler) -> None:
    raise OutOfStockError(connection.path_params["item_id"])


def refusing_guard(connection, handler) -> None:
    raise NotAuthorizedException


@get("/guarded/{item_id:int}", guards=[failing_guard])
async def guarded(item_id: FromPath[int]) -> str:
    return "never"


@get("/private/{item_id:int}", guards=[refusing_guard])
async def private(item_id: FromPath[int]) -> str:
    return "never"


@post("/baskets/{item_id:int}")
async def basket(item_id: FromPath[int], data: JSONBody[Basket]) -> str:
    return data.name


@post("/carts/{item_id:int}", dto=DataclassDTO[Basket])
async def cart(item_id: FromPath[int], data: JSONBody[Basket]) -> Basket:
    return data


@get("/stream/{item_id:int}")
async def stream(item_id: FromPath[int]) -> Stream:
    async def chunks():
        yield b"first\n"
        raise OutOfStockError(item_id)

    return Stream(chunks())


def litestar_shop() -> Litestar:
    return Litestar([guarded, private, basket, cart, stream])


def quart_shop() -> Quart:
    app = Quart(__name__)

    @app.before_request
    async def refuse_closed():
        if request.path.startswith("/closed/"):
            raise OutOfStockError((await request.get_json())["name"])

    @app.get("/down/<int:item_id>")
    async def down(item_id: int):
        abort(503)

    @app.post("/closed/<int:item_id>")
    async def closed(item_id: int):
        return "never"

    @app.get("/stream/<int:item_id>")
    async def stream(item_id: int):
        async def chunks():
            yield b"first\n"
            raise OutOfStockError(item_id)

        return chunks(), 200

    return app


class RefuseClosed:
    """A Falcon middleware whose process_request reads the body, then fails, for closed items."""

    async def process_request(self, req, resp):
        if req.path.startswith("/closed/"):
            raise OutOfStockError((await req.get_media())["name"])


class Items:
    """Responders that fail, refuse a bad request, or are never reached."""

    async def on_get(self, req, resp, item_id):
        raise OutOfStockError(item_id)

    async def on_post(self, req, resp, item_id):
        raise falcon.HTTPBadRequest(title="bad basket")


def falcon_shop() -> falcon.asgi.App:
    app = falcon.asgi.App(middleware=[RefuseClosed()])
    app.add_route("/items/{item_id:int}", Items())
    app.add_route("/closed/{item_id:int}", Items())
    return app


def blacksheep_shop() -> Application:
    app = Application(router=Router())

    @app.router.get("/items/{item_id}")
    async def item(item_id: int):
        raise OutOfStockError(item_id)

    @app.router.post("/baskets/{item_id}")
    async def create_basket(item_id: int, data: FromJSON[Basket]):
        return data.value.name

    return app


def names(url: str, endpoint: str, on: str | None = None) -> dict[str, str]:
    return {"url": url, "endpoint": endpoint} | ({"on": on} if on else {})


PATTERNS = {
    "litestar guard raising": Pattern(
        litestar_shop, "/guarded/1", 500,
        names=names("/guarded/{item_id}", f"{HERE}.guarded"), **CRASH,
    ),
    "litestar guard refusing": Pattern(
        litestar_shop, "/private/1", 401, names=names("/private/{item_id}", f"{HERE}.private"),
        transaction_status="unauthenticated",
    ),
    "litestar validation error": Pattern(
        litestar_shop, "/baskets/1", 400, method="POST", request={"json": {"name": "x"}},
        names=names("/baskets/{item_id}", f"{HERE}.basket"), transaction_status="invalid_argument",
    ),
    "litestar dto validation error": Pattern(
        litestar_shop, "/carts/1", 400, method="POST", request={"json": {"name": 3}},
        names=names("/carts/{item_id}", f"{HERE}.cart"), transaction_status="invalid_argument",
    ),
    "litestar stream raising midway": Pattern(
        litestar_shop, "/stream/1", 200, names=names("/stream/{item_id}", f"{HERE}.stream"),
        **CRASH,
    ),
    "quart abort 503": Pattern(
        quart_shop, "/down/1", 503, failed_status=True, session="errored",
        names=names("/down/<int:item_id>", f"{HERE}.quart_shop.<locals>.down"),
        transaction_status="unavailable",
    ),
    "quart before_request raising": Pattern(
        quart_shop, "/closed/1", 500, method="POST", request=BODY, data=FILTERED,
        names=names("/closed/<int:item_id>", f"{HERE}.quart_shop.<locals>.closed"), **CRASH,
    ),
    "quart stream raising midway": Pattern(
        quart_shop, "/stream/1", 200,
        names=names("/stream/<int:item_id>", f"{HERE}.quart_shop.<locals>.stream"), **CRASH,
    ),
    "falcon responder raising": Pattern(
        falcon_shop, "/items/1", 500, names=names("/items/{item_id:int}", f"{HERE}.Items.on_get"),
        **CRASH,
    ),
    "falcon process_request raising": Pattern(
        falcon_shop, "/closed/1", 500, method="POST", request=BODY, data=FILTERED,
        names=names("/closed/{item_id:int}", f"{HERE}.Items.on_post"), **CRASH,
    ),
    "falcon http bad request": Pattern(
        falcon_shop, "/items/1", 400, method="POST",
        names=names("/items/{item_id:int}", f"{HERE}.Items.on_post"),
        transaction_status="invalid_argument",
    ),
    "blacksheep controller raising": Pattern(
        blacksheep_shop, "/items/1", 500,
        names=names("/items/{item_id}", f"{HERE}.blacksheep_shop.<locals>.item"), **CRASH,
    ),
    "blacksheep bad json body": Pattern(
        blacksheep_shop, "/baskets/1", 400, method="POST", request={"content": b"{not json"},
        names=names("/baskets/{item_id}", f"{HERE}.blacksheep_shop.<locals>.create_basket"),
        transaction_status="invalid_argument",
    ),
}  # fmt: skip


@each_way
@pytest.mark.parametrize("name", PATTERNS)
async def test_pattern_is_reported_once_as_itself(name, style, integrations, sentry_init):
    """Each pattern: one event per real failure, the app's own, named after its route, counted right."""
    await check(sentry_init, PATTERNS[name], style, integrations)


async def connect() -> None:
    msg = "database down"
    raise ConnectionRefusedError(msg)


@contextlib.asynccontextmanager
async def pool(app: Litestar):
    msg = "database down"
    raise ConnectionRefusedError(msg)
    yield


@pytest.mark.skipif(sys.version_info < (3, 11), reason="ExceptionGroup is Python 3.11+")
@pytest.mark.parametrize("integrations", INTEGRATIONS)
@pytest.mark.parametrize("hook", ["on_startup", "lifespan"])
async def test_litestar_start_up_failure_is_one_event_titled_after_its_error(
    hook, integrations, sentry_init
):
    """A Litestar on_startup hook or lifespan context failing: one event, titled after the app's error, the server still told."""
    transport = sentry_init(**INTEGRATIONS[integrations])
    app = (
        Litestar([], on_startup=[connect])
        if hook == "on_startup"
        else Litestar([], lifespan=[pool])
    )
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    with pytest.raises(ExceptionGroup):  # noqa: F821 - Python 3.11+, skipped before
        await call(SentryMiddleware(app), scope, STARTUP)
    (event,) = transport.events
    assert_titled_after(event, "ConnectionRefusedError")
    assert event["exception"]["values"][-1]["mechanism"]["type"] == "asgi.lifespan"
