"""Django specifics: a healthy response passes through untouched, with nothing reported."""

from __future__ import annotations

import pytest

from frameworks.apps.django_app import django_app
from sentry_asgi import SentryMiddleware

pytestmark = pytest.mark.anyio


async def test_healthy_request_passes_through(sentry_init, http):
    """A healthy Django response reaches the client untouched, with nothing reported."""
    transport = sentry_init(auto_enabling_integrations=False)
    response = await http(SentryMiddleware(django_app()), "/fine")
    assert (response.status_code, response.text) == (200, "ok")
    assert transport.events == []
