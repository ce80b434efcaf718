"""Lifespan: messages pass through untouched; real start-up and shut-down failures are reported.

An app that does not support lifespan raises on the lifespan scope before it ever calls
``receive()`` (Django does). That is the protocol's way of saying "not supported": the server
handles it, and reporting it would send one error per worker start.
"""

from __future__ import annotations

from sentry_asgi._asgi import ASGIApp, Message, Receive, Scope, Send
from sentry_asgi._errors import capture_exception
from sentry_asgi._guard import contained

import sentry_sdk

_FAILED = ("lifespan.startup.failed", "lifespan.shutdown.failed")


async def run_lifespan(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Run the app's lifespan, reporting a failure once."""
    received = False
    failure: Message | None = None

    async def watched_receive() -> Message:
        nonlocal received
        received = True
        return await receive()

    async def watched_send(message: Message) -> None:
        nonlocal failure
        if message.get("type") in _FAILED:
            failure = message
        await send(message)

    try:
        await app(scope, watched_receive, watched_send)
    except Exception as exc:
        if received:
            with contained():
                capture_exception(exc, mechanism="asgi.lifespan")
        raise
    if failure is not None:
        with contained():
            phase = str(failure["type"]).split(".")[1]
            detail = failure.get("message") or "no message"
            sentry_sdk.capture_message(f"Lifespan {phase} failed: {detail}", level="error")
