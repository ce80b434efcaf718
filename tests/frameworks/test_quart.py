"""Quart specifics: it can match a request before the app runs, for traces_sampler."""

from __future__ import annotations

import pytest

from frameworks.apps.quart_app import quart_app
from sentry_asgi import SentryMiddleware

pytestmark = pytest.mark.anyio


async def test_traces_sampler_sees_the_route_before_the_app_runs(sentry_init, http):
    """Where the framework can match the request up front, traces_sampler gets its route template."""
    seen = []

    def sampler(context):
        seen.append(context.get("http.route"))
        return 1.0

    sentry_init(auto_enabling_integrations=False, traces_sampler=sampler)
    await http(SentryMiddleware(quart_app()), "/items/42")
    assert seen == ["/items/<int:item_id>"]
