"""Lifespan: messages pass through untouched; real start-up and shut-down failures are reported.

An app that does not support lifespan raises on the lifespan scope before it ever calls
``receive()`` (Django does). That is the protocol's way of saying "not supported": the server
handles it, and reporting it would send one error per worker start. Whoever captures that
exception on its way out (sentry_sdk's Django integration wraps the app in its own ASGI handler)
is kept quiet too.

A real failure is reported once. Servers also log it (uvicorn and granian log the failure message
the app sent, uvicorn then logs that it exits), and sentry_sdk's logging integration would turn
each log line into another error event: those lines are dropped, only after the middleware
reported the failure they repeat. After a failure the server exits, not always through the
interpreter's exit handlers (granian's worker processes skip them): what is queued is sent first.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import sentry_sdk

from sentry_asgi import _sessions as sessions
from sentry_asgi._errors import (
    capture_exception,
    expect_lifespan_repeats,
    is_unhandled,
    retitle_exception_group,
)
from sentry_asgi._guard import contained

if TYPE_CHECKING:
    from sentry_asgi._asgi import ASGIApp, Message, Receive, Scope, Send

_FAILED = ("lifespan.startup.failed", "lifespan.shutdown.failed")


class _Connection:
    """What the middleware knows about the lifespan connection running in this context."""

    __slots__ = ("phase", "reported", "spoke")

    def __init__(self) -> None:
        self.spoke = False  # the app called receive() or sent a message: it speaks lifespan
        self.phase = "startup"
        self.reported = False  # this connection's failure has been reported


_connection: ContextVar[_Connection | None] = ContextVar("sentry_asgi_lifespan", default=None)


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


def process_event(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
    """Keep the lifespan connection to its one report, whoever captures its errors.

    An unhandled error captured before the app spoke lifespan is the app's refusal of the
    scope; one captured after the failure was reported is that failure again (the server's
    exception raised from ``send``, the same error captured on its way out). An error the app
    captures itself (a handled one) is kept. A kept ExceptionGroup is titled after its real
    errors, as in a request: a framework that runs its start-up in a task group (Litestar)
    would otherwise title every failed start-up "unhandled errors in a TaskGroup".
    """
    connection = _connection.get()
    exc_info = hint.get("exc_info") if hint else None
    if connection is None or not exc_info:
        return event
    if (connection.spoke and not connection.reported) or not is_unhandled(event):
        retitle_exception_group(event, exc_info[1])
        return event
    return None


def _report(connection: _Connection, exc: BaseException | None, message: Message | None) -> None:
    """Report the connection's failure: the exception if there is one, else the failure message."""
    if isinstance(exc, Exception):
        capture_exception(exc, mechanism="asgi.lifespan")
    elif exc is None and message is not None:
        detail = message.get("message") or "no message"
        sentry_sdk.capture_message(f"Lifespan {connection.phase} failed: {detail}", level="error")
    else:  # the app is being interrupted (a KeyboardInterrupt, a cancellation): not a failure
        return
    connection.reported = True
    expect_lifespan_repeats(connection.phase, message.get("message") if message else None)


async def run_lifespan(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Run the app's lifespan, reporting a failure once, before the server acts on it."""
    connection = _Connection()

    async def watched_receive() -> Message:
        connection.spoke = True
        message = await receive()
        if message.get("type") == "lifespan.shutdown":
            connection.phase = "shutdown"
        return message

    async def watched_send(message: Message) -> None:
        connection.spoke = True
        kind = message.get("type")
        if kind in _FAILED:
            # The server may exit as soon as it reads this, not always through the interpreter's
            # exit handlers (granian's worker processes skip them): report and send first. The
            # exception being handled, if any, is the failure (Starlette sends from its except).
            if not connection.reported:
                with contained():
                    connection.phase = str(kind).split(".")[1]
                    _report(connection, sys.exc_info()[1], message)
                await flush_before_exit()
        elif kind == "lifespan.shutdown.complete":
            await flush_before_exit()
        await send(message)

    token = _connection.set(connection)
    try:
        await app(scope, watched_receive, watched_send)
    except Exception as exc:
        if connection.spoke and not connection.reported:
            with contained():
                _report(connection, exc, None)
            await flush_before_exit()
        raise
    finally:
        with contextlib.suppress(ValueError):  # closed later from another context: nothing to undo
            _connection.reset(token)
