"""Sentry middleware for any ASGI application."""

from sentry_asgi._version import __version__
from sentry_asgi.middleware import SentryMiddleware

__all__ = ["SentryMiddleware", "__version__"]
