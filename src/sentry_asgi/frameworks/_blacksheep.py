"""BlackSheep: the application answers a request handler's exception with a 500 itself.

The capture is one entry for ``Exception`` in the app's ``exceptions_handlers`` (BlackSheep's
own mapping of exceptions to responses): it reports, then answers as BlackSheep would (log
line and 500 page), or hands over to the ``Exception`` handler the app had already set and
reports only when that one answers with a 5xx; the table wraps each handler as it is set, so
one the app sets after wrapping is covered too. Routes live on the request object only, so the
app's router (which caches its matches) finds them again when a name is needed.
"""

from __future__ import annotations

import inspect
import weakref
from contextlib import suppress
from functools import partial, wraps
from typing import TYPE_CHECKING, Any

from blacksheep import Request
from blacksheep.exceptions import HTTPException
from blacksheep.server.routing import RouteMethod

from sentry_asgi._asgi import scope_headers
from sentry_asgi._errors import expect_worded_failure
from sentry_asgi._guard import contained
from sentry_asgi.frameworks import Framework, Match, detect, routed_name
from sentry_asgi.frameworks._report import report
from sentry_asgi.middleware import current_exchange

try:  # its stub leaves the class of the app's exception handlers out
    from blacksheep.baseapp import ExceptionHandlersDict  # type: ignore[attr-defined]
except ImportError:  # before BlackSheep 2.4.1: a plain dict, which the app takes only as it is
    ExceptionHandlersDict = dict

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from blacksheep import Application, Response, WebSocket
    from blacksheep.server.routing import Route, RouteMatch, Router

    from sentry_asgi._asgi import Scope

    Handler = Callable[[Application, Request, Exception], Awaitable[Response]]

MECHANISM = "blacksheep"
# What BlackSheep logs, naming the handler only, when an exception handler fails.
_HANDLER_FAILED = "Unhandled exception in exception_handler: %s"


# Set on an exception a handler of the app raised: BlackSheep before 2.4.1 passes it on to the
# catch-all, and logs no line about it.
_HANDLER_FAILURE = "__sentry_asgi_handler_failure__"

# The handlers made here, so that none is wrapped twice (an app wrapped twice, or restarted).
_OURS: weakref.WeakSet[Callable[..., Any]] = weakref.WeakSet()


def _report_then_handle(handler: Handler | None) -> Handler:
    """The app's handler for unhandled exceptions, with the report.

    BlackSheep accepts only coroutine functions here, hence a closure rather than a class. A
    handler that fails is answered 500 by BlackSheep, with a log line that names the handler
    and not its exception: its own exception is reported, chained to the one it handled.
    """

    async def report_then_handle(app: Application, request: Request, exc: Exception) -> Response:
        if handler is not None:
            try:
                response = await handler(app, request, exc)
            except Exception as failure:
                _report_failed_handler(app, failure)
                raise
            if response is not None and response.status >= 500:  # BlackSheep answers None 204
                report(exc, MECHANISM)
            return response
        report(exc, MECHANISM)
        # What BlackSheep does for an exception no handler claims: log it (not a handler's own,
        # which reaches here before 2.4.1 only, unlogged), answer 500.
        if not getattr(exc, _HANDLER_FAILURE, False):
            app.logger.error(
                'Unhandled exception - "%s %s"',
                request.method,
                request.url.value.decode(),
                exc_info=exc,
            )
        return await app.handle_internal_server_error(request, exc)

    if handler is not None:  # BlackSheep's log line about a failing handler names it
        report_then_handle.__name__ = getattr(handler, "__name__", report_then_handle.__name__)
        report_then_handle.__qualname__ = getattr(
            handler, "__qualname__", report_then_handle.__name__
        )
    _OURS.add(report_then_handle)
    return report_then_handle


def _report_failed_handler(app: Application, failure: Exception) -> None:
    """Report a handler's own exception; BlackSheep's line about it, in words only, is no event."""
    with suppress(AttributeError, TypeError):  # one that takes no attribute: logged, as before
        setattr(failure, _HANDLER_FAILURE, True)
    with contained():
        if current_exchange() is not None:
            report(failure, MECHANISM)
            expect_worded_failure(app.logger.name, _HANDLER_FAILED)


def _match(app: Application, scope: Scope) -> Match | None:
    if not app.started:
        return None  # routes are registered at start-up, and the router caches a miss for good
    method = "GET_WS" if scope.get("type") == "websocket" else str(scope.get("method") or "GET")
    route = _matching_route(app.router, method, _routed_path(scope), scope)
    if route is None:
        return None
    template = route.pattern.decode("utf-8", "replace")
    # The route's handler is the app's middleware chain around the normalised view: the chain
    # keeps the view as ``root_fn``, the normalisation as ``__wrapped__``.
    view = inspect.unwrap(getattr(route.handler, "root_fn", route.handler))
    return Match(routed_name(scope, template), view, route.values)


def _routed_path(scope: Scope) -> bytes:
    """The path BlackSheep routes: ``raw_path`` as the client encoded it, below ``root_path``.

    Not the decoded ``path``, in which an encoded slash (``%2F``) would split a segment; but a
    websocket BlackSheep routes by its decoded ``path``, split there.
    """
    raw = scope.get("raw_path")
    if isinstance(raw, (bytes, bytearray)) and scope.get("type") != "websocket":
        path = bytes(raw)
    else:  # a websocket, or no raw_path from the server: BlackSheep encodes the path
        path = str(scope.get("path") or "/").encode()
    root = str(scope.get("root_path") or "").encode()
    if root and path.startswith(root):
        path = path[len(root) :] or b"/"
    return path


