"""Quart: it answers a view's exception with a 500 itself, and logs it.

The ``got_request_exception`` / ``got_websocket_exception`` signals carry the exception and
fire before the log record is written. They fire only for exceptions no error handler of the
app claims: an exception an ``errorhandler`` answers goes through the app's
``handle_user_exception`` instead, so this app's ``handle_user_exception`` is wrapped to report
the exception when its handler answers with a 5xx, or a websocket with no response
(``HTTPException``s are responses, never reported here: a 5xx one is the failed-status event's).
An exception that escapes the app's handling altogether (a path converter's, raised as Quart
matches the request) reaches Quart's last resort, ``_handle_exception``, which raises it to the
server, or answers it with a 500 of its own (as Quart 0.21.0 does by default): that answer is
reported too, from the app's own connection classes.
The matched rule lives on Quart's request object, not in the scope, so the app's URL map matches
the request again, only when a name is needed; a method the matched rule does not allow (405) is
named after that rule.
"""

from __future__ import annotations

import inspect
from functools import partial
from types import FunctionType
from typing import TYPE_CHECKING, Any

from quart import has_websocket_context
from quart.signals import got_request_exception, got_websocket_exception
from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from sentry_asgi._asgi import scope_headers
from sentry_asgi._guard import contained
from sentry_asgi.frameworks import Framework, Match, routed_name
from sentry_asgi.frameworks._report import report

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from quart import Quart
    from werkzeug.routing import MapAdapter, Rule

    from sentry_asgi._asgi import Scope

MECHANISM = "quart"
# Quart's last resort for an exception that escaped the app, as its connections' globals name it.
_LAST_RESORT = "_handle_exception"
# The app's connection classes, and the method of each that hands the exception to the last resort.
_CONNECTIONS = (("asgi_http_class", "handle_request"), ("asgi_websocket_class", "handle_websocket"))
# The port a host named without one has, by scheme, as Quart leaves it out of the host it binds.
_DEFAULT_PORTS = {"http": ":80", "ws": ":80", "https": ":443", "wss": ":443"}


async def _on_exception(sender: object, exception: Exception, **kwargs: Any) -> None:  # noqa: ARG001 - a receiver's signature
    report(exception, MECHANISM)


def _status(result: object) -> int | None:
    """The status of the response an error handler's return value makes, as Quart reads it."""
    status: object = None
    if isinstance(result, tuple):
        if len(result) == 3:
            value, status, _ = result
        elif len(result) == 2:
            value, second = result
            if not isinstance(second, (Headers, dict, list)):
                status = second
        else:
            return None
    else:
        value = result
    if status is not None:
        try:
            return int(status) if isinstance(status, (int, str, bytes)) else None
        except ValueError:  # Quart fails on it too
            return None
    if isinstance(value, HTTPException):
        return value.code
    code = getattr(value, "status_code", 200)  # a response object, or a body (200)
    return code if isinstance(code, int) else None


class _ReportIfAnswered5xx:
    """The app's ``handle_user_exception``, reporting an exception its handler answers 5xx."""

    __slots__ = ("handler",)

    def __init__(self, handler: Callable[..., Awaitable[Any]]) -> None:
        self.handler = handler

    async def __call__(self, error: Exception, *args: Any, **kwargs: Any) -> Any:
        result = await self.handler(error, *args, **kwargs)
        if not isinstance(error, HTTPException):
            with contained():
                if _answers_a_failure(result):
                    report(error, MECHANISM)
        return result


def _answers_a_failure(result: object) -> bool:
    """Tell whether a handler's answer is a failure: a 5xx, or none to a websocket.

    A websocket's handler answers with no response when it closed the socket, or left that to
    Quart (for HTTP, no response is Quart's own error, reported as such).
    """
    if result is None and has_websocket_context():
        return True
    status = _status(result)
    return status is not None and status >= 500


def _host(scope: Scope) -> str:
    for name, value in scope_headers(scope):
        if bytes(name).lower() == b"host":
            return bytes(value).decode("latin-1")
    return "localhost"


def _match(app: Quart, scope: Scope) -> Match | None:
    root = str(scope.get("root_path") or "")
    path = str(scope.get("path") or "/")
    if root and path.startswith(root):
        path = path[len(root) :] or "/"  # Quart routes the path below the mount point
    adapter = _bind(app, scope, root, path)
    websocket = scope.get("type") == "websocket"
    try:
        rule, params = adapter.match(return_rule=True, websocket=websocket)
    except MethodNotAllowed as refused:
        refusing = _refusing_rule(adapter, refused, websocket=websocket)
        return Match(routed_name(scope, refusing.rule), None) if refusing is not None else None
    except HTTPException:  # not found, or a redirect: no route to name
        return None
    view = app.view_functions.get(str(rule.endpoint))
    return Match(routed_name(scope, rule.rule), view, params)


