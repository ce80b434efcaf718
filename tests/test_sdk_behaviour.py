"""sentry_sdk behaviour this package relies on or works around: an upgrade that changes it fails here."""

from __future__ import annotations

import warnings

import pytest
import sentry_sdk
from conftest import call, http_scope
from sentry_sdk.integrations.asgi import SentryAsgiMiddleware

from sentry_asgi import SentryMiddleware

pytestmark = pytest.mark.anyio

SDK = tuple(int(part) for part in sentry_sdk.VERSION.split(".")[:2])


@pytest.mark.skipif(SDK < (2, 75), reason="the deprecation arrived in sentry-sdk 2.75")
def test_send_default_pii_is_deprecated_in_favour_of_data_collection():
    """sentry_sdk 2.75 warns on send_default_pii; the middleware honours both options regardless."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sentry_sdk.init(send_default_pii=True, default_integrations=False)
    sentry_sdk.init(default_integrations=False, auto_enabling_integrations=False)
    assert any("send_default_pii" in str(w.message) for w in caught)


async def test_sdk_asgi_middleware_still_captures_when_it_steps_aside(sentry_init):
    """sentry_sdk's ASGI middleware, told to pass through, still captures; the repeat filter keeps one event."""
    transport = sentry_init(auto_enabling_integrations=False)

    async def app(scope, receive, send):
        raise RuntimeError("once")

    inner = SentryAsgiMiddleware(app)  # as sentry_sdk's Starlette integration wraps an app
    with pytest.raises(RuntimeError):
        await call(SentryMiddleware(inner), http_scope())
    (event,) = transport.events
    # The capture is sentry_sdk's (it runs first, inside ours); ours adds the request to it.
    assert event["exception"]["values"][-1]["mechanism"]["type"] == "asgi"
    assert event["request"]["url"] == "http://testserver/"
    assert transport.transactions == []
