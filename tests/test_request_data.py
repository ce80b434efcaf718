"""The request data on each event: complete, as sent, built lazily, and secret-safe by default."""

from __future__ import annotations

import json

import pytest
from apps.failing import fail
from conftest import call, http_scope, needs_data_collection
from sentry_sdk.scrubber import EventScrubber

from sentry_asgi import SentryMiddleware

pytestmark = pytest.mark.anyio


SECRET_HEADERS = [
    (b"host", b"shop.example"),
    (b"authorization", b"Bearer tok-abcdef123456"),
    (b"proxy-authorization", b"Basic cHJveHk6c2VjcmV0"),
    (b"cookie", b"sessionid=sess-987654321; theme=dark"),
    (b"x-api-key", b"key-0123456789"),
    (b"x-auth-token", b"xauth-55555555"),
    (b"x-forwarded-for", b"198.51.100.23"),
    (b"accept", b"text/html"),
    (b"accept", b"application/json"),
]
SECRET_VALUES = [
    "tok-abcdef123456",
    "cHJveHk6c2VjcmV0",
    "sess-987654321",
    "key-0123456789",
    "xauth-55555555",
    "sig-4444444444",
    "hunter2hunter2",
]


async def capture_one(transport, scope):
    with pytest.raises(RuntimeError):
        await call(SentryMiddleware(fail), scope)
    (event,) = transport.events
    return event


def secret_scope(**overrides):
    return http_scope(
        "/orders/7",
        method="post",
        headers=SECRET_HEADERS,
        query_string=b"page=2&token=hunter2hunter2&X-Amz-Signature=sig-4444444444&q=caf%C3%A9+au+lait",
        **overrides,
    )


async def test_request_interface_is_complete_and_as_sent(sentry_init):
    """url, method, query string (not unquoted) and headers (repeats joined) are all there."""
    transport = sentry_init(send_default_pii=True)
    event = await capture_one(transport, secret_scope())
    request = event["request"]
    assert request["url"] == "http://shop.example/orders/7"
    assert request["method"] == "POST"
    assert request["query_string"].endswith("&q=caf%C3%A9+au+lait")
    assert request["headers"]["accept"] == "text/html, application/json"
    assert request["env"] == {"REMOTE_ADDR": "203.0.113.7"}


async def test_no_secret_leaves_by_default(sentry_init):
    """Without a PII opt-in, no secret value appears anywhere in the event, frame variables included."""
    transport = sentry_init()
    event = await capture_one(transport, secret_scope())
    text = json.dumps(event)
    for secret in SECRET_VALUES:
        assert secret not in text
    headers = event["request"]["headers"]
    for name in ("authorization", "proxy-authorization", "x-api-key", "x-auth-token"):
        assert headers[name] == "[Filtered]"
    assert headers["accept"] == "text/html, application/json"
    assert "env" not in event["request"]
    assert "198.51.100.23" not in text
    assert "203.0.113.7" not in text
    assert "page=2" in event["request"]["query_string"]
    # The ASGI scope is in the app's frame variables; its raw headers must be scrubbed there too.
    frames = event["exception"]["values"][0]["stacktrace"]["frames"]
    assert any("scope" in (frame.get("vars") or {}) for frame in frames)


async def test_pii_opt_in_sends_headers_and_address(sentry_init):
    """send_default_pii=True is honoured: raw headers and REMOTE_ADDR are sent."""
    transport = sentry_init(send_default_pii=True, event_scrubber=None)
    event = await capture_one(transport, secret_scope())
    assert event["request"]["env"]["REMOTE_ADDR"] == "203.0.113.7"
    assert event["request"]["headers"]["x-forwarded-for"] == "198.51.100.23"


@pytest.mark.parametrize(
    ("scrubber", "cookie", "authorization"),
    [
        ({}, "[Filtered]", "[Filtered]"),
        (
            {"event_scrubber": EventScrubber(denylist=[])},
            "sessionid=sess-987654321; theme=dark",
            "Bearer tok-abcdef123456",
        ),
    ],
)
async def test_sdks_scrubber_decides_the_cookie_and_authorization_sent_with_pii(
    sentry_init, scrubber, cookie, authorization
):
    """With PII consent sentry_sdk's default scrubber still hides them; an empty denylist sends them."""
    transport = sentry_init(send_default_pii=True, **scrubber)
    headers = (await capture_one(transport, secret_scope()))["request"]["headers"]
    assert (headers["cookie"], headers["authorization"]) == (cookie, authorization)
    assert headers["x-api-key"] == "key-0123456789"


