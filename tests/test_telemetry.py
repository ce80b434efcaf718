"""Logs and streamed spans skip event processors: secrets are kept out of them all the same."""

from __future__ import annotations

import asyncio
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


def credentials(scope) -> str:
    """The Authorization header the request sent, as the app reads it."""
    return dict(scope["headers"])[b"authorization"].decode()


async def items_sent(transport, app, kind: str) -> list:
    """Run ``app`` on a request carrying the token; the items of ``kind`` sentry_sdk then sent."""
    await call(SentryMiddleware(app), http_scope(headers=HEADERS))
    sentry_sdk.flush()
    return transport.batched(kind)


@pytest.mark.parametrize("hooked", [True, False], ids=["scrub_log", "no-hook"])
async def test_logs_have_the_requests_secrets_removed_hook_or_none(sentry_init, hooked):
    """What the app logs during a request has its secrets removed, scrub_log or not."""
    options = {"before_send_log": scrub_log} if hooked else {}
    transport = sentry_init(enable_logs=True, **options)

    async def app(scope, receive, send):
        auth = credentials(scope)
        logging.getLogger("app").warning("rejected credentials %s", auth)
        sentry_sdk.logger.warning("rejected credentials {auth}", auth=auth)
        await respond(send)

    logs = await items_sent(transport, app, "log")
    assert len(logs) == 2
    assert TOKEN not in json.dumps(logs)
    assert logs[0]["body"] == "rejected credentials Bearer [Filtered]"


@pytest.mark.parametrize("spelling", ["option", "experimental"])
async def test_the_apps_own_log_hook_sees_logs_without_the_requests_secrets(sentry_init, spelling):
    """A before_send_log of the app's (either spelling) still runs, on the log with secrets out."""
    seen = []

    def keep_warnings(log, hint):
        seen.append(log["body"])
        return log if log["severity_text"] == "warn" else None

    hook = {"before_send_log": keep_warnings}
    options = hook if spelling == "option" else {"_experiments": hook}
    transport = sentry_init(enable_logs=True, **options)

    async def app(scope, receive, send):
        auth = credentials(scope)
        sentry_sdk.logger.warning("rejected credentials {auth}", auth=auth)
        sentry_sdk.logger.info("checked {auth}", auth=auth)
        await respond(send)

    logs = await items_sent(transport, app, "log")
    assert seen == ["rejected credentials Bearer [Filtered]", "checked Bearer [Filtered]"]
    assert [log["body"] for log in logs] == ["rejected credentials Bearer [Filtered]"]


async def test_metrics_have_the_requests_secrets_removed(sentry_init):
    """A metric the app records with a request's secret in an attribute is sent without it."""
    transport = sentry_init()

    async def app(scope, receive, send):
        auth = credentials(scope)
        sentry_sdk.metrics.count("login.rejected", 1, attributes={"credentials": auth})
        await respond(send)

    metrics = await items_sent(transport, app, "trace_metric")
    assert len(metrics) == 1
    assert TOKEN not in json.dumps(metrics)
    assert metrics[0]["attributes"]["credentials"]["value"] == "Bearer [Filtered]"


@pytest.mark.parametrize("hooked", [True, False], ids=["scrub_span", "no-hook"])
async def test_streamed_spans_have_the_requests_secrets_removed_hook_or_none(sentry_init, hooked):
    """A span the app names or describes with a request's secret is cleaned, scrub_span or not."""
    options = {"before_send_span": scrub_span} if hooked else {}
    transport = sentry_init(traces_sample_rate=1.0, trace_lifecycle="stream", **options)

    async def app(scope, receive, send):
        auth = credentials(scope)
        with sentry_sdk.traces.start_span(name=f"verify {auth}") as span:
            span.set_attribute("app.credentials", auth)
        await respond(send)

    spans = await items_sent(transport, app, "span")
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
        auth = credentials(scope)
        sentry_sdk.logger.warning("rejected", attributes={"status": auth})
        with sentry_sdk.traces.start_span(name="verify") as span:
            span.set_attribute("status", auth)
            span.set_attribute("type", auth)
        await respond(send)

    spans = await items_sent(transport, app, "span")
    logs = transport.batched("log")
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


async def test_the_hooks_the_app_calls_itself_in_a_request_remove_its_secrets(sentry_init):
    """scrub_log and scrub_span, called by the app's own code during a request, return the item without the request's secrets."""
    sentry_init()
    cleaned = []

    async def app(scope, receive, send):
        for hook in (scrub_log, scrub_span):
            cleaned.append(hook({"body": f"rejected {credentials(scope)}", "attributes": {}}, {}))
        await respond(send)

    await call(SentryMiddleware(app), http_scope(headers=HEADERS))
    assert [item["body"] for item in cleaned] == ["rejected Bearer [Filtered]"] * 2


async def test_a_log_a_requests_task_writes_after_the_request_has_its_secrets_removed(sentry_init):
    """A task the request spawned logs after the request ended: its secrets are still removed."""
    transport = sentry_init(enable_logs=True)
    logged = asyncio.Event()
    tasks = []

    async def log_later(auth):
        await asyncio.sleep(0.01)
        sentry_sdk.logger.warning("late {auth}", auth=auth)
        logged.set()

    async def app(scope, receive, send):
        tasks.append(asyncio.get_running_loop().create_task(log_later(credentials(scope))))
        await respond(send)

    assert await items_sent(transport, app, "log") == []
    await logged.wait()
    sentry_sdk.flush()
    logs = transport.batched("log")
    assert [log["body"] for log in logs] == ["late Bearer [Filtered]"]


@pytest.mark.parametrize("hooked", [True, False], ids=["scrub_log", "no-hook"])
async def test_a_log_written_after_the_response_has_the_token_it_issued_removed(
    sentry_init, hooked
):
    """A log written once the response issued a token (a background task's) has that token removed, its type kept."""
    options = {"before_send_log": scrub_log} if hooked else {}
    transport = sentry_init(enable_logs=True, **options)
    issued = "issued" + "-Token-77881234"

    async def app(scope, receive, send):
        body = json.dumps({"access_token": issued, "token_type": "bearer"}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
        logging.getLogger("app").warning("welcome mail sent with %s (bearer)", issued)

    logs = await items_sent(transport, app, "log")
    assert [log["body"] for log in logs] == ["welcome mail sent with [Filtered] (bearer)"]
