"""The one way a framework hook reports an error: once, and only for our own requests."""

from __future__ import annotations

import inspect
import sys

from sentry_asgi._guard import contained
from sentry_asgi.middleware import current_exchange


def report(exc: BaseException | None, mechanism: str) -> None:
    """Capture an exception the framework turned into a response itself.

    Marks it captured on the request, so neither its propagation through the middleware nor
    the failed-status event reports it again. Outside a SentryMiddleware request (another
    app in the process, or a test client) this does nothing.
    """
    exchange = current_exchange()
    if exchange is None or not isinstance(exc, Exception):
        return
    with contained():
        exchange.failed(exc, mechanism)
        _forget_in_frame_snapshots(exc)


def _forget_in_frame_snapshots(exc: BaseException) -> None:
    """Drop the exception from the variables sentry_sdk just read in its traceback's frames.

    A framework hook reports while the framework's frame still binds the exception (``except
    Exception as ex``). Before Python 3.13, reading that frame's variables keeps them in a dict
    on the frame, which outlives the binding: frame, dict, exception and its traceback would be
    a reference cycle, keeping the request with them until the garbage collector runs.
    """
    if sys.version_info >= (3, 13):  # a frame's variables are a live view, kept nowhere
        return
    traceback = exc.__traceback__
    while traceback is not None:
        frame = traceback.tb_frame
        if frame.f_code.co_flags & inspect.CO_OPTIMIZED:  # a function's: not a module's globals
            variables = frame.f_locals
            for name in [name for name, value in variables.items() if value is exc]:
                del variables[name]
        traceback = traceback.tb_next


def report_if_answered_5xx(exc: BaseException | None, mechanism: str) -> None:
    """Capture an exception the framework's handlers answer, once the answer shows a failure.

    A handler may turn an exception into any response (a domain error into a 404): only a 5xx,
    or no response at all, makes it the app's failure. Reported when the request ends.
    """
    exchange = current_exchange()
    if exchange is None or not isinstance(exc, Exception):
        return
    exchange.pending = (exc, mechanism)
