"""Falcon specifics: the middleware's catch-all error handler hands over to one the app had."""

from __future__ import annotations

import pytest

from frameworks.apps.falcon_app import falcon_app
from sentry_asgi import SentryMiddleware

pytestmark = pytest.mark.anyio


async def test_an_earlier_catch_all_handler_still_answers(sentry_init, http):
    """An Exception handler the app registered before wrapping still renders the response, after the report."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = falcon_app()

    async def teapot(req, resp, ex, params):
        resp.status = 418

    app.add_error_handler(Exception, teapot)
    wrapped = SentryMiddleware(app)
    SentryMiddleware(app)  # wrapping twice adds nothing
    assert (await http(wrapped, "/items/9")).status_code == 418
    assert len(transport.events) == 1
