"""What users write around the middleware, checked by ``mypy --strict`` against each framework's types.

Never run: ``scripts/test`` type-checks it with src/ (``[tool.mypy] files`` in pyproject.toml).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from typing import TYPE_CHECKING, Any

import hypercorn.asyncio
import hypercorn.config
import sentry_sdk
import uvicorn
from blacksheep import Application as BlackSheep
from django.core.asgi import get_asgi_application
from falcon.asgi import App as Falcon
from fastapi import FastAPI
from litestar import Litestar
from litestar.middleware import DefineMiddleware
from quart import Quart
from starlette.applications import Starlette
from starlette.middleware import Middleware

from sentry_asgi import SentryMiddleware, scrub_log, scrub_span

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping


async def bare_app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
) -> None:
    """An ASGI app typed by hand."""


def wrapped_apps() -> list[SentryMiddleware]:
    """``SentryMiddleware(app)`` around each framework's own app object."""
    quart = Quart(__name__)
    quart.asgi_app = SentryMiddleware(quart.asgi_app)  # type: ignore[method-assign]
    return [
        SentryMiddleware(bare_app),
        SentryMiddleware(Starlette(), transaction_style="url", exclude_paths=["/health"]),
        SentryMiddleware(FastAPI(), exclude_paths=[re.compile(r"^/metrics")]),
        SentryMiddleware(Litestar(route_handlers=[])),
        SentryMiddleware(get_asgi_application(), trusted_proxies=["10.0.0.0/8", "127.0.0.1"]),
        SentryMiddleware(Falcon(), http_methods_to_capture={"GET", "POST"}),
        SentryMiddleware(BlackSheep(), failed_request_status_codes=range(500, 600)),
        SentryMiddleware(
            bare_app,
            trusted_proxies=[ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_address("::1")],
        ),
    ]


def registered_as_middleware() -> list[object]:
    """The middleware class handed to a framework, with its options."""
    starlette = Starlette(middleware=[Middleware(SentryMiddleware, transaction_style="url")])
    starlette.add_middleware(SentryMiddleware, transaction_style="url", exclude_paths=["/health"])
    fastapi = FastAPI()
    fastapi.add_middleware(SentryMiddleware, exclude_paths=["/health"])
    litestar = Litestar(
        route_handlers=[],
        middleware=[DefineMiddleware(SentryMiddleware, transaction_style="url"), SentryMiddleware],
    )
    return [starlette, fastapi, litestar]


def served() -> None:
    """The wrapped app given to each server."""
    app = SentryMiddleware(Starlette())
    uvicorn.run(app)
    asyncio.run(hypercorn.asyncio.serve(app, hypercorn.config.Config()))


def telemetry_hooks() -> None:
    """The scrubbers as sentry_sdk's own hooks."""
    sentry_sdk.init(before_send_log=scrub_log, before_send_span=scrub_span)
