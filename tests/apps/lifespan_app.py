"""The end-to-end Starlette app, with a lifespan that writes its start-up and shut-down to a file."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute

from apps.starlette_app import echo, health, item  # initialises sentry_sdk from SENTRY_DSN
from sentry_asgi import SentryMiddleware

LIFESPAN_LOG = Path(os.environ["E2E_LIFESPAN_LOG"])


def record(phase: str) -> None:
    with LIFESPAN_LOG.open("a") as log:
        log.write(f"{phase}\n")


@contextlib.asynccontextmanager
async def lifespan(app):
    record("startup")
    yield
    record("shutdown")


app = SentryMiddleware(
    Starlette(
        routes=[
            Route("/items/{item_id}", item),
            Route("/health", health),
            WebSocketRoute("/ws", echo),
        ],
        lifespan=lifespan,
    ),
    transaction_style="url",
    exclude_paths=["/health"],
)
