"""Scrubbing changes what is sent, never what the app holds, and no data shape defeats it."""

from __future__ import annotations

import json

import pytest
import sentry_sdk
from conftest import call, http_scope

from sentry_asgi import SentryMiddleware
from sentry_asgi._scrub import FILTERED, Secrets

pytestmark = pytest.mark.anyio

TOKEN = "s3cr3t-upstream-token"  # noqa: S105 - a fake secret
HEADERS = [(b"host", b"h"), (b"authorization", f"Bearer {TOKEN}".encode())]


async def respond(send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.mark.parametrize("traces_sample_rate", [None, 1.0])
async def test_the_apps_own_objects_come_out_of_an_event_unchanged(sentry_init, traces_sample_rate):
    """Context, extra, user and breadcrumb data the app handed to sentry_sdk keep their secrets."""
    transport = sentry_init(traces_sample_rate=traces_sample_rate)
    upstream = {"forward_header": f"Bearer {TOKEN}", TOKEN: "as a key"}
    outgoing = ["https://api.example/x", TOKEN, (TOKEN, 1)]
    crumb = {"sent": f"Bearer {TOKEN}"}
    before = json.dumps([upstream, outgoing, crumb])

    async def app(scope, receive, send):
        sentry_sdk.set_context("upstream", upstream)
        sentry_sdk.set_extra("outgoing", outgoing)
        sentry_sdk.set_user({"id": "1", "api": {"token": TOKEN}})
        sentry_sdk.add_breadcrumb(message="upstream call", data=crumb)
        if traces_sample_rate is None:
            sentry_sdk.capture_message("something noteworthy")
        await respond(send)

    await call(SentryMiddleware(app), http_scope(headers=HEADERS))
    assert json.dumps([upstream, outgoing, crumb]) == before
    (sent,) = transport.events if traces_sample_rate is None else transport.transactions
    text = json.dumps(sent)
    assert TOKEN not in text
    assert sent["contexts"]["upstream"]["forward_header"] == f"Bearer {FILTERED}"
    assert sent["extra"]["outgoing"][1] == FILTERED


async def test_a_cycle_in_event_data_cannot_carry_a_secret_out(sentry_init):
    """A self-referencing extra is cut where the walk stops, and the rest is still scrubbed."""
    transport = sentry_init()
    looped: list[object] = [f"Bearer {TOKEN}"]
    looped.append(looped)

    async def app(scope, receive, send):
        sentry_sdk.set_extra("looped", looped)
        sentry_sdk.add_breadcrumb(message=f"called with Bearer {TOKEN}")
        sentry_sdk.capture_message("with a cycle")
        await respond(send)

    await call(SentryMiddleware(app), http_scope(headers=HEADERS))
    (event,) = transport.events
    assert TOKEN not in json.dumps(event)
    assert event["breadcrumbs"]["values"][-1]["message"] == f"called with Bearer {FILTERED}"


def test_a_tree_without_secrets_is_returned_as_the_very_same_objects():
    """Nothing to replace means nothing copied: the cheap path of most events."""
    secrets = Secrets()
    secrets.add(TOKEN)
    inner = {"a": ["x", ("y", 2)], "b": None}
    event = {"extra": inner}
    secrets.scrub_tree(event)
    assert event["extra"] is inner
    assert secrets.scrub_tree(inner) is inner


def test_the_filtered_marker_itself_is_never_a_secret():
    """A value sentry_sdk already filtered (data_collection's frame variables) adds nothing to search for."""
    secrets = Secrets()
    for marker in (FILTERED, repr(FILTERED)[1:-1], f" {FILTERED} "):
        secrets.add(marker)
    assert not secrets


def test_a_number_or_address_inside_a_longer_secret_does_not_stand_in_for_it():
    """10.0.0.1 is matched whole, so it cannot replace the search for 10.0.0.12 too."""
    secrets = Secrets()
    for secret in ("10.0.0.1", "10.0.0.12", "1234", "12345"):
        secrets.add(secret)
    text = "a 10.0.0.12 b 10.0.0.1:80 c 12345 d 1234 e 123456 f 110.0.0.1"
    assert secrets.scrub(text) == (
        f"a {FILTERED} b {FILTERED}:80 c {FILTERED} d {FILTERED} e 123456 f 110.0.0.1"
    )
