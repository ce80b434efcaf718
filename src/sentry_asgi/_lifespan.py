"""Lifespan: messages pass through untouched; real start-up and shut-down failures are reported.

An app that does not support lifespan raises on the lifespan scope before it ever calls
``receive()`` (Django does). That is the protocol's way of saying "not supported": the server
handles it, and reporting it would send one error per worker start.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import sentry_sdk

from sentry_asgi import _sessions as sessions
from sentry_asgi._errors import capture_exception
from sentry_asgi._guard import contained

if TYPE_CHECKING:
    from sentry_asgi._asgi import ASGIApp, Message, Receive, Scope, Send

_FAILED = ("lifespan.startup.failed", "lifespan.shutdown.failed")


async def flush_before_exit() -> None:
    """Send what is queued before the worker exits, within sentry_sdk's ``shutdown_timeout``.

    The flush runs in a thread: a slow or unreachable Sentry must not block the event loop.
    """
    with contained():
        sessions.flush()
        client = sentry_sdk.get_client()
        if client.is_active():
            timeout = float(client.options.get("shutdown_timeout") or 2)
            await asyncio.to_thread(client.flush, timeout=timeout)


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
        kind = message.get("type")
        if kind in _FAILED:
            failure = message
        elif kind == "lifespan.shutdown.complete":
            await flush_before_exit()
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
