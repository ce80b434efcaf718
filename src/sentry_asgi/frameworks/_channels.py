"""Django Channels: its routers pass each connection on to Django's ASGI app or to a consumer.

``ProtocolTypeRouter`` picks an app by the scope's type, ``URLRouter`` by the path, and
Channels' middleware (``AuthMiddlewareStack``, ``OriginValidator``) keeps the app it wraps as
``inner`` or ``application``. A consumer's exception leaves the app as itself, but Django's ASGI
app below a router answers a view's exception with a 500: each app below the routers gets its
own framework's hooks, once, as the app is wrapped. The route ``URLRouter`` matched reaches the
consumer only, in its copy of the scope: the routers match the request again, as they match it,
only when a name is needed.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from channels.routing import ProtocolTypeRouter, URLRouter

from sentry_asgi._guard import contained
from sentry_asgi.frameworks import (
    MIDDLEWARE_DEPTH,
    Framework,
    Match,
    detect,
    down_the_middleware,
    routed_name,
)
from sentry_asgi.frameworks._django import readable_pattern

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sentry_asgi._asgi import Scope

# What ``URLRouter``s routed so far: the path left to route (None: none routed yet), their
# template, their parameters' values (``url_route``'s kwargs).
_Routed = tuple["str | None", str, "dict[str, Any]"]
# Where Channels' middleware keeps the app it wraps.
_INNER = ("inner", "application")


def _is_channels(app: object) -> bool:
    return any(cls.__module__.partition(".")[0] == "channels" for cls in type(app).__mro__)


def _inner(app: object) -> object | None:
    """The app a middleware passes connections on to, if Channels' routing goes on below it.

    Channels' own middleware keeps it as ``inner`` or ``application``; other middleware (as
    Channels documents writing it) as ``app``: followed only as far as a Channels part.
    """
    if _is_channels(app):
        return next((getattr(app, name) for name in _INNER if hasattr(app, name)), None)
    return next((part for part in down_the_middleware(app) if _is_channels(part)), None)


def _below(app: object, depth: int = 0) -> Iterator[object]:
    """The apps the routers below ``app`` pass connections on to, which are not Channels'."""
    if depth > MIDDLEWARE_DEPTH:
        return
    if isinstance(app, ProtocolTypeRouter):
        nexts: list[object] = list(app.application_mapping.values())
    elif isinstance(app, URLRouter):
        nexts = [route.callback for route in app.routes]
    else:
        inner = _inner(app)
        if inner is None:
            yield app
            return
        nexts = [inner]
    for below in nexts:
        yield from _below(below, depth + 1)


def _match(app: object, frameworks: dict[int, Framework], scope: Scope) -> Match | None:
    """Where the routers pass the request, ``URLRouter``'s templates joined, as they route it."""
    return _walk(app, frameworks, scope, (None, "", {}), 0)


def _walk(
    app: object,
    frameworks: dict[int, Framework],
    scope: Scope,
    routed: _Routed,
    depth: int,
) -> Match | None:
    """Where the routers below ``app`` pass the request, ``routed`` so far (see ``_Routed``)."""
    for _ in range(MIDDLEWARE_DEPTH - depth):
        if isinstance(app, ProtocolTypeRouter):
            app = app.application_mapping.get(scope.get("type"))
        elif isinstance(app, URLRouter):
            return _url_route(app, frameworks, scope, routed, depth + 1)
        else:
            inner = _inner(app)
            if inner is None:
                return _view(app, frameworks, scope, routed)
            app = inner
        if app is None:
            return None
    return None


def _url_route(
    router: URLRouter,
    frameworks: dict[int, Framework],
    scope: Scope,
    routed: _Routed,
    depth: int,
) -> Match | None:
    """The first of the router's routes that leads somewhere, as ``URLRouter`` tries them."""
    path = _path_to_route(scope) if routed[0] is None else routed[0]
    if path is None:
        return None
    path = path.lstrip("/")
    for route in router.routes:
        matched: Any = route.pattern.match(path)
        if not matched:
            continue
        template = routed[1] + readable_pattern(route.pattern)
        params = {**routed[2], **matched[2]}
        found = _walk(route.callback, frameworks, scope, (matched[0], template, params), depth)
        if found is not None:  # else a router below has no route for the rest: the next route
            return found
    return None


def _path_to_route(scope: Scope) -> str | None:
    """The path the outermost ``URLRouter`` routes: below the root path, if it is there."""
    path = scope.get("path")
    root = scope.get("root_path") or ""
    if not isinstance(path, str) or not path.startswith(root):
        return None
    return path[len(root) :]


def _view(
    app: object, frameworks: dict[int, Framework], scope: Scope, routed: _Routed
) -> Match | None:
    """The app the routers passed the request to: a consumer, or an app of another framework."""
    framework = frameworks.get(id(app))
    if framework is not None:  # Django's ASGI app, say: its own routes name the request
        return framework.match(scope)
    endpoint = getattr(app, "consumer_class", app)  # ``Consumer.as_asgi()`` by its class
    template = routed[1]
    return Match(routed_name(scope, f"/{template}") if template else None, endpoint, routed[2])


# Where Channels' routers raise ``ValueError`` when no app or route serves a connection.
_ROUTERS = frozenset({ProtocolTypeRouter.__call__.__code__, URLRouter.__call__.__code__})


def _unrouted(exc: BaseException) -> bool:
    """Tell whether a router raised ``exc`` itself, for a connection nothing serves: its 404.

    ``ProtocolTypeRouter`` without the connection's type (a websocket to an HTTP-only app), the
    outermost ``URLRouter`` without a route for its path: either is what the client asked for.
    """
    if type(exc) is not ValueError:
        return False
    traceback = exc.__traceback__
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    return traceback is not None and traceback.tb_frame.f_code in _ROUTERS


def install(app: object) -> Framework:
    """Install the hooks of the apps below the routers; name requests after the routes."""
    frameworks: dict[int, Framework] = {}
    for below in _below(app):
        framework = None
        with contained():
            framework = detect(below)
        if framework is not None:
            frameworks[id(below)] = framework
    return Framework(
        match=partial(_match, app, frameworks), reroutes=True, passes_on=True, unrouted=_unrouted
    )
