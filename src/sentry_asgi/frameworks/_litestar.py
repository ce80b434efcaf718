"""Litestar: its exception middleware answers a handler's exception itself (500 or a close).

Litestar calls the app's ``after_exception`` hooks with every exception it handles, before the
app's exception handlers answer it (a domain error may well become a 404), and puts the route
template (``path_template``) and handler (``route_handler``) in the scope itself, once its
router has run; before that, or when the router refuses the request, the app's router finds
the route again.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from litestar.exceptions import HTTPException, MethodNotAllowedException, WebSocketException
from litestar.utils import normalize_path

from sentry_asgi.frameworks import Framework, Match
from sentry_asgi.frameworks._report import report, report_if_answered_5xx

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar._asgi.asgi_router import ASGIRouter

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


def _match(app: Litestar, scope: Scope) -> Match | None:
    handler = scope.get("route_handler")
    if handler is None:  # not routed yet, or refused by the router
        return _route(app, scope)
    view = getattr(handler, "fn", None)
    return Match(None, view) if view is not None else None


def _route(app: Litestar, scope: Scope) -> Match | None:
    """Where the app's router sends the request; for a method the route lacks, that route."""
    root = str(scope.get("root_path") or "")
    path = str(scope.get("path") or "/")
    if root and path.startswith(root):
        path = path[len(root) :]  # Litestar routes the path below the mount point
    path = normalize_path(path)
    router = app.asgi_router
    try:
        _, handler, _, _, template = router.handle_routing(path=path, method=scope.get("method"))
    except MethodNotAllowedException as refused:
        refusing = _refusing_route(router, path, refused)
        return Match(root.rstrip("/") + refusing, None) if refusing is not None else None
    except (HTTPException, ValueError):  # not found, or not a route for this kind of connection
        return None
    return Match(root.rstrip("/") + template, getattr(handler, "fn", None))


def _refusing_route(
    router: ASGIRouter, path: str, refused: MethodNotAllowedException
) -> str | None:
    """The template of the route that refused the request's method (405), though no view ran.

    Litestar refuses before it puts anything in the scope; the route is found again for a
    method it allows: the first in order, so that every process names the request alike.
    """
    allow = (refused.headers or {}).get("allow")
    methods = [method.strip() for method in str(allow or "").split(",") if method.strip()]
    if not methods:
        return None
    try:
        _, _, _, _, template = router.handle_routing(path=path, method=min(methods))
    except (HTTPException, ValueError):
        return None
    return template


def install(app: Litestar) -> Framework:
    """Add the exception hook to this app (once, however often it is wrapped)."""
    if _after_exception not in app.after_exception:
        # First: sentry_sdk's own Litestar integration, whose hook reports every exception, then
        # finds it waiting for the app's answer (see Exchange.process_event).
        app.after_exception.insert(0, _after_exception)
    return Framework(match=partial(_match, app), reroutes=True)
