"""Logs and streamed spans skip event processors: secrets are kept out of them all the same."""

from __future__ import annotations

import json
import logging

import pytest
import sentry_sdk
from conftest import SDK_VERSION, call, http_scope

from sentry_asgi import SentryMiddleware, scrub_log, scrub_span

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        SDK_VERSION < (2, 75), reason="logs and span streaming as in sentry-sdk 2.75"
    ),
]

TOKEN = "SUPER" + "SECRETTOKEN123"  # built: the source lines sent hold no copy
HEADERS = [(b"host", b"h"), (b"authorization", b"Bearer " + TOKEN.encode())]


async def respond(send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.mark.parametrize("hooked", [True, False], ids=["scrub_log", "no-hook"])
async def test_scrub_log_removes_the_requests_secrets_from_logs(sentry_init, hooked):
    """What the app logs goes out as written unless scrub_log is the before_send_log."""
    options = {"before_send_log": scrub_log} if hooked else {}
    transport = sentry_init(enable_logs=True, **options)

    async def app(scope, receive, send):
        auth = dict(scope["headers"])[b"authorization"].decode()
        logging.getLogger("app").warning("rejected credentials %s", auth)
        sentry_sdk.logger.warning("rejected credentials {auth}", auth=auth)
        await respond(send)

    await call(SentryMiddleware(app), http_scope(headers=HEADERS))
    sentry_sdk.flush()
    logs = [item for batch in transport.items("log") for item in batch["items"]]
    assert len(logs) == 2
    assert (TOKEN in json.dumps(logs)) is not hooked
    if hooked:
        assert logs[0]["body"] == "rejected credentials Bearer [Filtered]"


@pytest.mark.parametrize("hooked", [True, False], ids=["scrub_span", "no-hook"])
async def test_streamed_spans_have_the_requests_secrets_removed_hook_or_none(sentry_init, hooked):
    """A span the app names or describes with a request's secret is cleaned, scrub_span or not."""
    options = {"before_send_span": scrub_span} if hooked else {}
    transport = sentry_init(traces_sample_rate=1.0, trace_lifecycle="stream", **options)

    async def app(scope, receive, send):
        auth = dict(scope["headers"])[b"authorization"].decode()
        with sentry_sdk.traces.start_span(name=f"verify {auth}") as span:
            span.set_attribute("app.credentials", auth)
        await respond(send)

    await call(SentryMiddleware(app), http_scope(headers=HEADERS))
    sentry_sdk.flush()
    spans = [item for batch in transport.items("span") for item in batch["items"]]
    child = next(span for span in spans if not span["is_segment"])
    assert TOKEN not in json.dumps(spans)
    assert child["name"] == "verify Bearer [Filtered]"


async def test_span_and_log_attributes_named_like_their_own_fields_are_scrubbed(sentry_init):
    """An attribute the app calls status or type is its data: the hooks search it too."""
    transport = sentry_init(
        enable_logs=True,
        traces_sample_rate=1.0,
        trace_lifecycle="stream",
        before_send_log=scrub_log,
        before_send_span=scrub_span,
    )

    async def app(scope, receive, send):
        auth = dict(scope["headers"])[b"authorization"].decode()
        sentry_sdk.logger.warning("rejected", attributes={"status": auth})
        with sentry_sdk.traces.start_span(name="verify") as span:
            span.set_attribute("status", auth)
            span.set_attribute("type", auth)
        await respond(send)

    await call(SentryMiddleware(app), http_scope(headers=HEADERS))
    sentry_sdk.flush()
    spans = [item for batch in transport.items("span") for item in batch["items"]]
    logs = [item for batch in transport.items("log") for item in batch["items"]]
    assert TOKEN not in json.dumps([spans, logs])
    assert logs[0]["attributes"]["status"]["value"] == "Bearer [Filtered]"
    child = next(span for span in spans if not span["is_segment"])
    assert (child["status"], child["attributes"]["status"]["value"]) == (
        "ok",
        "Bearer [Filtered]",
    )


def test_the_hooks_pass_items_outside_a_request_through():
    """Outside a request there is nothing to remove: the very same item comes back."""
    item = {"body": f"Bearer {TOKEN}", "attributes": {}}
    assert scrub_log(item, {}) is item
    assert scrub_span(item, {}) is item
