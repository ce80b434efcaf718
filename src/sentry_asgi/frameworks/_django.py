"""Django: its handler answers a view's exception with a 500 itself, and logs it.

The ``got_request_exception`` signal fires (with the exception being handled) before the
log record is written, so the error is captured first and sentry_sdk's DedupeIntegration
drops the log record's copy. Routes are not in the ASGI scope: the URLconf's resolver finds
them again when a name is needed, walked as ``django.urls.resolve`` walks it, so that each
pattern on the way is known: a ``path()`` route names itself (``items/<int:item_id>``), a
``re_path()`` regex is made readable (``articles/{year}/``). A request a middleware gave a
URLconf of its own (``request.urlconf``) is routed with that one, which Django uses for it only
while handling it: the request learns it as Django resolves it.
"""

from __future__ import annotations

import sys
from functools import partial
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.handlers import asgi as django_asgi
from django.core.signals import got_request_exception
from django.urls import URLResolver, get_resolver, get_urlconf
from django.urls.resolvers import LocalePrefixPattern, RegexPattern
from django.utils.translation import get_language_from_path

from sentry_asgi._guard import contained
from sentry_asgi.frameworks import Framework, Match, routed_name
from sentry_asgi.frameworks._regex import readable
from sentry_asgi.frameworks._report import report, report_if_answered_5xx
from sentry_asgi.middleware import current_exchange

if TYPE_CHECKING:
    from collections.abc import Callable

    from sentry_asgi._asgi import Scope

MECHANISM = "django"
# Django 5.0 and later: FORCE_SCRIPT_NAME, else the root path.
_DJANGOS_SCRIPT_PREFIX: Callable[[Scope], str] | None = getattr(
    django_asgi, "get_script_prefix", None
)


def _on_exception(sender: object, **kwargs: Any) -> None:  # noqa: ARG001 - a receiver's signature
    # Django sends no exception with the signal: the one being handled is the view's.
    report(sys.exc_info()[1], MECHANISM)


def _script_prefix(scope: Scope) -> str:
    """The prefix Django routes the path below, as its ASGI handler finds it.

    Django 4.2 routes the path below the root path only, FORCE_SCRIPT_NAME or not.
    """
    if _DJANGOS_SCRIPT_PREFIX is not None:
        return str(_DJANGOS_SCRIPT_PREFIX(scope))
    return str(scope.get("root_path") or "")


def _match(scope: Scope, urlconf: object = None) -> Match | None:
    """Where Django routes the request: with ``urlconf``, else the URLconf it routes with here."""
    root = _script_prefix(scope)
    path = str(scope.get("path") or "/")
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    found = _resolve(get_resolver(urlconf or get_urlconf()), path)
    if found is None:
        return None
    texts, matched, params = found
    view = getattr(matched.func, "view_class", matched.func)  # a class-based view by its class
    template = "".join(texts[1:])  # below the URLconf's own ``^/``
    if root == scope.get("root_path"):  # no FORCE_SCRIPT_NAME: below the app's mount point
        return Match(routed_name(scope, f"/{template}"), view, params)
    return Match(f"{root.rstrip('/')}/{template}", view, params)


def _resolve(resolver: Any, path: str) -> tuple[list[str], Any, dict[str, Any]] | None:
    """The texts of the patterns that lead to the path's view, ``resolver``'s first, its match.

    And the values of every pattern's parameters on the way, as ``ResolverMatch.kwargs`` has them.

    Django's ``resolve`` keeps only their text, joined (``ResolverMatch.route``), where a regex
    can no longer be told from a ``path()`` route.
    """
    matched = _pattern_match(resolver.pattern, path)
    if matched is None:
        return None
    rest, text, params = matched
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):  # an include()
            found = _resolve(entry, rest)
            if found is not None:
                return [text, *found[0]], found[1], {**params, **found[2]}
        else:
            match = entry.resolve(rest)
            if match:
                return [text, readable_pattern(entry.pattern)], match, {**params, **match.kwargs}
    return None


