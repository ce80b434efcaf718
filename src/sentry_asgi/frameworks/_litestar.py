"""Litestar: its exception middleware answers a handler's exception itself (500 or a close).

Litestar calls the app's ``after_exception`` hooks with every exception it handles, before the
app's exception handlers answer it (a domain error may well become a 404), and puts the route
template (``path_template``) and handler (``route_handler``) in the scope itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar.exceptions import HTTPException, WebSocketException

from sentry_asgi.frameworks import Framework, Match
from sentry_asgi.frameworks._report import report, report_if_answered_5xx

if TYPE_CHECKING:
    from litestar import Litestar

    from sentry_asgi._asgi import Scope

MECHANISM = "litestar"


async def _after_exception(exception: Exception, scope: Any) -> None:
    """Report what Litestar answers with a 5xx: not its 4xx exceptions or deliberate closes."""
    if isinstance(exception, HTTPException) and exception.status_code < 500:
        return
    if isinstance(exception, WebSocketException):
        return
    if scope.get("type") == "http":
        report_if_answered_5xx(exception, MECHANISM)  # the app's handler decides the answer
    else:
        report(exception, MECHANISM)


def _match(scope: Scope) -> Match | None:
    handler = scope.get("route_handler")
    view = getattr(handler, "fn", None)
    return Match(None, view) if view is not None else None


def install(app: Litestar) -> Framework:
    """Add the exception hook to this app (once, however often it is wrapped)."""
    if _after_exception not in app.after_exception:
        app.after_exception.append(_after_exception)
    return Framework(match=_match, reroutes=False)
