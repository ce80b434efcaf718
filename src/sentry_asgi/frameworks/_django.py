"""Django: its handler answers a view's exception with a 500 itself, and logs it.

The ``got_request_exception`` signal fires (with the exception being handled) before the
log record is written, so the error is captured first and sentry_sdk's DedupeIntegration
drops the log record's copy. Routes are not in the ASGI scope: the URLconf's resolver finds
them again when a name is needed, walked as ``django.urls.resolve`` walks it, so that each
pattern on the way is known: a ``path()`` route names itself (``items/<int:item_id>``), a
``re_path()`` regex is made readable (``articles/{year}/``).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from django.core.handlers.asgi import get_script_prefix
from django.core.signals import got_request_exception
from django.urls import URLResolver, get_resolver, get_urlconf
from django.urls.resolvers import RegexPattern

from sentry_asgi.frameworks import Framework, Match
from sentry_asgi.frameworks._regex import readable
from sentry_asgi.frameworks._report import report

if TYPE_CHECKING:
    from sentry_asgi._asgi import Scope

MECHANISM = "django"


def _on_exception(sender: object, **kwargs: Any) -> None:  # noqa: ARG001 - a receiver's signature
    # Django sends no exception with the signal: the one being handled is the view's.
    report(sys.exc_info()[1], MECHANISM)


def _match(scope: Scope) -> Match | None:
    # Django routes the path below its script prefix: FORCE_SCRIPT_NAME, else the root path.
    root = str(get_script_prefix(scope))
    path = str(scope.get("path") or "/")
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    found = _resolve(get_resolver(get_urlconf()), path)
    if found is None:
        return None
    patterns, matched = found
    view = getattr(matched.func, "view_class", matched.func)  # a class-based view by its class
    template = "".join(_readable(pattern) for pattern in patterns)
    return Match(f"{root.rstrip('/')}/{template}", view)


def _resolve(resolver: Any, path: str) -> tuple[list[Any], Any] | None:
    """The patterns below ``resolver`` that lead to the path's view, outermost first, and its match.

    Django's ``resolve`` keeps only their text, joined (``ResolverMatch.route``), where a regex
    can no longer be told from a ``path()`` route.
    """
    matched = resolver.pattern.match(path)
    if not matched:
        return None
    rest = matched[0]
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):  # an include()
            found = _resolve(entry, rest)
            if found is not None:
                return [entry.pattern, *found[0]], found[1]
        else:
            match = entry.resolve(rest)
            if match:
                return [entry.pattern], match
    return None


def _readable(pattern: object) -> str:
    return readable(str(pattern)) if isinstance(pattern, RegexPattern) else str(pattern)


def install(_app: object) -> Framework:
    """Connect the error signal (once per process, whatever the number of apps)."""
    got_request_exception.connect(_on_exception, dispatch_uid="sentry_asgi")
    return Framework(match=_match, reroutes=True)