def _matching_route(router: Router, method: str, path: bytes, scope: Scope) -> RouteMatch | None:
    """The route BlackSheep matches (with its values): its sub-routers' first, then the router's.

    A router with sub-routers (``Router(sub_routers=[...])``) asks them first, for HTTP only: a
    websocket BlackSheep routes by the app's router's own routes. It keeps them as
    ``_sub_routers`` only. A route with filters (``Router(host=...)``, ``headers=``, ``params=``)
    matches only a request its filters pass.
    """
    sub_routers = getattr(router, "_sub_routers", None) if scope.get("type") == "http" else None
    for sub_router in sub_routers or ():
        found = _matching_route(sub_router, method, path, scope)
        if found is not None:
            return found
    for route in router.routes.get(method.encode(), ()):
        matched: RouteMatch | None = route.match_by_path(path)
        if matched is not None and _passes_filters(route, scope):
            return matched
    return None


def _passes_filters(route: Route, scope: Scope) -> bool:
    """Tell whether the request passes the route's filters, checked on it as BlackSheep builds it.

    BlackSheep checks no filters for a websocket.
    """
    filters = getattr(route, "filters", None)
    if not filters or scope.get("type") != "http":
        return True
    request = Request.incoming(
        str(scope.get("method") or "GET"),
        _routed_path(scope),
        bytes(scope.get("query_string") or b""),
        list(scope_headers(scope)),
    )
    return all(route_filter.handle(request) for route_filter in filters)


def _is_the_apps_error(key: object) -> bool:
    """Tell whether a handler's key is an exception class whose answer may be the app's failure.

    Not a status code, nor an ``HTTPException`` class: those exceptions are responses.
    """
    return (
        isinstance(key, type)
        and issubclass(key, Exception)
        and key is not Exception
        and not issubclass(key, HTTPException)
    )


def _reporting(key: object, handler: Handler) -> Handler:
    """The handler as set for ``key``, with the report where it may answer a failure."""
    if handler in _OURS or not (key is Exception or _is_the_apps_error(key)):
        return handler
    return _report_then_handle(handler)


class _ReportingHandlers(ExceptionHandlersDict):  # type: ignore[misc]
    """The app's exception handlers, each given the report as it is set, after wrapping too.

    BlackSheep checks the handler first, as it always does; one the app sets once wrapped (or in
    its start-up) is then covered as an earlier one is, at no cost to a request.
    """

    def __setitem__(self, key: object, handler: Handler) -> None:
        super().__setitem__(key, handler)
        self.data[key] = _reporting(key, handler)


def _report_socket_errors(handler: Callable[[WebSocket], Awaitable[Any]]) -> Any:
    """A websocket route's handler, reporting its exception before BlackSheep logs and closes.

    The app's view stays where :func:`_match` finds it (``root_fn``, ``__wrapped__``).
    """

    @wraps(handler)
    async def report_socket_error(websocket: WebSocket) -> Any:
        try:
            return await handler(websocket)
        except Exception as exc:
            report(exc, MECHANISM)
            raise

    _OURS.add(report_socket_error)
    return report_socket_error


async def _hook_websocket_routes(app: Application) -> None:
    """Wrap each websocket route's handler as BlackSheep made it at start-up, middleware in.

    Once: a restart leaves the handlers as they are.
    """
    router: Any = app.router
    with contained():
        for method, route in router.iter_with_methods():
            if method == RouteMethod.GET_WS and route.handler not in _OURS:
                route.handler = _report_socket_errors(route.handler)


def _hook_mounted_apps(app: Application) -> None:
    """Give each app mounted as it is (``app.mount``) its framework's hooks, as if it were wrapped.

    BlackSheep passes a mounted app its requests before its own handling: the app answers its
    views' exceptions itself.
    """
    registry: Any = getattr(app, "mount_registry", None)
    for route in getattr(registry, "mounted_apps", ()):
        with contained():
            detect(route.handler)


async def _hook_mounted_apps_at_start(app: Application) -> None:
    """Hook the apps mounted after the app was wrapped, once it starts."""
    _hook_mounted_apps(app)


def _report_through_handlers(app: Application) -> bool:
    """Give the app's exception handlers the report; False when they have it already.

    BlackSheep before 2.4.1 keeps them in a plain dict, and takes no other: there each handler
    is wrapped where it is, now and again as the app starts, for those the app set in between.
    """
    handlers: Any = app.exceptions_handlers
    if isinstance(handlers, _ReportingHandlers) or handlers.get(Exception) in _OURS:
        return False
    if ExceptionHandlersDict is dict:
        _wrap_in_place(handlers)
        app.after_start += _wrap_in_place_at_start
        return True
    reporting = _ReportingHandlers(handlers)
    if Exception not in reporting:
        reporting.data[Exception] = _report_then_handle(None)
    app.exceptions_handlers = reporting
    return True


def _wrap_in_place(handlers: dict[Any, Handler]) -> None:
    """Give each handler of a plain dict the report, and the dict a catch-all that reports."""
    for key, handler in list(handlers.items()):
        handlers[key] = _reporting(key, handler)
    if Exception not in handlers:
        handlers[Exception] = _report_then_handle(None)


async def _wrap_in_place_at_start(app: Application) -> None:
    """Wrap the handlers the app set (or the dict it replaced) since it was wrapped."""
    with contained():
        _wrap_in_place(app.exceptions_handlers)


def install(app: Application) -> Framework:
    """Report through the app's exception handlers, once, whenever the app sets them.

    In front of its ``Exception`` handler; around the handlers it sets for other exception
    classes, reporting what they answer 5xx. The apps mounted in it get their own hooks, now and
    as it starts.
    """
    if _report_through_handlers(app):
        app.after_start += _hook_websocket_routes
        app.after_start += _hook_mounted_apps_at_start
    _hook_mounted_apps(app)
    return Framework(match=partial(_match, app), reroutes=True)
