"""A Starlette app wrapped in SentryMiddleware, configured from the environment, for real servers."""

from __future__ import annotations

import os
from typing import Any

import sentry_sdk
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute

from apps import reached
from sentry_asgi import SentryMiddleware

sentry_sdk.init(
    dsn=os.environ["SENTRY_DSN"],
    traces_sample_rate=1.0,
    release="e2e@1",
    auto_enabling_integrations=False,
)


async def item(request):
    sentry_sdk.set_tag("item", request.path_params["item_id"])
    if request.query_params.get("fail"):
        raise ValueError(f"item {request.path_params['item_id']} failed")
    return JSONResponse({"trace": sentry_sdk.get_traceparent()})


async def upload(request):
    """Read a body in chunks, as the signed-in user: state that must stay with this request."""
    sentry_sdk.set_user({"id": request.headers["x-user"]})
    reached("upload")
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
    return JSONResponse({"size": size})


async def echo(websocket):
    await websocket.accept()
    text = await websocket.receive_text()
    if text == "fail":
        raise RuntimeError("websocket failed")
    await websocket.send_text(text)
    await websocket.close(code=1000)


async def health(request):
    return PlainTextResponse("ok")


def wrapped(lifespan: Any = None) -> SentryMiddleware:
    """The end-to-end app: its routes, optionally a lifespan, under the middleware."""
    return SentryMiddleware(
        Starlette(
            routes=[
                Route("/items/{item_id}", item),
                Route("/health", health),
                Route("/upload", upload, methods=["POST"]),
                WebSocketRoute("/ws", echo),
            ],
            lifespan=lifespan,
        ),
        transaction_style="url",
        exclude_paths=["/health"],
    )


app = wrapped()
