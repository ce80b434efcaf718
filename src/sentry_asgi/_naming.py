"""One resolver chain from an ASGI scope to a transaction name and its source.

Routing happens inside the app, after the middleware has started, so names are resolved
as late as possible: when an event is built or the transaction finishes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sentry_asgi._asgi import Scope
from sentry_asgi._request import full_path, requested_path

if TYPE_CHECKING:
    from sentry_asgi._options import TransactionStyle

# Sentry's transaction sources: how much a name can be trusted to group requests.
COMPONENT = "component"
ROUTE = "route"
URL = "url"
CUSTOM = "custom"

RouteResolver = Callable[[Scope], "str | None"]
# The view a framework routed the request to, for frameworks that do not put it in the scope.
EndpointResolver = Callable[[Scope], Any]


def qualified_name(obj: Any) -> str | None:
    """``module.qualname`` of a view function, method, class or callable instance."""
    if isinstance(obj, str):
        return obj or None
    while isinstance(obj, functools.partial):
        obj = obj.func
    obj = getattr(obj, "__func__", obj)  # bound methods name their function
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(qualname, str):
        obj = type(obj)
        qualname = obj.__qualname__
    module = getattr(obj, "__module__", None)
    return f"{module}.{qualname}" if isinstance(module, str) and module else qualname


def route_template(scope: Scope, *, scope_route: bool = True) -> str | None:
    """The route template the framework matched, from the keys frameworks put in the scope.

    Starlette's and Litestar's templates are relative to the app's mount point, the scope's
    ``root_path`` (which may share a prefix with them: ``/items`` + ``/items/{id}``). When the
    matched route is a Starlette ``Mount`` itself (its app is no router), ``root_path``
    already ends with what the mount matched, so the mount's own template replaces that part.
    ``scope_route=False`` skips Starlette's key, there a router's the app is mounted under.
    """
    route = starlette_route(scope) if scope_route else None
    path = getattr(route, "path", None) if route is not None else None
    if route is not None:
        path = _included_path(scope, route) or path
    mount = isinstance(path, str) and not hasattr(route, "endpoint")
    if not isinstance(path, str):
        path = scope.get("path_template")  # Litestar
    if not isinstance(path, str) or not path:
        return None
    root = named_root(scope)
    if isinstance(root, str) and root:
        if mount:
            depth = path.count("/")
            root = root.rsplit("/", depth)[0] if root.count("/") >= depth else ""
        path = root.rstrip("/") + path
    return path


def named_root(scope: Scope) -> str | None:
    """The root path to name the routes below it after: below a Starlette Mount, its template.

    A Mount with path parameters (``Mount("/orgs/{org_id}", ...)``) puts its match in
    ``root_path`` (``/orgs/42``): whatever app it passes the request on to, the name takes the
    Mount's template, not one name per organisation.
    """
    root = scope.get("root_path")
    if "app_root_path" in scope and root != scope["app_root_path"]:  # below a Starlette Mount
        return _mounted_root(scope) or root
    return root


def _mounted_root(scope: Scope) -> str | None:
    """The root path with Starlette's Mounts as their templates (imported only for Starlette's)."""
    from sentry_asgi.frameworks._starlette import mounted_root  # noqa: PLC0415 - Starlette's only

    path, root = scope.get("path"), scope.get("root_path")
    if isinstance(path, str) and isinstance(root, str) and not path.startswith(root):
        # The app below replaced the path with its own (Litestar's routing): the Mounts were
        # matched on the path the client asked for.
        scope = {**scope, "path": requested_path(scope) or path}
    return mounted_root(scope)


def starlette_route(scope: Scope) -> object | None:
    """The route Starlette matched: in the scope from Starlette 1.7, found again before that."""
    route = scope.get("route")
    if route is None and "router" in scope and "endpoint" in scope:
        from sentry_asgi.frameworks._starlette import matched_route  # noqa: PLC0415 - Starlette's

        route = matched_route(scope)
    return route


def _included_path(scope: Scope, route: object) -> str | None:
    """The full template of a route FastAPI reached through ``include_router(prefix=...)``.

    FastAPI (0.137 and later) puts the route as its router declared it in ``scope["route"]``,
    without the prefixes it was included under, and describes the route as reached, prefixes
    included, in ``scope["fastapi"]["effective_route_context"]``: trusted only when it
    describes that very route, not an outer one a mounted app was reached through.
    """
    fastapi = scope.get("fastapi")
    context = fastapi.get("effective_route_context") if isinstance(fastapi, dict) else None
    if context is None or getattr(context, "original_route", None) is not route:
        return None
    path = getattr(context, "path", None)
    return path if isinstance(path, str) and path else None


def _view_ran(scope: Scope) -> bool:
    """Tell whether the scope's endpoint ran: Starlette's route answers a method it lacks (405).

    Its router still puts that route and its view in the scope; the route names the request.
    """
    methods = getattr(starlette_route(scope), "methods", None)
    return not methods or scope.get("method") in methods


def resolve_name(  # noqa: PLR0913 - the scope, the style, and where else routes are found
    scope: Scope,
    style: TransactionStyle,
    resolve_route: RouteResolver | None = None,
    resolve_endpoint: EndpointResolver | None = None,
    *,
    scope_endpoint: bool = True,
    scope_route: bool = True,
) -> tuple[str, str]:
    """Name a request per ``transaction_style``: endpoint, then route template, then raw path.

    ``scope_endpoint`` / ``scope_route`` False: the scope's ``endpoint`` / ``route`` were put
    there by a router the app is mounted under, and are not the app's.
    """
    if style == "endpoint":
        endpoint = scope.get("endpoint") if scope_endpoint and _view_ran(scope) else None
        if endpoint is None and resolve_endpoint is not None:
            endpoint = resolve_endpoint(scope)
        if endpoint is not None:
            name = qualified_name(endpoint)
            if name:
                return name, COMPONENT
    template = route_template(scope, scope_route=scope_route)
    if template is None and resolve_route is not None:
        template = resolve_route(scope)
    if template is not None:
        return template, ROUTE
    return full_path(scope), URL