@needs_data_collection
async def test_data_collection_wins_over_send_default_pii(sentry_init):
    """data_collection decides when both are set: here no user info, despite send_default_pii."""
    transport = sentry_init(
        send_default_pii=True,
        data_collection={"user_info": False, "http_headers": {"request": {"mode": "denylist"}}},
    )
    event = await capture_one(transport, secret_scope())
    assert "env" not in event["request"]
    text = json.dumps(event)
    for secret in SECRET_VALUES:
        assert secret not in text


@pytest.mark.parametrize(
    ("overrides", "url"),
    [
        ({"headers": []}, "http://127.0.0.1:8000/orders/7"),
        ({"headers": [(b"host", b"")], "server": ("10.0.0.1", 80)}, "http://10.0.0.1/orders/7"),
        ({"headers": [], "server": None}, "/orders/7"),
        ({"headers": [(b"host", b"h")], "scheme": None}, "http://h/orders/7"),
        (
            {"headers": [(b"host", b"h")], "root_path": "/api", "path": "/api/orders/7"},
            "http://h/api/orders/7",
        ),
        (
            {"headers": [(b"host", b"h")], "root_path": "/api", "path": "/orders/7"},
            "http://h/api/orders/7",
        ),
        (
            {"headers": [(b"host", b"h")], "root_path": "/api", "path": "/api-docs"},
            "http://h/api/api-docs",
        ),
        ({"headers": [(b"host", b"h")], "path": "/caf\u00e9/7"}, "http://h/caf%C3%A9/7"),
        ({"headers": [(b"host", b"h"), (b"x-bin", b"\xff\xfe")]}, "http://h/orders/7"),
        (
            {"headers": [(b"host", b"evil/<script>")], "server": ("h", 8080)},
            "http://h:8080/orders/7",
        ),
    ],
)
async def test_malformed_or_missing_parts_never_break_the_event(sentry_init, overrides, url):
    """Missing Host/server/scheme, mount prefixes, unicode paths and non-UTF-8 bytes still give a valid URL."""
    transport = sentry_init()
    scope = {**http_scope("/orders/7", client=None), **overrides}
    event = await capture_one(transport, scope)
    assert event["request"]["url"] == url


@pytest.mark.parametrize(("scheme", "port"), [("http", "80"), ("https", "443")])
async def test_a_default_port_given_as_text_is_left_out_of_the_url(sentry_init, scheme, port):
    """Granian gives the server's port as text: the scheme's default port is still left out."""
    transport = sentry_init()
    # What granian sends for an HTTP/1.0 request without a Host header.
    scope = http_scope(
        "/orders/7", scheme=scheme, headers=[(b"host", b"")], server=("127.0.0.1", port)
    )
    event = await capture_one(transport, scope)
    assert event["request"]["url"] == f"{scheme}://127.0.0.1/orders/7"


async def test_websocket_url_uses_ws_scheme(sentry_init):
    """A websocket connection's error carries a ws:// (or wss://) URL."""
    transport = sentry_init()

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        raise RuntimeError("ws boom")

    scope = http_scope("/chat", type="websocket", scheme="wss")
    del scope["method"]
    with pytest.raises(RuntimeError):
        await call(SentryMiddleware(app), scope, [{"type": "websocket.connect"}])
    (event,) = transport.events
    assert event["request"]["url"] == "wss://testserver/chat"
    assert "method" not in event["request"]


async def test_request_data_is_built_only_when_an_event_is(sentry_init):
    """A request that produces no event never decodes its headers (the scope is not even read for them)."""
    sentry_init()

    class Headers(list):
        reads = 0

        def __iter__(self):
            Headers.reads += 1
            return super().__iter__()

    async def ok(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    scope = http_scope()
    scope["headers"] = Headers(scope["headers"])
    await call(SentryMiddleware(ok), scope)
    assert Headers.reads == 1  # the single scan for trace headers; no decoding, no filtering
