"""Starlette and FastAPI: a handler the app registers for an exception class answers it itself.

An exception no handler claims leaves the app and reaches the middleware, and Starlette puts the
matched endpoint in the scope, and from 1.7 its route (before, found again when a name is needed):
nothing to hook there. One that a handler registered
for its class answers (``exception_handlers={ValueError: ...}``, ``@app.exception_handler``)
becomes a response inside the app's ``ExceptionMiddleware``. Each such handler is wrapped once,
to report the exception when its answer is a 5xx or none (a handler that closes a websocket
itself answers with none). It reports as soon as the handler returns: Starlette then clears the
exception's traceback. Not wrapped: ``HTTPException`` and ``WebSocketException`` handlers (their
exceptions are responses), FastAPI's validation handlers (the client's errors), and the
``500``/``Exception`` handler, which runs in ``ServerErrorMiddleware`` and re-raises.

The handlers live in the ``ExceptionMiddleware`` that the app builds with its middleware stack,
on its first request: a wrapped app gets its stack-building wrapped, and ``add_middleware``
finds that middleware below itself, through each middleware's ``app``. The apps mounted below
its router answer their own exceptions, each with its framework's own mechanism: found as the
stack is built, each gets its framework's hooks, as if it were wrapped.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from types import FunctionType, MethodType
from typing import TYPE_CHECKING, Any

from starlette import _utils as starlette_utils
from starlette._utils import is_async_callable
from starlette.applications import Starlette
from starlette.exceptions import HTTPException, WebSocketException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import Host, Match, Mount, Router

from sentry_asgi._guard import contained
from sentry_asgi.frameworks import down_the_middleware, hook_mounted
from sentry_asgi.frameworks._report import report

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, MutableMapping

    from sentry_asgi._asgi import Scope

    Handler = Callable[..., Any]

MECHANISM = "starlette"

# Exceptions that are the client's, answered by FastAPI's own handlers (422, websocket 1008).
_CLIENT_ERRORS = frozenset(
    {
        ("fastapi.exceptions", "RequestValidationError"),
        ("fastapi.exceptions", "WebSocketRequestValidationError"),
    }
)

# Starlette 0.35 and later leave the path as the client asked for it below a Mount; before, a
# Mount cut what it matched off the path (and moved it into root_path, as it still does).
_MOUNTS_KEEP_THE_PATH = hasattr(starlette_utils, "get_route_path")

# The handlers made here, so that wrapping an app twice wraps its handlers once.
_OURS: weakref.WeakSet[Callable[..., Any]] = weakref.WeakSet()


def _answers_a_failure(response: object) -> bool:
    """Tell whether a handler's answer is a failure: a 5xx, or no response at all."""
    if response is None:  # HTTP: the server answers 500; websocket: the handler closed it
        return True
    status = getattr(response, "status_code", None)
    return isinstance(status, int) and status >= 500


def _reporting(handler: Handler) -> Handler:
    """The handler, reporting the exception it answers with a failure.

    Async exactly when the handler is, since Starlette runs a sync one in its thread pool.
    """
    if is_async_callable(handler):

        async def report_if_failed(conn: Any, exc: Exception) -> Any:
            response = await handler(conn, exc)
            if _answers_a_failure(response):
                report(exc, MECHANISM)
            return response

        wrapped: Handler = report_if_failed
    else:

        def report_if_failed_in_thread(conn: Any, exc: Exception) -> Any:
            response = handler(conn, exc)
            if _answers_a_failure(response):
                report(exc, MECHANISM)
            return response

        wrapped = report_if_failed_in_thread
    _OURS.add(wrapped)
    return wrapped


def _is_the_apps_error(key: object) -> bool:
    """Tell whether a handler's key is an exception class whose answer may be the app's failure."""
    if not isinstance(key, type) or issubclass(key, (HTTPException, WebSocketException)):
        return False  # a status code (HTTPExceptions only), or a response as an exception
    return not any((cls.__module__, cls.__qualname__) in _CLIENT_ERRORS for cls in key.__mro__)


