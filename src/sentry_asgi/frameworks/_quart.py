"""Quart: it answers a view's exception with a 500 itself, and logs it.

The ``got_request_exception`` / ``got_websocket_exception`` signals carry the exception and
fire before the log record is written. The matched rule lives on Quart's request object, not
in the scope, so the app's URL map matches the request again, only when a name is needed.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from quart.signals import got_request_exception, got_websocket_exception
from werkzeug.exceptions import HTTPException

from sentry_asgi._asgi import scope_headers
from sentry_asgi.frameworks import Framework, Match
from sentry_asgi.frameworks._report import report

if TYPE_CHECKING:
    from quart import Quart

    from sentry_asgi._asgi import Scope

MECHANISM = "quart"


async def _on_exception(sender: object, exception: Exception, **kwargs: Any) -> None:  # noqa: ARG001 - a receiver's signature
    report(exception, MECHANISM)


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
    adapter = app.url_map.bind(
        _host(scope),
        script_name=root or None,
        url_scheme=str(scope.get("scheme") or "http"),
        default_method=str(scope.get("method") or "GET"),
        path_info=path,
    )
    try:
        rule, _ = adapter.match(return_rule=True, websocket=scope.get("type") == "websocket")
    except HTTPException:  # not found, wrong method, or a redirect: no route to name
        return None
    return Match(root.rstrip("/") + rule.rule, app.view_functions.get(str(rule.endpoint)))


def install(app: Quart) -> Framework:
    """Connect the error signals (blinker keeps one connection per receiver)."""
    got_request_exception.connect(_on_exception)
    got_websocket_exception.connect(_on_exception)
    return Framework(match=partial(_match, app), reroutes=True)
