"""Django specifics: its signal is process-wide, and a healthy response passes through untouched."""

from __future__ import annotations

import pytest

from frameworks.apps.django_app import django_app
from sentry_asgi import SentryMiddleware

pytestmark = pytest.mark.anyio


async def test_two_wrapped_apps_still_report_once(sentry_init, http):
    """Wrapping two Django apps connects the signal once: one event per error."""
    transport = sentry_init(auto_enabling_integrations=False)
    SentryMiddleware(django_app())
    await http(SentryMiddleware(django_app()), "/items/3")
    assert len(transport.events) == 1


async def test_healthy_request_passes_through(sentry_init, http):
    """A healthy Django response reaches the client untouched, with nothing reported."""
    transport = sentry_init(auto_enabling_integrations=False)
    response = await http(SentryMiddleware(django_app()), "/fine")
    assert (response.status_code, response.text) == (200, "ok")
    assert transport.events == []
