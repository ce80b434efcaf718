"""Litestar: its exception middleware answers a handler's exception itself (500 or a close).

Litestar calls the app's ``after_exception`` hooks with every exception it handles, before the
app's exception handlers answer it (a domain error may well become a 404), and puts the route
template (``path_template``) and handler (``route_handler``) in the scope itself, once its
router has run; before that, or when the router refuses the request, the app's router finds
the route again. Before Litestar 2.11, which puts no template in the scope, the template is the
one of the handler's routes its path parameters give the request's path. A mount
(``@asgi(..., is_mount=True)``) gets an empty template, and the path below it as the request's
path, ``root_path`` unchanged: it is named after its own path.
"""

from __future__ import annotations

from contextlib import suppress
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from litestar import Litestar
from litestar.enums import HttpMethod
from litestar.exceptions import HTTPException, MethodNotAllowedException, WebSocketException
from litestar.handlers import WebsocketListenerRouteHandler
from litestar.routes import BaseRoute, HTTPRoute
from litestar.utils import normalize_path

from sentry_asgi._errors import mark_answered
from sentry_asgi._guard import contained
from sentry_asgi.frameworks import Framework, Match, down_the_middleware, routed_name

try:
    from litestar.utils.helpers import Ref as _Ref  # type: ignore[attr-defined]
except ImportError:  # Litestar 2.4 and later keep functions as they are
    _Ref = None
from sentry_asgi.frameworks._report import report, report_if_answered_5xx

if TYPE_CHECKING:
    from sentry_asgi._asgi import Scope

MECHANISM = "litestar"


async def _after_exception(exception: Exception, scope: Any) -> None:
    """Report what Litestar answers with a 5xx: not its 4xx exceptions or deliberate closes."""
    if isinstance(exception, WebSocketException) or (
        isinstance(exception, HTTPException) and exception.status_code < 500
    ):
        mark_answered(exception, MECHANISM)  # sentry_sdk's Litestar integration, next, reports it
        return
    if scope.get("type") == "http":
        report_if_answered_5xx(exception, MECHANISM)  # the app's handler decides the answer
    else:
        report(exception, MECHANISM)


def _match(app: Litestar, scope: Scope) -> Match | None:
    handler = scope.get("route_handler")
    if handler is None:  # not routed yet, or refused by the router
        return _route(app, scope)
    if getattr(handler, "is_mount", False):
        mount = _mount(app, scope)
        return Match(mount, None) if mount is not None else None
    return _routed(scope)


def _routed(scope: Scope) -> Match | None:
    """The view of the route handler Litestar's router put in the scope, the template with it."""
    handler = scope.get("route_handler")
    if handler is None or getattr(handler, "is_mount", False):
        return None
    view = _view(handler)
    template = None if "path_template" in scope else _scope_template(scope, handler)
    if view is None and template is None:
        return None
    return Match(routed_name(scope, template) if template is not None else None, view)


def _scope_template(scope: Scope, handler: Any) -> str | None:
    """The template of the route Litestar before 2.11 ran ``handler`` for, from the app it names."""
    app = scope.get("app")
    if not isinstance(app, Litestar):
        return None
    path = str(scope.get("path") or "/")  # below the app's mount point, as its router left it
    return _handler_template(app, handler, path, scope.get("path_params") or {})


def _handler_template(app: Litestar, handler: Any, path: str, params: Any) -> str | None:
    """The template of the handler's route that ``params`` fill in as ``path``, or its only one."""
    identifier = handler.name or str(handler)
    routes = app.asgi_router.route_mapping.get(identifier, ())
    templates = sorted({route.path_format for route in routes})
    if len(templates) == 1:
        return templates[0]
    for template in templates:
        with suppress(KeyError, IndexError, ValueError):
            if template.format(**params) == path:
                return template
    return None


def _routing(app: Litestar, path: str, method: Any) -> tuple[Any, str | None, Any]:
    """The handler the app's router picks, its route's template, and its path parameters.

    Before Litestar 2.11 the router gives no template (four values, not five).
    """
    routed = app.asgi_router.handle_routing(path=path, method=method)
    if len(routed) > 4:  # the template, fifth since Litestar 2.11
        return routed[1], routed[4], routed[3]
    return routed[1], _handler_template(app, routed[1], routed[2], routed[3]), routed[3]


def _view(handler: Any) -> Any:
    """The app's own function a route handler calls.

    A websocket listener's ``fn`` is Litestar's loop around it (the same class for every
    listener), which keeps the app's function, a sync one wrapped to run in a thread. Litestar
    before 2.4 keeps each of these in a ``Ref``, as its ``value``.
    """
    view = _unref(getattr(handler, "fn", None))
    if isinstance(handler, WebsocketListenerRouteHandler):
        view = getattr(view, "_fn", view)
        view = _unref(getattr(view, "ref", view))
        view = getattr(view, "func", view)
    return view


