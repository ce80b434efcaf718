"""The one way a framework hook reports an error: once, and only for our own requests."""

from __future__ import annotations

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


def report_if_answered_5xx(exc: BaseException | None, mechanism: str) -> None:
    """Capture an exception the framework's handlers answer, once the answer shows a failure.

    A handler may turn an exception into any response (a domain error into a 404): only a 5xx,
    or no response at all, makes it the app's failure. Reported when the request ends.
    """
    exchange = current_exchange()
    if exchange is None or not isinstance(exc, Exception):
        return
    exchange.pending = (exc, mechanism)
