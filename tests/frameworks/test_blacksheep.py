"""BlackSheep specifics: an Exception handler the app already had keeps answering."""

from __future__ import annotations

import pytest
from blacksheep import Response
from blacksheep.contents import TextContent

from frameworks.apps.blacksheep_app import blacksheep_app
from sentry_asgi import SentryMiddleware

pytestmark = pytest.mark.anyio


async def test_an_earlier_catch_all_handler_still_answers(sentry_init, http):
    """An Exception handler the app set before wrapping still answers; its 5xx is reported, once."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = blacksheep_app()

    async def unavailable(app, request, exc):
        return Response(503, content=TextContent("later"))

    app.exceptions_handlers[Exception] = unavailable
    wrapped = SentryMiddleware(app)
    SentryMiddleware(app)  # wrapping twice adds nothing
    assert (await http(wrapped, "/items/9")).status_code == 503
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "item 9"
