"""Litestar specifics: the after_exception hook is added to the app once, however often it is wrapped."""

from __future__ import annotations

from frameworks.apps.litestar_app import litestar_app
from sentry_asgi import SentryMiddleware


def test_wrapping_twice_adds_the_hook_once():
    """The after_exception hook is added once per app, however often the app is wrapped."""
    app = litestar_app()
    SentryMiddleware(app)
    SentryMiddleware(app)
    assert len(app.after_exception) == 1
