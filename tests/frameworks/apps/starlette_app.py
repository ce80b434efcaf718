"""A real Starlette app: errors reach the middleware, routes are in the scope."""

from __future__ import annotations

import sentry_sdk
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route, WebSocketRoute


class UserFromHeader:
    """A pure ASGI middleware inside the app (Starlette's request hook) that names the user."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        for name, value in scope.get("headers", ()):
            if name == b"x-user":
                sentry_sdk.set_user({"id": value.decode()})
                sentry_sdk.set_tag("hook", "starlette-middleware")
        await self.app(scope, receive, send)


async def item(request):
    raise ValueError(f"item {request.path_params['item_id']}")


async def reset(request):
    token = request.path_params["token"]
    raise ValueError(f"reset link expired ({len(token)} characters)")


def sync_item(request):
    raise KeyError(request.path_params["item_id"])


async def create_order(request):
    raise ValueError((await request.json())["name"])


async def sign_in(request):
    form = await request.form()
    raise ValueError(form["name"])


async def socket(websocket):
    await websocket.accept()
    raise RuntimeError("websocket failed")


async def listen(websocket):
    await websocket.accept()
    while True:
        await websocket.receive_text()


def starlette_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/items/{item_id:int}", item),
            Route("/sync/{item_id:int}", sync_item),
            Route("/reset/{uidb64}/{token}/", reset),
            Route("/orders", create_order, methods=["POST"]),
            Route("/signin", sign_in, methods=["POST"]),
            WebSocketRoute("/ws", socket),
            WebSocketRoute("/listen", listen),
        ],
        middleware=[Middleware(UserFromHeader)],
    )
