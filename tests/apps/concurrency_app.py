"""Raw ASGI app for the concurrency test: each request tags itself, reads its body and fails."""

from __future__ import annotations

import asyncio
import os

import sentry_sdk

from sentry_asgi import SentryMiddleware

sentry_sdk.init(
    dsn=os.environ["SENTRY_DSN"], auto_enabling_integrations=False, send_default_pii=True
)


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    n = scope["path"].strip("/")
    sentry_sdk.set_tag("n", n)
    sentry_sdk.set_user({"id": n})
    sentry_sdk.add_breadcrumb(message=f"crumb {n}")
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await asyncio.sleep(0.05)  # every request is in flight at once
    raise ValueError(f"request {n} body {body.decode()}")


app = SentryMiddleware(app)
