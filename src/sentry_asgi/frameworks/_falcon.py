"""Falcon (ASGI): its catch-all ``Exception`` error handler answers a responder's error itself.

The capture is one error handler for ``Exception`` (Falcon's documented way to see
unhandled errors) that reports and then hands over to the handler it replaces, so the
response, the log line and any handler the app registers are unchanged (the table Falcon keeps
them in wraps each one as it is stored, so one registered after wrapping is covered too); the report
comes before Falcon's log record, which sentry_sdk's DedupeIntegration then drops. Falcon keeps
the matched route on its request object only, so the app's router finds it again when a name
is needed (through ``_router``: Falcon has no public accessor for the app's router), and so do
its sinks and static routes (``_sink_and_static_routes``, likewise).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import falcon
from falcon import HTTPError, HTTPStatus, http_status_to_code
from falcon.util import get_argnames

from sentry_asgi._guard import contained
from sentry_asgi.frameworks import Framework, Match
from sentry_asgi.frameworks._regex import readable
from sentry_asgi.frameworks._report import report

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from falcon.asgi import App

    from sentry_asgi._asgi import Scope

MECHANISM = "falcon"
_SERVER_ERROR = 500


class _ReportThenHandle:
    """Falcon's handler for uncaught exceptions, preceded by the report."""

    __slots__ = ("handler",)

    def __init__(self, handler: Callable[..., Awaitable[None]]) -> None:
        self.handler = handler

    async def __call__(
        self, req: Any, resp: Any, ex: Exception, params: dict[str, Any], ws: Any = None
    ) -> None:
        report(ex, MECHANISM)
        if ws is None:
            await self.handler(req, resp, ex, params)
        else:
            await self.handler(req, resp, ex, params, ws=ws)


def _routed_path(app: App[Any, Any], scope: Scope) -> str:
    """The path Falcon routes: the scope's, its trailing slash gone where the app strips it."""
    path = str(scope.get("path") or "/")
    strips = getattr(app.req_options, "strip_url_path_trailing_slash", False)
    if strips and len(path) != 1 and path.endswith("/"):
        return path[:-1]
    return path


def _match(app: App[Any, Any], scope: Scope) -> Match | None:
    router = getattr(app, "_router", None)
    path = _routed_path(app, scope)
    found = router.find(path) if router is not None else None
    if not found:
        return _sink(app, path)
    _, methods, params, template = found
    method = "WEBSOCKET" if scope.get("type") == "websocket" else str(scope.get("method"))
    responder = methods.get(method.upper())
    if getattr(responder, "__module__", None) == "falcon.responders":
        # Falcon's own answer for a method the resource lacks (405, OPTIONS): one function for
        # every resource, so no view to name the request after; the route template names it.
        responder = None
    return Match(template, responder, params)


def _sink(app: App[Any, Any], path: str) -> Match | None:
    """The sink or static route Falcon serves a path no route matched with, named after its prefix.

    Falcon tries sinks and static routes in its own order, first match wins. A sink's prefix is
    a regex, made readable: ``/proxy/(?P<rest>.+)`` is ``/proxy/{rest}``.
    """
    for matcher, target, is_sink in getattr(app, "_sink_and_static_routes", ()):
        if matcher.match(path):
            return Match(readable(matcher.pattern), target) if is_sink else _static(target)
    return None


def _static(route: object) -> Match | None:
    """A static route, named after its prefix (``/static``), as a mounted file server is.

    Its responder is Falcon's file server, the same for every static route: no view to name
    the request after. Falcon keeps the prefix, with a ``/`` appended, as ``_prefix`` only.
    """
    prefix = getattr(route, "_prefix", None)
    if not isinstance(prefix, str):
        return None
    return Match(prefix.rstrip("/") or "/", None)


class _ReportIfAnswered5xx:
    """A handler the app registered for one exception class, reporting what it answers 5xx.

    A domain error answered 404 is no error; an answer of 503 is the app's failure, reported as
    the exception. The handler may answer by raising an ``HTTPError`` or ``HTTPStatus`` (as
    Falcon documents), which Falcon renders as the response: its status decides alike. A
    websocket's handler answers with no response: reported, as a close.
    """

    __slots__ = ("handler", "takes_ws")

    def __init__(self, handler: Callable[..., Awaitable[None]]) -> None:
        self.handler = handler
        self.takes_ws = _takes_ws(handler)

    async def __call__(
        self, req: Any, resp: Any, ex: Exception, params: dict[str, Any], ws: Any = None
    ) -> None:
        try:
            if ws is not None and self.takes_ws:
                await self.handler(req, resp, ex, params, ws=ws)
            else:
                await self.handler(req, resp, ex, params)
        except (HTTPError, HTTPStatus) as answer:
            _report_if_failed(ex, resp, answer.status)
            raise
        _report_if_failed(ex, resp, None if resp is None else resp.status)


def _report_if_failed(ex: Exception, resp: Any, status: Any) -> None:
    """Report the exception a handler answered with a 5xx, or answered a websocket for."""
    with contained():
        if resp is None or _status_code(status) >= _SERVER_ERROR:
            report(ex, MECHANISM)


def _takes_ws(handler: Callable[..., Any]) -> bool:
    """Tell whether Falcon would pass the handler the websocket (as its ``ws`` argument)."""
    try:
        return "ws" in get_argnames(handler)
    except (TypeError, ValueError):  # no signature to read: Falcon passes none either
        return False


def _status_code(status: Any) -> int:
    try:
        return int(http_status_to_code(status))
    except ValueError:  # not a status Falcon can answer with either
        return 0


def _is_the_apps_error(key: type, handler: object) -> bool:
    """Tell whether a handler answers an exception that may be the app's failure.

    Not Falcon's own handlers (the app's bound methods), nor one for its HTTP errors
    (exceptions that are responses).
    """
    if key is Exception or issubclass(key, (HTTPError, HTTPStatus)):
        return False
    return not isinstance(getattr(handler, "__self__", None), falcon.App) and not isinstance(
        handler, _ReportIfAnswered5xx
    )


def _reporting(key: type, handler: Any) -> Any:
    """The handler as registered for ``key``, with the report where it may answer a failure."""
    if key is Exception and not isinstance(handler, _ReportThenHandle):
        return _ReportThenHandle(handler)
    if _is_the_apps_error(key, handler):
        return _ReportIfAnswered5xx(handler)
    return handler


class _ReportingHandlers(dict[type, Any]):
    """The app's error handlers, each given the report as it is registered, after wrapping too.

    ``add_error_handler`` stores every handler here: one the app registers once wrapped (or in
    its start-up) is covered as an earlier one is, at no cost to a request.
    """

    def __setitem__(self, key: type, handler: Any) -> None:
        super().__setitem__(key, _reporting(key, handler))


def install(app: App[Any, Any]) -> Framework:
    """Report through the app's error handlers, once, whenever the app registers them.

    Before its ``Exception`` handler; after the handlers it registers for other exception
    classes, when they answer 5xx.
    """
    handlers = app._error_handlers  # noqa: SLF001 - where add_error_handler keeps them
    if not isinstance(handlers, _ReportingHandlers):
        reporting = _ReportingHandlers()
        for key, handler in handlers.items():
            reporting[key] = handler
        app._error_handlers = reporting  # noqa: SLF001
    return Framework(match=partial(_match, app), reroutes=True)
