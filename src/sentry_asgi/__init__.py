"""Sentry middleware for any ASGI application."""

from sentry_asgi._version import __version__

__all__ = ["__version__"]
