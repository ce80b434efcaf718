"""A real Quart app: it turns view errors into 500s itself, and logs them."""

from __future__ import annotations

import sentry_sdk
from quart import Quart, request, websocket


def quart_app() -> Quart:
    app = Quart(__name__)

    @app.before_request
    async def user_from_header():
        if "x-user" in request.headers:
            sentry_sdk.set_user({"id": request.headers["x-user"]})
            sentry_sdk.set_tag("hook", "quart-before-request")

    @app.get("/items/<int:item_id>")
    async def item(item_id: int):
        raise ValueError(f"item {item_id}")

    @app.get("/reset/<uidb64>/<token>/")
    async def reset(uidb64: str, token: str):
        raise ValueError(f"reset link expired ({len(token)} characters)")

    @app.get("/sync/<int:item_id>")
    def sync_item(item_id: int):
        raise KeyError(item_id)

    @app.get("/broken")
    async def broken():
        return "down", 503

    @app.post("/orders")
    async def create_order():
        raise ValueError((await request.get_json())["name"])

    @app.post("/signin")
    async def sign_in():
        form = await request.form
        raise ValueError(form["name"])

    @app.websocket("/ws")
    async def socket():
        await websocket.accept()
        raise RuntimeError("websocket failed")

    @app.websocket("/listen")
    async def listen():
        await websocket.accept()
        while True:
            await websocket.receive()

    return app