def _unref(held: Any) -> Any:
    """What a ``Ref`` of Litestar before 2.4 holds; anything else as it is."""
    return held.value if _Ref is not None and isinstance(held, _Ref) else held


def _route(app: Litestar, scope: Scope) -> Match | None:
    """Where the app's router sends the request; for a method the route lacks, that route."""
    root = str(scope.get("root_path") or "")
    path = _below_root(root, str(scope.get("path") or "/"))
    try:
        handler, template, params = _routing(app, path, scope.get("method"))
    except MethodNotAllowedException as refused:
        refusing = _refusing_route(app, path, refused)
        return Match(routed_name(scope, refusing), None) if refusing is not None else None
    except (HTTPException, ValueError):  # not found, or not a route for this kind of connection
        return None
    if getattr(handler, "is_mount", False):
        mount = _mount_path(app, handler, path)
        return Match(routed_name(scope, mount), None) if mount is not None else None
    return Match(
        routed_name(scope, template) if template is not None else None, _view(handler), params
    )


def _below_root(root: str, path: str) -> str:
    """The path Litestar routes: below the app's own mount point."""
    if root and path.startswith(root):
        path = path[len(root) :]
    return normalize_path(path)


def _mount(app: Litestar, scope: Scope) -> str | None:
    """The path of the mount the router passed the request on through, ``root_path`` first.

    The router replaced the request's path with the path below the mount: the path the client
    asked for is ``raw_path``, which only picks one of the mount's own paths.
    """
    handler = scope.get("route_handler")
    if not getattr(handler, "is_mount", False):
        return None
    root = str(scope.get("root_path") or "")
    raw = scope.get("raw_path")
    path = unquote(raw.decode("latin-1")) if isinstance(raw, bytes) else ""
    mount = _mount_path(app, handler, _below_root(root, path))
    return routed_name(scope, mount) if mount is not None else None


def _mount_path(app: Litestar, handler: Any, path: str) -> str | None:
    """The path, as the app's routers joined it, of the mount ``path`` is below."""
    identifier = handler.name or str(handler)
    mounts = [route.path for route in app.asgi_router.route_mapping.get(identifier, ())]
    if len(mounts) == 1:
        return mounts[0]
    for mount in sorted(mounts, key=len, reverse=True):
        if path == mount or path.startswith(mount.rstrip("/") + "/"):
            return mount
    return None


def _refusing_route(app: Litestar, path: str, refused: MethodNotAllowedException) -> str | None:
    """The template of the route that refused the request's method (405), though no view ran.

    Litestar refuses before it puts anything in the scope; the route is found again for a
    method it allows: the first in order, so that every process names the request alike.
    Before Litestar 2.15 the refusal names no method: each one Litestar knows is tried.
    """
    allow = (refused.headers or {}).get("allow")
    methods = [method.strip() for method in str(allow or "").split(",") if method.strip()]
    for method in sorted(methods or HttpMethod):
        with suppress(HTTPException, ValueError):
            return _routing(app, path, method)[1]
    return None


def install(app: object) -> Framework | None:
    """Add the exception hook to the app (once, however often it is wrapped).

    ``app`` is Litestar's first part down the middleware: the app, one of Litestar's own
    middleware around it, or a route's stack. In the app's ``middleware=[...]``, the middleware
    wraps a route's stack inside Litestar's exception handling: the hook goes on the app that
    route belongs to, which runs it there, inside the middleware; the router has put the route's
    handler in the scope by then, which names the request.
    """
    for candidate in down_the_middleware(app):
        if isinstance(candidate, Litestar):
            _hook(candidate)
            return Framework(
                match=partial(_match, candidate), reroutes=True, mount=partial(_mount, candidate)
            )
        if isinstance(candidate, BaseRoute):
            with contained():  # a route Litestar built otherwise: named all the same
                owner = _owner(candidate)
                if owner is not None:
                    _hook(owner)
            break
    return Framework(match=_routed, reroutes=False)


def _hook(app: Litestar) -> None:
    if _after_exception not in app.after_exception:
        # First: sentry_sdk's own Litestar integration, whose hook reports every exception, then
        # finds it waiting for the app's answer (see Exchange.process_event).
        app.after_exception.insert(0, _after_exception)


def _owner(route: BaseRoute) -> Litestar | None:
    """The app ``route`` belongs to.

    Litestar builds each route's stack as it registers the route: the route's handler already
    belongs to the app then, first of its ownership layers.
    """
    handler = (
        route.route_handlers[0]
        if isinstance(route, HTTPRoute)
        else getattr(route, "route_handler", None)
    )
    owner = handler.ownership_layers[0] if handler is not None else None
    return owner if isinstance(owner, Litestar) else None
