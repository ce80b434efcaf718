"""Sentry middleware for any ASGI application."""

from sentry_asgi._telemetry import scrub_log, scrub_span
from sentry_asgi._version import __version__
from sentry_asgi.middleware import SentryMiddleware

__all__ = ["SentryMiddleware", "__version__", "scrub_log", "scrub_span"]
