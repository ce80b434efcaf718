"""A Starlette app that denies websocket handshakes with an HTTP response, for real servers."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute

from apps.starlette_app import health  # initialises sentry_sdk from SENTRY_DSN
from sentry_asgi import SentryMiddleware


async def denied(websocket):
    status = websocket.path_params["status"]
    await websocket.send_denial_response(PlainTextResponse("denied", status_code=status))


app = SentryMiddleware(
    Starlette(routes=[WebSocketRoute("/denied/{status:int}", denied), Route("/health", health)])
)