def _bind(app: Quart, scope: Scope, root: str, path: str) -> MapAdapter:
    """The app's URL map bound to the request as Quart binds it (``create_url_adapter``).

    Its ``SERVER_NAME`` is the host, and the rest of the request's host the subdomain, unless
    the app matches whole hosts; a default port is no part of either.
    """
    scheme = str(scope.get("scheme") or "http")
    requested = _without_default_port(scheme, _host(scope).lower())
    server_name = app.config.get("SERVER_NAME")
    host = _without_default_port(scheme, server_name.lower()) if server_name else requested
    subdomain = None if app.subdomain_matching else (app.url_map.default_subdomain or None)
    if subdomain is None and not app.url_map.host_matching:
        subdomain = _subdomain(requested, host)
    return app.url_map.bind(
        host,
        script_name=root or None,
        subdomain=subdomain,
        url_scheme=scheme,
        default_method=str(scope.get("method") or "GET"),
        path_info=path,
    )


def _without_default_port(scheme: str, host: str) -> str:
    port = _DEFAULT_PORTS.get(scheme)
    return host.removesuffix(port) if port else host


def _subdomain(requested: str, server_name: str) -> str:
    """The part of the requested host in front of the server name (Quart's ``<invalid>``: none)."""
    requested_parts, server_parts = requested.split("."), server_name.split(".")
    if requested_parts[-len(server_parts) :] != server_parts:
        return "<invalid>"
    return ".".join(filter(None, requested_parts[: -len(server_parts)]))


def _refusing_rule(
    adapter: MapAdapter, refused: MethodNotAllowed, *, websocket: bool
) -> Rule | None:
    """The rule whose path the request matched, for a method it allows: the 405's route.

    No view answered, so the request is named after the rule alone. The allowed methods come
    as a set: the first in order, so that every process picks the same rule.
    """
    if not refused.valid_methods:
        return None
    method = min(refused.valid_methods)
    try:
        rule, _ = adapter.match(method=method, return_rule=True, websocket=websocket)
    except HTTPException:
        return None
    return rule


def _reporting_answers(last_resort: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    """Quart's last resort, reporting an exception it answers instead of raising it."""

    async def answer_reported(app: Quart, error: Exception) -> Any:
        response = await last_resort(app, error)
        report(error, MECHANISM)
        return response

    return answer_reported


def _reporting_connection(connection: type, method: str) -> type | None:
    """The connection class, its method Quart's own code run with a reporting last resort.

    Wrapping the method would add a call to every request: its compiled code is reused as it
    is, with a copy of its module's globals where the last resort reports, so the error-free
    path runs just what it ran. None where the method is not Quart's own call of the last resort.
    """
    handler = getattr(connection, method, None)
    if not isinstance(handler, FunctionType) or _LAST_RESORT not in handler.__code__.co_names:
        return None
    last_resort = handler.__globals__.get(_LAST_RESORT)
    if not inspect.iscoroutinefunction(last_resort):
        return None
    scope = {**handler.__globals__, _LAST_RESORT: _reporting_answers(last_resort)}
    reporting = FunctionType(
        handler.__code__, scope, handler.__name__, handler.__defaults__, handler.__closure__
    )
    reporting.__kwdefaults__ = handler.__kwdefaults__
    reporting.__qualname__ = handler.__qualname__
    return type(connection.__name__, (connection,), {method: reporting})


def _report_last_resort_answers(app: Quart) -> None:
    """Have the app's connections report what Quart's last resort answers, once."""
    for attribute, method in _CONNECTIONS:
        connection = getattr(app, attribute, None)
        if not isinstance(connection, type) or connection.__module__ == __name__:
            continue  # not a class, or one made here for an app wrapped before
        reporting = _reporting_connection(connection, method)
        if reporting is not None:
            setattr(app, attribute, reporting)


def install(app: Quart) -> Framework:
    """Connect the error signals; wrap the app's handling of handled exceptions, once.

    blinker keeps one connection per receiver, and an app already wrapped is not wrapped again.
    """
    got_request_exception.connect(_on_exception)
    got_websocket_exception.connect(_on_exception)
    current = getattr(app, "handle_user_exception", None)
    wrapped = isinstance(current, _ReportIfAnswered5xx)
    if not wrapped and inspect.iscoroutinefunction(current):  # a Quart that moved on: no wrapping
        app.handle_user_exception = _ReportIfAnswered5xx(current)  # type: ignore[method-assign]
    with contained():  # the other hooks and the route names stand without it
        _report_last_resort_answers(app)
    return Framework(match=partial(_match, app), reroutes=True)
