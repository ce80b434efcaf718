"""The one place that touches a private sentry_sdk name; tests fail loudly if it moves.

sentry_sdk auto-enables its Starlette and FastAPI integrations, which wrap the app in its own
ASGI middleware. Inside ours that would mean a second error event per exception and a second
transaction per request. sentry_sdk's middleware steps aside when its re-entrancy flag is set,
so ours sets that flag for the duration of each request it handles.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any

try:
    from sentry_sdk.integrations.asgi import (
        _asgi_middleware_applied as _sdk_flag,  # type: ignore[attr-defined]
    )
except ImportError:  # pragma: no cover - only if sentry_sdk drops or renames it
    _sdk_flag = None

_flag: ContextVar[Any] | None = _sdk_flag if isinstance(_sdk_flag, ContextVar) else None


def silence_builtin_asgi_middleware() -> Token[Any] | None:
    """Make sentry_sdk's own ASGI middleware pass requests through untouched."""
    return _flag.set(True) if _flag is not None else None


def restore_builtin_asgi_middleware(token: Token[Any] | None) -> None:
    """Undo :func:`silence_builtin_asgi_middleware`."""
    if _flag is not None and token is not None:
        _flag.reset(token)


def builtin_flag_available() -> bool:
    """Tell whether the flag was found (the test suite asserts it, per sentry_sdk version)."""
    return _flag is not None
