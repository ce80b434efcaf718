"""Secure by default: secrets stay in the process, spoofable headers are not believed."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
import sentry_sdk
from conftest import call, http_scope

from sentry_asgi import SentryMiddleware
from sentry_asgi._client_ip import client_ip, forwarded_for, x_forwarded_for
from sentry_asgi._options import build_options
from sentry_asgi._sdk import builtin_flag_available

pytestmark = pytest.mark.anyio

TOKEN = 'tok"en/with+odd&chars'  # noqa: S105 - a fake secret whose encodings all differ
HEADERS = [
    (b"host", b"h"),
    (b"authorization", f"Bearer {TOKEN}".encode()),
    (b"cookie", b"session=s3ss10n-v4lue"),
]


def encodings(secret: str) -> list[str]:
    return [secret, quote(secret, safe=""), json.dumps(secret)[1:-1], repr(secret.encode())[2:-1]]


async def test_attach_stacktrace_message_events_are_scrubbed_too(sentry_init):
    """With attach_stacktrace, a message's stack (holding the ASGI scope) carries no secret."""
    transport = sentry_init(attach_stacktrace=True)

    async def app(scope, receive, send):
        raw = dict(scope["headers"])  # the app holds the raw values in its frame, too
        sentry_sdk.capture_message("checkout slow")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(len(raw)).encode()})

    await call(SentryMiddleware(app), http_scope(headers=HEADERS))
    (event,) = transport.events
    frames = event["threads"]["values"][0]["stacktrace"]["frames"]
    assert any(frame.get("function") == "app" for frame in frames)
    text = json.dumps(event)
    for form in [*encodings(TOKEN), "s3ss10n-v4lue"]:
        assert form not in text


async def test_secret_encodings_are_scrubbed_from_frame_variables(sentry_init):
    """JSON-, repr- and URL-encoded copies of a secret in local variables are removed."""
    transport = sentry_init()

    async def app(scope, receive, send):
        as_json = json.dumps({"auth": f"Bearer {TOKEN}"})
        as_url = "https://api.example/?t=" + quote(TOKEN, safe="")
        as_repr = repr(TOKEN.encode())
        raise RuntimeError(f"{len(as_json)} {len(as_url)} {len(as_repr)}")

    with pytest.raises(RuntimeError):
        await call(SentryMiddleware(app), http_scope(headers=HEADERS))
    (event,) = transport.events
    text = json.dumps(event)
    for form in encodings(TOKEN):
        assert form not in text


async def test_forwarded_for_is_ignored_without_trusted_proxies(sentry_init):
    """X-Forwarded-For from an untrusted peer is not believed: REMOTE_ADDR is the peer."""
    transport = sentry_init(send_default_pii=True)

    async def app(scope, receive, send):
        raise RuntimeError

    headers = [(b"host", b"h"), (b"x-forwarded-for", b"6.6.6.6")]
    with pytest.raises(RuntimeError):
        await call(SentryMiddleware(app), http_scope(headers=headers, client=("10.0.0.5", 1)))
    assert transport.events[0]["request"]["env"]["REMOTE_ADDR"] == "10.0.0.5"


async def test_trusted_proxy_hop_gives_the_client_address(sentry_init):
    """Behind a trusted proxy, the first untrusted hop from the right is the client."""
    transport = sentry_init(send_default_pii=True)

    async def app(scope, receive, send):
        raise RuntimeError

    headers = [(b"host", b"h"), (b"x-forwarded-for", b"6.6.6.6, 198.51.100.9, 10.0.0.7")]
    middleware = SentryMiddleware(app, trusted_proxies=["10.0.0.0/8"])
    with pytest.raises(RuntimeError):
        await call(middleware, http_scope(headers=headers, client=("10.0.0.5", 1)))
    assert transport.events[0]["request"]["env"]["REMOTE_ADDR"] == "198.51.100.9"


PROXIES = build_options(
    transaction_style="endpoint",
    http_methods_to_capture=(),
    failed_request_status_codes=(),
    exclude_paths=(),
    trusted_proxies=["10.0.0.0/8", "2001:db8::/32"],
).trusted_proxies


@pytest.mark.parametrize(
    ("peer", "hops", "expected"),
    [
        ("10.0.0.1", ["203.0.113.5"], "203.0.113.5"),
        ("10.0.0.1", ["1.1.1.1", "203.0.113.5", "10.0.0.2"], "203.0.113.5"),
        ("10.0.0.1", ["10.0.0.3", "10.0.0.2"], "10.0.0.3"),
        ("10.0.0.1", ["1.1.1.1", "garbage", "10.0.0.2"], "10.0.0.2"),
        ("10.0.0.1", ["203.0.113.5:4711"], "203.0.113.5"),
        ("10.0.0.1", ["[2001:db9::1]:80"], "2001:db9::1"),
        ("2001:db8::1", ["2001:db9::7"], "2001:db9::7"),
        ("192.0.2.1", ["203.0.113.5"], "192.0.2.1"),
        ("10.0.0.1", [], "10.0.0.1"),
        ("not-an-ip", ["203.0.113.5"], "not-an-ip"),
    ],
)
def test_client_ip_walks_from_the_right_past_trusted_hops(peer, hops, expected):
    """Only hops appended by trusted proxies are believed; malformed entries stop the walk."""
    assert client_ip(peer, hops, PROXIES) == expected


def test_forwarded_header_for_values_are_parsed():
    """RFC 7239 Forwarded and X-Forwarded-For are both read, left to right."""
    assert forwarded_for(['for=192.0.2.60;proto=http, for="[2001:db8::1]:4711"']) == [
        "192.0.2.60",
        '"[2001:db8::1]:4711"',
    ]
    assert x_forwarded_for(["1.1.1.1, 2.2.2.2", "3.3.3.3"]) == ["1.1.1.1", " 2.2.2.2", "3.3.3.3"]


def test_sentry_sdk_private_names_this_package_relies_on_still_exist():
    """sentry_sdk still has the re-entrancy flag of its ASGI middleware (or this fails loudly)."""
    assert builtin_flag_available()


async def test_transaction_with_an_escaped_secret_form_is_still_scrubbed(sentry_init):
    """A secret that JSON escapes (quotes, backslashes) is found in a transaction and removed."""
    transport = sentry_init(traces_sample_rate=1.0)
    secret = 'ab"c\\d-9876543210'  # noqa: S105 - a fake secret

    async def app(scope, receive, send):
        sentry_sdk.set_tag("copied", secret)  # the app copies the secret somewhere it is sent
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    headers = [(b"host", b"h"), (b"x-api-key", secret.encode())]
    await call(SentryMiddleware(app), http_scope(headers=headers))
    sentry_sdk.flush()
    (transaction,) = transport.transactions
    assert transaction["tags"]["copied"] == "[Filtered]"
