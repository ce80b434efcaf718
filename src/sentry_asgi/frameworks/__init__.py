"""What only the wrapped framework knows: its routes, its views, and the errors it swallows.

Several frameworks turn a view's exception into a 500 response before any ASGI middleware
can see it, and some never put the matched route in the ASGI scope. For those, one small
private module per framework hooks the framework's own error mechanism and answers
"which route, which view?" through its public routing API. The framework is recognised
at construction from the app's class, so a framework the user does not have is never
imported.
"""

from __future__ import annotations

import importlib
import weakref
from dataclasses import dataclass
from types import MethodType
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from sentry_asgi._guard import contained
from sentry_asgi._naming import named_root

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from sentry_asgi._asgi import Scope

# Top-level package of a framework's app class -> the module that knows that framework.
_ADAPTERS = {
    "blacksheep": "_blacksheep",
    "channels": "_channels",
    "django": "_django",
    "falcon": "_falcon",
    "fastapi": "_starlette",
    "litestar": "_litestar",
    "quart": "_quart",
    "starlette": "_starlette",
}
# How far down a stack of middleware the frameworks' own parts are looked for.
MIDDLEWARE_DEPTH = 32
_STARLETTE = "_starlette"


class Match(NamedTuple):
    """Where the framework routed a request: its route template, its view, its parameters.

    ``params``: the values the route's parameters took, by name, for a framework that keeps them
    out of the scope (a token in ``/reset/<uidb64>/<token>/``); None where the scope has them.
    """

    template: str | None
    endpoint: Any
    params: Mapping[str, object] | None = None


@dataclass(frozen=True, slots=True)
class Framework:
    """One framework's answers for a request of the app it wraps."""

    match: Callable[[Scope], Match | None]
    # True when ``match`` runs the framework's router again: its answer is then kept for the
    # rest of the request, so routing runs at most once more, and only when a name is needed.
    reroutes: bool
    # The path of the mount the framework passed the request on through, for a framework that
    # passes the path below it on without moving the mount's path into ``root_path`` (Litestar):
    # the routes of the app mounted there are below it, and the path the client asked for is left
    # only in ``raw_path``.
    mount: Callable[[Scope], str | None] | None = None
    # True for routers that pass a request on to another framework's app with its path and root
    # path as they are (Channels' to Django's): how that app then routes it names the request.
    passes_on: bool = False
    # Tells whether an exception leaving the app is the framework's way of saying no route serves
    # the request (Channels' routers raise one): its 404, which any client can ask for at will.
    unrouted: Callable[[BaseException], bool] | None = None


# The framework of each app mounted as it is below a wrapped app's router, by the app's identity
# (a Litestar or Falcon app takes no weak reference), while the route it is mounted at lives: a
# request the router passes there is named after that app's routes.
_MOUNTED: dict[int, tuple[weakref.ref[object], Framework]] = {}


def hook_mounted(route: object, app: object) -> None:
    """Install the hooks of the app mounted as it is at ``route``; keep its framework for names.

    A framework whose internals moved leaves that app without them, and the others with theirs.
    """
    framework = None
    with contained():
        framework = detect(app)
    if framework is None:
        return
    key = id(app)

    def forget(gone: weakref.ref[object]) -> None:
        if _MOUNTED.get(key, (None,))[0] is gone:
            del _MOUNTED[key]

    _MOUNTED[key] = (weakref.ref(route, forget), framework)


def mounted_framework(app: object) -> Framework | None:
    """The framework of ``app``, mounted as it is, where it helps name requests."""
    entry = _MOUNTED.get(id(app))
    if entry is None:
        return None
    route = entry[0]()
    return entry[1] if route is not None and getattr(route, "app", None) is app else None


def routed_name(scope: Scope, template: str) -> str:
    """A route template of the app, below the path the app is mounted at (as a template)."""
    return str(named_root(scope) or "").rstrip("/") + template


def detect(app: object) -> Framework | None:
    """Recognise the app's framework by its class's package; install its hooks once.

    The app may be middleware around the framework's app (``CORSMiddleware(quart_app)``, or
    the stack ``add_middleware`` builds): each keeps the next as ``app``, followed down to the
    first framework app. Starlette's own middleware leads to Starlette's ``ExceptionMiddleware``
    when no other framework is below it. None also for a framework whose hooks need no help
    naming requests (Starlette's).
    """
    starlette_part = None
    for candidate in down_the_middleware(app):
        adapter = _adapter(candidate)
        if adapter == _STARLETTE and not hasattr(candidate, "build_middleware_stack"):
            starlette_part = starlette_part or candidate  # a middleware, not the app
        elif adapter is not None:
            return _install(adapter, candidate)
    return None if starlette_part is None else _install(_STARLETTE, starlette_part)


def _install(adapter: str, app: object) -> Framework | None:
    module = importlib.import_module(f"{__name__}.{adapter}")
    framework: Framework | None = module.install(app)
    if framework is not None and framework.unrouted is not None:
        _UNROUTED[framework.unrouted] = None
    return framework


# How each framework found in the process says that no route serves a request, if it raises for
# it: recognised wherever its app is, mounted in an app that leaves no trace of it (BlackSheep).
_UNROUTED: dict[Callable[[BaseException], bool], None] = {}


def unrouted(exc: BaseException) -> bool:
    """Tell whether a framework raised ``exc`` as its way of saying no route serves the request."""
    return any(raised_it(exc) for raised_it in tuple(_UNROUTED))  # one found meanwhile


def _adapter(app: object) -> str | None:
    for cls in type(app).__mro__:
        adapter = _ADAPTERS.get(cls.__module__.partition(".")[0])
        if adapter is not None:
            return adapter
    return None


def down_the_middleware(app: object) -> Iterator[object]:
    """The app, then each app it wraps in turn (as middleware keeps it: ``app``).

    A bound method leads to its object: Quart's documented way to add middleware wraps the
    app's ``asgi_app`` method (``app.asgi_app = SentryMiddleware(app.asgi_app)``). A middleware
    whose ``app`` cannot be read (a property failing before start-up) is the last: what it
    wraps is out of sight, and no reason for the app not to start.
    """
    for _ in range(MIDDLEWARE_DEPTH):
        yield app
        try:
            app = _wrapped(app)
        except Exception:  # noqa: BLE001 - the app's attribute, not the middleware, failed
            return
        if app is None:
            return


def _wrapped(app: object) -> object:
    """What ``app`` hands its requests to: a bound method's object, or a middleware's ``app``."""
    if isinstance(app, MethodType):
        return app.__self__
    return cast("object", getattr(app, "app", None))