def _wrap_handlers(handlers: MutableMapping[Any, Handler]) -> None:
    for key, handler in handlers.items():
        if _is_the_apps_error(key) and handler not in _OURS:
            handlers[key] = _reporting(handler)


def _wrap_handlers_below(app: object) -> None:
    """Wrap the handlers of the ExceptionMiddleware found by following the middleware down.

    Then hook the apps mounted below its router, which each answer their own exceptions.
    """
    for layer in down_the_middleware(app):
        if isinstance(layer, ExceptionMiddleware):
            _wrap_handlers(layer._exception_handlers)  # noqa: SLF001 - where Starlette keeps them
            router = next((r for r in down_the_middleware(layer) if isinstance(r, Router)), None)
            for route, mounted in _mounted_apps(router.routes if router is not None else ()):
                hook_mounted(route, mounted)
            return


def _mounted_apps(routes: Iterable[object]) -> Iterator[tuple[Mount | Host, object]]:
    """Each app mounted among ``routes`` (``app.mount``, a Mount or Host, in a Mount of routes).

    A mounted Starlette app's own mounts are its to follow, when it builds its stack.
    """
    for route in routes:
        if isinstance(route, (Mount, Host)):
            below = route.app
            if isinstance(below, Router):  # a Mount(routes=[...])
                yield from _mounted_apps(below.routes)
            else:
                yield route, below


class _WrapHandlersOnBuild:
    """The app's ``build_middleware_stack``, wrapping the handlers of the stack it builds."""

    __slots__ = ("build",)

    def __init__(self, build: Callable[[], Any]) -> None:
        self.build = build

    def __call__(self) -> Any:
        stack = self.build()
        with contained():
            _wrap_handlers_below(stack)
        return stack


def mounted_root(scope: Scope) -> str | None:
    """The root path with each Mount the request passed through as its template, not its match.

    A Mount with path parameters (``Mount("/orgs/{org_id}", ...)``) puts the path it matched
    (``/orgs/42``) in ``root_path``, a name per organisation. Starlette keeps only the last route
    it matched: the Mounts are found again from its outermost router (``scope["router"]``),
    matched as that router matched them. None when the way there cannot be retraced, also when
    the app's own path convertors fail on it.
    """
    root = scope.get("root_path")
    probe = _as_routed(scope)
    templates = [str(probe["root_path"]).rstrip("/")]
    routes = getattr(scope.get("router"), "routes", ())
    try:
        while probe["root_path"] != root:
            route = _matching_mount(routes, probe)
            if route is None:
                return None  # not the way Starlette came
            if isinstance(route, Mount):
                templates.append(route.path)
            routes = route.routes
    except Exception:  # noqa: BLE001 - the app's convertors, as when Starlette routed it
        return None
    return "".join(templates)


def _matching_mount(routes: Iterable[object], probe: dict[str, Any]) -> Mount | Host | None:
    """The Mount or Host that matches the probe, which then goes below it.

    Only those lead further down; an endpoint matched first would have left the root path as it
    was, so none did.
    """
    for route in routes:
        if isinstance(route, (Mount, Host)):
            match, child = route.matches(probe)
            if match is Match.FULL:
                probe.update(child)
                return route
    return None


def matched_route(scope: Scope) -> object | None:
    """The route Starlette passed the request to last, found again from its outermost router.

    Starlette 1.7 and later put it in the scope (``route``); before, only its endpoint is there.
    A route that answers only other methods counts, as it does for Starlette's 405. None when the
    way cannot be retraced, also when the app's own path convertors fail on it.
    """
    return _last_match(getattr(scope.get("router"), "routes", ()), _as_routed(scope))


def _last_match(routes: Iterable[object], probe: dict[str, Any]) -> object | None:
    """The route the routers, from ``routes`` down, pass the probe to last, the probe updated.

    None when no route matches, also when the app's own path convertors fail on the path.
    """
    found = None
    try:
        while routes:
            route = _first_match(routes, probe)
            if route is None:
                break
            found = route
            routes = _routes_below(route) if isinstance(route, (Mount, Host)) else ()
    except Exception:  # noqa: BLE001 - the app's convertors, as when Starlette routed it
        return None
    return found