def _pattern_match(pattern: Any, path: str) -> tuple[str, str, dict[str, Any]] | None:
    """The path below ``pattern``, the pattern's text and its parameters' values, if it matches.

    A language prefix (``i18n_patterns``) is the language the path names, which Django's
    LocaleMiddleware activates for the request: not the language active where a name is needed.
    """
    if isinstance(pattern, LocalePrefixPattern):
        prefix = _language_prefix(pattern, path)
        return (path[len(prefix) :], prefix, {}) if path.startswith(prefix) else None
    matched = pattern.match(path)
    return (matched[0], readable_pattern(pattern), matched[2]) if matched else None


def _language_prefix(pattern: LocalePrefixPattern, path: str) -> str:
    """``pattern.language_prefix`` with the path's own language active, as Django routes it."""
    language = get_language_from_path(f"/{path}") or settings.LANGUAGE_CODE
    if language == settings.LANGUAGE_CODE and not pattern.prefix_default_language:
        return ""
    return f"{language}/"


def readable_pattern(pattern: object) -> str:
    """A ``path()`` route as written, a ``re_path()`` regex made readable."""
    return readable(str(pattern)) if isinstance(pattern, RegexPattern) else str(pattern)


class _ReportIfAnswered5xx:
    """A middleware's ``process_exception``, reporting the exception it answers with a 5xx.

    Django sends no signal for an exception a middleware answers: a domain error answered 404 is
    no error; an answer of 503 is the app's failure, reported as the exception once it is sent.
    """

    __slots__ = ("process_exception",)

    def __init__(self, process_exception: Callable[[Any, Exception], Any]) -> None:
        self.process_exception = process_exception

    def __call__(self, request: Any, exception: Exception) -> Any:
        response = self.process_exception(request, exception)
        if response is not None:
            report_if_answered_5xx(exception, MECHANISM)
        return response


# Routes found in the URLconf Django routes with where the name is needed: the default one.
_ROUTES = Framework(match=_match, reroutes=True)


class _ResolveWithTheRequestsURLconf:
    """The app's ``resolve_request``, telling the request which URLconf Django routes it with.

    Django routes with ``request.urlconf`` (set by a middleware) only while it handles the
    request: afterwards, where the request is named, the default URLconf would be found again.
    """

    __slots__ = ("resolve_request",)

    def __init__(self, resolve_request: Callable[[Any], Any]) -> None:
        self.resolve_request = resolve_request

    def __call__(self, request: Any) -> Any:
        urlconf = getattr(request, "urlconf", None)
        if urlconf is not None:
            with contained():
                _route_with(urlconf)
        return self.resolve_request(request)


def _route_with(urlconf: object) -> None:
    """Have the request named after ``urlconf``'s routes, if it is named after Django's.

    Also below routers that passed it on to Django as it is (Channels'): Django is where it went.
    """
    exchange = current_exchange()
    if exchange is None:
        return
    framework = exchange.framework
    if framework is _ROUTES or (framework is not None and framework.passes_on):
        exchange.rerouted(Framework(match=partial(_match, urlconf=urlconf), reroutes=True))


def install(app: object) -> Framework:
    """Connect the error signal (once per process), and wrap the app's own request handling.

    Django keeps the ``process_exception`` methods of the app's middleware as
    ``_exception_middleware`` only, loaded when the app is made; it resolves each request with
    ``resolve_request`` (Django 3.1 and later).
    """
    got_request_exception.connect(_on_exception, dispatch_uid="sentry_asgi")
    methods = getattr(app, "_exception_middleware", None)
    if isinstance(methods, list):
        methods[:] = [
            method if isinstance(method, _ReportIfAnswered5xx) else _ReportIfAnswered5xx(method)
            for method in methods
        ]
    resolve_request = getattr(app, "resolve_request", None)
    if callable(resolve_request) and not isinstance(
        resolve_request, _ResolveWithTheRequestsURLconf
    ):
        app.resolve_request = _ResolveWithTheRequestsURLconf(resolve_request)  # type: ignore[attr-defined]
    return _ROUTES
