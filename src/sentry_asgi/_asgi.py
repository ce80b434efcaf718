"""The ASGI vocabulary this package speaks, and the ASGI2 -> ASGI3 adapter."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from typing import Any, TypeAlias

# Loose on purpose: stricter public types break users' type checks (as in Starlette).
Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]


def scope_headers(scope: Scope) -> Iterable[Any]:
    """The scope's header pairs, or none when reading them would use them up.

    ASGI types ``headers`` as an iterable. Servers send a list, but a one-shot iterator read
    here would reach the app empty, so it is left alone (and the request data has no headers).
    """
    headers = scope.get("headers")
    if type(headers) is list or type(headers) is tuple:
        return headers
    if isinstance(headers, Iterable) and not isinstance(headers, Iterator):
        return headers
    return ()  # absent, not iterable, or an iterator


def is_asgi3(app: object) -> bool:
    """Tell an ASGI3 app (one coroutine call) from an ASGI2 one (a factory per scope).

    The same test uvicorn applies: a class is ASGI2 unless its instances are awaitable,
    anything else is ASGI3 when calling it gives a coroutine. A ``functools.partial`` is
    judged by what it wraps, and an object marked as a coroutine function (``AsyncMock``) by
    that mark, not by its ``__call__``.
    """
    while isinstance(app, functools.partial):
        app = app.func
    if inspect.isclass(app):
        return hasattr(app, "__await__")
    if inspect.isfunction(app) or inspect.ismethod(app):
        return inspect.iscoroutinefunction(app)
    if _is_coroutine_function(app):
        return True
    call = getattr(app, "__call__", None)  # noqa: B004 - we want the method itself
    return _is_coroutine_function(call)


def _is_coroutine_function(func: object) -> bool:
    return inspect.iscoroutinefunction(func) or asyncio.iscoroutinefunction(func)


def as_asgi3(app: Any) -> ASGIApp:
    """Return ``app`` as an ASGI3 callable, wrapping a double-callable ASGI2 app."""
    if is_asgi3(app):
        return app  # type: ignore[no-any-return]

    async def asgi2_adapter(scope: Scope, receive: Receive, send: Send) -> None:
        await app(scope)(receive, send)

    asgi2_adapter.__qualname__ = f"asgi2_adapter({getattr(app, '__qualname__', app)!s})"
    return asgi2_adapter
