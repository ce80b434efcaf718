"""Secrets kept in the process through every channel, whatever the consent options."""

from __future__ import annotations

import json

import pytest
from test_body import PASSWORD, body_scope, capture, json_reader

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "content_type", ["text/json", "application/x-json", "application/octet-stream"]
)
async def test_json_body_under_any_other_content_type_is_parsed_and_filtered(
    sentry_init, content_type
):
    """A JSON body sent as text/json (which FastAPI parses as JSON) or the like has its secrets out."""
    transport = sentry_init()
    body = json.dumps({"username": "bob", "password": PASSWORD}).encode()
    messages = [{"type": "http.request", "body": body}]
    event = await capture(transport, json_reader(), body_scope(content_type), messages)
    assert event["request"]["data"] == {"username": "bob", "password": "[Filtered]"}
    assert PASSWORD not in json.dumps(event)
