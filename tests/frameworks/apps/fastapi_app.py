"""A real FastAPI app: errors reach the middleware, routes are in the scope."""

from __future__ import annotations

import sentry_sdk
from fastapi import Depends, FastAPI, Request, WebSocket
from pydantic import BaseModel


class Order(BaseModel):
    """A request body model."""

    name: str
    password: str


def current_user() -> str:
    sentry_sdk.set_user({"id": "u-42"})
    sentry_sdk.set_tag("hook", "fastapi-depends")
    return "u-42"


def fastapi_app() -> FastAPI:
    api = FastAPI()

    @api.get("/items/{item_id}")
    async def item(item_id: int):
        raise ValueError(f"item {item_id}")

    @api.get("/reset/{uidb64}/{token}/")
    async def reset(uidb64: str, token: str):
        raise ValueError(f"reset link expired ({len(token)} characters)")

    @api.get("/sync/{item_id}")
    def sync_item(item_id: int, user: str = Depends(current_user)):
        raise KeyError(item_id)

    @api.post("/orders")
    async def create_order(order: Order):
        raise ValueError(order.name)

    @api.post("/signin")
    async def sign_in(request: Request):  # FastAPI 0.100 fails on Form() under pydantic 2.14
        form = await request.form()
        raise ValueError(form["name"])

    @api.websocket("/ws")
    async def socket(websocket: WebSocket):
        await websocket.accept()
        raise RuntimeError("websocket failed")

    @api.websocket("/listen")
    async def listen(websocket: WebSocket):
        await websocket.accept()
        while True:
            await websocket.receive_text()

    return api
