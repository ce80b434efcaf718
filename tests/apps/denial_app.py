"""A Starlette app that denies websocket handshakes with an HTTP response, for real servers."""

from __future__ import annotations

import anyio
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute

from apps.starlette_app import health  # initialises sentry_sdk from SENTRY_DSN
from sentry_asgi import SentryMiddleware


async def denied(websocket):
    status = websocket.path_params["status"]
    await websocket.send_denial_response(PlainTextResponse("denied", status_code=status))


async def denied_unfinished(websocket):
    """Start a denial and return before its body ends: the client gets no answer."""
    await websocket.send(
        {
            "type": "websocket.http.response.start",
            "status": 403,
            "headers": [(b"content-length", b"6")],
        }
    )
    await websocket.send({"type": "websocket.http.response.body", "body": b"de", "more_body": True})


async def denied_from_a_task(websocket):
    """Deny from a task of the app's own, in a context of its own."""
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(denied, websocket)


app = SentryMiddleware(
    Starlette(
        routes=[
            WebSocketRoute("/denied/{status:int}", denied),
            WebSocketRoute("/unfinished", denied_unfinished),
            WebSocketRoute("/from-a-task/{status:int}", denied_from_a_task),
            Route("/health", health),
        ]
    )
)