def path_a_mount_cut(scope: Scope) -> str | None:
    """The path asked for, where a Mount cut what it matched off it (Starlette before 0.35).

    The Mount moved that part into ``root_path``: the two rejoined are the path, even where the
    path below begins like the root (``/items`` + ``/items/5``). None where no Mount cut it.
    """
    root, path = scope.get("root_path"), scope.get("path")
    if _MOUNTS_KEEP_THE_PATH or root == scope.get("app_root_path", root):
        return None
    return f"{root}{path}" if isinstance(root, str) and isinstance(path, str) else None


def _as_routed(scope: Scope) -> dict[str, Any]:
    """The scope as Starlette's outermost router got it, for its routes to be matched again.

    Each Mount moved what it matched into ``root_path``, kept as it was in ``app_root_path``;
    before Starlette 0.35 it also cut it off the path.
    """
    root = scope.get("root_path", "")
    outer_root = scope.get("app_root_path", root)
    path = scope.get("path", "")
    if not _MOUNTS_KEEP_THE_PATH and isinstance(root, str) and isinstance(outer_root, str):
        path = root[len(outer_root) :] + path
    return {**scope, "root_path": outer_root, "path": path, "path_params": {}}


def _first_match(routes: Iterable[object], probe: dict[str, Any]) -> object | None:
    """The route Starlette's router picks for the probe, which then goes below it."""
    partial = None
    for route in routes:
        match, child = route.matches(probe)  # type: ignore[attr-defined]
        if match is Match.FULL:
            probe.update(child)
            return route
        if match is Match.PARTIAL and partial is None:
            partial = route, child
    if partial is None:
        return None
    probe.update(partial[1])
    return partial[0]


def _routes_below(mount: Mount | Host) -> Iterable[object]:
    """The routes of what a Mount or Host passes requests to, through middleware around it."""
    return _routes_of(mount.app)


def _routes_of(app: object) -> Iterable[object]:
    """The routes of the first Starlette app or router found down the middleware from ``app``."""
    for layer in down_the_middleware(app):
        if isinstance(layer, (Starlette, Router)):
            return layer.routes
    return ()


def parameters_ahead(
    scope: Scope, worth_matching: Callable[[], bool] | None = None
) -> Mapping[str, object] | None:
    """The path parameters of the route Starlette's router will pass the request to, if not yet.

    The router puts them in the scope only as it routes: an event sent before it ran (by a
    middleware inside the app, in front of its router) finds them here, the routes matched on
    the scope as that router will get it, Mounts and their apps as it goes through them. That
    router is the app's (``scope["app"]``, set as the app is called) while no router saw the
    request; after a router's Mount passed it on to an app or router (the scope's ``endpoint``),
    that one's, which routes it next. None where a router passed the request to its view
    already, or matched nothing; where no route matches, where the app's own path convertors
    fail on the path; and where ``worth_matching`` says no, asked only when the routes would be.
    """
    endpoint = scope.get("endpoint")
    if endpoint is None:
        app = scope.get("app")
        if "router" in scope or not isinstance(app, Starlette):
            return None  # routed to nothing (a 404), or no Starlette app yet
        routes: Iterable[object] = app.router.routes
    elif isinstance(endpoint, (FunctionType, MethodType, type)):
        return None  # a view: routed
    else:
        routes = _routes_of(endpoint)
    if not routes or (worth_matching is not None and not worth_matching()):
        return None
    probe = dict(scope)
    params = probe.get("path_params") if _last_match(routes, probe) is not None else None
    return params if isinstance(params, Mapping) else None


def install(app: object) -> None:
    """Wrap the app's exception handlers, once; names need nothing (endpoints are in the scope)."""
    if not isinstance(app, Starlette):  # a middleware of the stack: add_middleware
        _wrap_handlers_below(app)
    elif app.middleware_stack is not None:  # the app has served already
        _wrap_handlers_below(app.middleware_stack)
    elif not isinstance(app.build_middleware_stack, _WrapHandlersOnBuild):
        app.build_middleware_stack = _WrapHandlersOnBuild(app.build_middleware_stack)  # type: ignore[method-assign]
