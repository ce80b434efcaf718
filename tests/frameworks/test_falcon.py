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


async def test_a_method_the_resource_lacks_is_named_after_its_route(sentry_init, http):
    """A 405 (a responder Falcon makes for every resource) is named after the route, not Falcon's function."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = SentryMiddleware(falcon_app())
    assert (await http(app, "/items/9", method="DELETE")).status_code == 405
    (transaction,) = transport.transactions
    assert transaction["transaction"] == "/items/{item_id:int}"
    assert transaction["transaction_info"] == {"source": "route"}
