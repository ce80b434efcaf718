"""Django: its handler answers a view's exception with a 500 itself, and logs it.

The ``got_request_exception`` signal fires (with the exception being handled) before the
log record is written, so the error is captured first and sentry_sdk's DedupeIntegration
drops the log record's copy. Routes are not in the ASGI scope: ``django.urls.resolve``
finds them when a name is needed.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from django.core.signals import got_request_exception
from django.urls import Resolver404, resolve

from sentry_asgi.frameworks import Framework, Match
from sentry_asgi.frameworks._report import report

if TYPE_CHECKING:
    from sentry_asgi._asgi import Scope

MECHANISM = "django"


def _on_exception(sender: object, **kwargs: Any) -> None:  # noqa: ARG001 - a receiver's signature
    # Django sends no exception with the signal: the one being handled is the view's.
    report(sys.exc_info()[1], MECHANISM)


def _match(scope: Scope) -> Match | None:
    root = scope.get("root_path") or ""
    path = str(scope.get("path") or "/")
    if root and path.startswith(root):
        path = path[len(root) :] or "/"  # Django routes the path below its script prefix
    try:
        matched = resolve(path)
    except Resolver404:
        return None
    view = getattr(matched.func, "view_class", matched.func)  # a class-based view by its class
    return Match(f"{root.rstrip('/')}/{matched.route}", view)


def install(_app: object) -> Framework:
    """Connect the error signal (once per process, whatever the number of apps)."""
    got_request_exception.connect(_on_exception, dispatch_uid="sentry_asgi")
    return Framework(match=_match, reroutes=True)
