"""Raw ASGI app for the concurrency test: each request tags itself, reads its body and fails."""

from __future__ import annotations

import asyncio
import os

import sentry_sdk

from apps import read_body
from sentry_asgi import SentryMiddleware

# sentry_sdk drops what does not fit its send queue (100 by default) rather than slow the app;
# this burst of 1,000 failures in 50 ms must all arrive, so the queue is made large enough.
sentry_sdk.init(
    dsn=os.environ["SENTRY_DSN"],
    auto_enabling_integrations=False,
    send_default_pii=True,
    transport_queue_size=2 * 1000,
)


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    n = scope["path"].strip("/")
    sentry_sdk.set_tag("n", n)
    sentry_sdk.set_user({"id": n})
    sentry_sdk.add_breadcrumb(message=f"crumb {n}")
    body = await read_body(receive)
    await asyncio.sleep(0.05)  # every request is in flight at once
    raise ValueError(f"request {n} body {body.decode()}")


app = SentryMiddleware(app)
