"""A real Litestar app: its exception middleware turns handler errors into 500s itself."""

from __future__ import annotations

import sentry_sdk
from litestar import Litestar, Request, Response, get, post, websocket
from litestar.connection import WebSocket  # noqa: TC002 - Litestar reads annotations at runtime
from litestar.di import Provide
from litestar.exceptions import NotFoundException

from frameworks.helpers import FromPath, JSONBody, NamedDependency  # noqa: TC001 - likewise


@get("/items/{item_id:int}")
async def item(item_id: FromPath[int]) -> str:
    raise ValueError(f"item {item_id}")


@get("/reset/{uidb64:str}/{token:str}/")
async def reset(uidb64: FromPath[str], token: FromPath[str]) -> str:
    raise ValueError(f"reset link expired ({len(token)} characters)")


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


@websocket("/listen")
async def listen(socket: WebSocket) -> None:
    await socket.accept()
    while True:
        await socket.receive_text()


@post("/orders")
async def create_order(data: JSONBody[dict[str, str]]) -> None:
    raise ValueError(data["name"])


@post("/signin")
async def sign_in(request: Request) -> None:
    form = await request.form()
    raise ValueError(form["name"])


def litestar_app() -> Litestar:
    return Litestar(
        route_handlers=[item, reset, order, broken, missing, socket, listen, create_order, sign_in]
    )
