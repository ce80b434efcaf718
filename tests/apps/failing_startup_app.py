"""A Starlette app whose start-up fails, under the middleware, with sentry_sdk's default integrations."""

from __future__ import annotations

import contextlib
import os

import sentry_sdk
from starlette.applications import Starlette

from sentry_asgi import SentryMiddleware

sentry_sdk.init(dsn=os.environ["SENTRY_DSN"])


@contextlib.asynccontextmanager
async def lifespan(app):
    raise ConnectionRefusedError("database down")
    yield


app = SentryMiddleware(Starlette(lifespan=lifespan))
