"""Secure by default: secrets stay in the process, spoofable headers are not believed."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, unquote_plus

import pytest
import sentry_sdk
from conftest import SDK_VERSION, call, http_scope, needs_data_collection

from sentry_asgi import SentryMiddleware
from sentry_asgi._client_ip import client_ip, forwarded_for, resolve_client, x_forwarded_for
from sentry_asgi._options import build_options
from sentry_asgi._privacy import is_personal, is_sensitive, takes_secret_params
from sentry_asgi._scrub import FILTERED
from sentry_asgi._sdk import builtin_flag_available

pytestmark = pytest.mark.anyio

TOKEN = 'tok"en/with+odd&chars'  # noqa: S105 - a fake secret whose encodings all differ
HEADERS = [
    (b"host", b"h"),
    (b"authorization", f"Bearer {TOKEN}".encode()),
    (b"cookie", b"session=s3ss10n-v4lue"),
]


async def event_after_posting(transport, app, payload) -> dict:
    """POST ``payload`` as JSON to ``app``, which raises: the one event sent."""
    scope = http_scope(
        method="POST", headers=[(b"host", b"h"), (b"content-type", b"application/json")]
    )
    body = json.dumps(payload).encode()
    with pytest.raises(RuntimeError):
        await call(SentryMiddleware(app), scope, [{"type": "http.request", "body": body}])
    (event,) = transport.events
    return event


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


async def test_attach_stacktrace_failed_status_stack_holds_no_middleware_frame(sentry_init):
    """A failed status's message, in a request with no secret in it, has none of the middleware's frames."""
    transport = sentry_init(attach_stacktrace=True)

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 503, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    await call(SentryMiddleware(app), http_scope(client=("127.0.0.1", 50000)))  # nothing to learn
    (event,) = transport.events
    frames = event["threads"]["values"][0]["stacktrace"]["frames"]
    assert not any(frame["module"].startswith("sentry_asgi") for frame in frames)


async def test_attach_stacktrace_message_stack_ends_at_the_app_like_sentry_sdks_own(sentry_init):
    """A message's stack ends with the frame that captured it: none of the middleware's own.

    sentry_sdk leaves its own frames out; the processor that builds the stack is no more the
    app's story (its variables would hold the event being built).
    """
    transport = sentry_init(attach_stacktrace=True)

    async def app(scope, receive, send):
        sentry_sdk.capture_message("checkout slow")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    await call(SentryMiddleware(app), http_scope(headers=HEADERS))
    (event,) = transport.events
    frames = event["threads"]["values"][0]["stacktrace"]["frames"]
    assert frames[-1]["function"] == "app"
    assert not any(frame["module"].startswith("sentry_asgi") for frame in frames)


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
        ("10.0.0.1", ['"[2001:db9::1]:80"'], "2001:db9::1"),  # quoted, as RFC 7239 writes it
        ("10.0.0.1", ['"203.0.113.5:4711"'], "203.0.113.5"),
        ("10.0.0.1", ["[2001:db9::1"], "10.0.0.1"),  # unclosed: no address, not 2001:db9::
        ("2001:db8::1", ["2001:db9::7"], "2001:db9::7"),
        ("192.0.2.1", ["203.0.113.5"], "192.0.2.1"),
        ("10.0.0.1", [], "10.0.0.1"),
        ("not-an-ip", ["203.0.113.5"], "not-an-ip"),
    ],
)
def test_client_ip_walks_from_the_right_past_trusted_hops(peer, hops, expected):
    """Only hops appended by trusted proxies are believed; malformed entries stop the walk."""
    assert client_ip(peer, hops, PROXIES) == expected


@pytest.mark.parametrize("peer", ["::ffff:10.0.0.5", "::ffff:a00:5"])
def test_an_ipv4_proxy_seen_through_a_dual_stack_socket_is_trusted(peer):
    """A server on :: (granian) writes an IPv4 peer as ::ffff:10.0.0.5: still the proxy."""
    assert client_ip(peer, ["203.0.113.5"], PROXIES) == "203.0.113.5"


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


async def raising(scope, receive, send):
    """An app that fails with the ASGI scope (raw headers, query string, client) in its frame."""
    raise RuntimeError("boom")


# Both privacy settings that deny consent: sentry_sdk's default, and data_collection without user info.
WITH_AND_WITHOUT_DATA_COLLECTION = pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="default"),
        pytest.param(
            {"data_collection": {"user_info": False}},
            marks=needs_data_collection,
            id="data_collection",
        ),
    ],
)


async def sent_text(transport, scope, app=raising, middleware=None):
    """Serve one failing request; return everything sent for it, serialised."""
    with pytest.raises(RuntimeError):
        await call(middleware or SentryMiddleware(app), scope)
    sentry_sdk.flush()
    (event,) = transport.events
    return event, json.dumps(event, ensure_ascii=False)


async def sent_with(transport, *headers, app=raising):
    """Serve one failing request with these headers after a Host header; return what was sent."""
    return await sent_text(transport, http_scope(headers=[(b"host", b"h"), *headers]), app)


def assert_absent(text, *secrets):
    assert [secret for secret in secrets if secret in text] == []


@needs_data_collection
async def test_headers_left_out_still_have_their_secret_values_removed(sentry_init):
    """With request headers "off", raw Authorization and Cookie values in frames are still removed."""
    transport = sentry_init(
        data_collection={"http_headers": {"request": {"mode": "off"}}, "user_info": False}
    )
    event, text = await sent_with(
        transport,
        (b"authorization", b"Bearer off-mode-token-123"),
        (b"cookie", b"sessionid=off-mode-cookie-456"),
        (b"x-real-ip", b"198.51.100.61"),
    )
    assert event["request"]["headers"] == {}
    assert_absent(text, "off-mode-token-123", "off-mode-cookie-456", "198.51.100.61")


@needs_data_collection
async def test_cookie_header_lines_are_joined_as_one_cookie_header(sentry_init):
    """Cookie lines (HTTP/2 sends one per cookie) are joined with "; " and filtered one by one."""
    transport = sentry_init(data_collection={"user_info": False})
    cookies = [(b"cookie", b"theme=dark"), (b"cookie", b"sessionid=h2-cookie-789")]
    event, text = await sent_with(transport, *cookies)
    assert event["request"]["headers"]["cookie"] == "theme=dark; sessionid=[Filtered]"
    assert "h2-cookie-789" not in text


@pytest.mark.parametrize(
    ("headers", "sent", "secrets"),
    [
        pytest.param(
            [
                (b"authorization", b"Bearer first-token-AAAA1111"),
                (b"authorization", b"Basic Zm9vOmJhcg+BBBB2222=="),
                (b"x-api-key", b"key one/1111"),
                (b"x-api-key", b"key two/2222"),
            ],
            {},
            ["first-token-AAAA1111", "Zm9vOmJhcg+BBBB2222==", "key one/1111", "key two/2222"],
            id="each-line-of-a-repeated-secret-header",
        ),
        pytest.param(
            [
                (b"referer", b"https://app.example/reset?lang=en&token=RESETTOKEN-9f8e7d6c#top"),
                (b"x-azure-clientip", b"198.51.100.77"),
                (b"x-azure-socketip", b"198.51.100.78"),
                (b"x-envoy-external-address", b"198.51.100.79"),
            ],
            {
                "referer": "https://app.example/reset?lang=en&token=[Filtered]#top",
                "x-azure-clientip": "[Filtered]",
            },
            ["RESETTOKEN-9f8e7d6c", "198.51.100.77", "198.51.100.78", "198.51.100.79"],
            id="referer-query-and-proxy-address-headers",
        ),
    ],
)
async def test_secret_header_values_are_filtered_and_removed(sentry_init, headers, sent, secrets):
    """Each line of a repeated secret header, a Referer's secret parameters, CDN client IPs: gone."""
    transport = sentry_init()
    event, text = await sent_with(transport, *headers)
    assert {name: event["request"]["headers"][name] for name in sent} == sent
    assert_absent(text, *secrets)


@WITH_AND_WITHOUT_DATA_COLLECTION
async def test_client_addresses_stay_out_of_frames_without_consent(sentry_init, options):
    """Without user-info consent, the peer and forwarded addresses appear nowhere in the event."""
    transport = sentry_init(**options)
    headers = [
        (b"host", b"h"),
        (b"x-forwarded-for", b"198.51.100.71, 2001:db8::71"),
        (b"forwarded", b'for="[2001:db8::72]:4711";proto=https'),
    ]
    scope = http_scope(headers=headers, client=("198.51.100.23", 44321))
    event, text = await sent_text(transport, scope)
    assert "env" not in event["request"]
    assert_absent(text, "198.51.100.23", "198.51.100.71", "2001:db8::71", "2001:db8::72")


async def holding_the_peer(scope, receive, send):
    """An app that fails holding the peer's address, as its own access log would copy it."""
    peer = scope["client"][0]
    raise RuntimeError(len(peer))


@WITH_AND_WITHOUT_DATA_COLLECTION
async def test_peer_address_an_app_copied_stays_out_of_frames_without_consent(sentry_init, options):
    """Without user-info consent, the peer's address the app copied into a variable is removed."""
    transport = sentry_init(**options)
    scope = http_scope(headers=[(b"host", b"h")], client=("198.51.100.23", 44321))
    _, text = await sent_text(transport, scope, app=holding_the_peer)
    assert_absent(text, "198.51.100.23")


async def test_conflicting_forwarded_headers_give_the_peer(sentry_init):
    """Forwarded and X-Forwarded-For naming different clients: neither is believed, the peer is."""
    transport = sentry_init(send_default_pii=True)
    headers = [
        (b"host", b"h"),
        (b"forwarded", b"for=6.6.6.6"),  # passed through by a proxy that appends only the other
        (b"x-forwarded-for", b"203.0.113.50"),
    ]
    middleware = SentryMiddleware(raising, trusted_proxies=["10.0.0.0/8"])
    scope = http_scope(headers=headers, client=("10.0.0.2", 40000))
    event, _ = await sent_text(transport, scope, middleware=middleware)
    assert event["request"]["env"]["REMOTE_ADDR"] == "10.0.0.2"


async def test_forwarded_parameter_names_are_read_in_any_case(sentry_init):
    """RFC 7239 parameter names are case-insensitive: a trusted proxy's ``For=`` names the client."""
    transport = sentry_init(send_default_pii=True)
    headers = [(b"host", b"h"), (b"forwarded", b"For=203.0.113.50;Proto=https")]
    middleware = SentryMiddleware(raising, trusted_proxies=["10.0.0.0/8"])
    scope = http_scope(headers=headers, client=("10.0.0.2", 40000))
    event, _ = await sent_text(transport, scope, middleware=middleware)
    assert event["request"]["env"]["REMOTE_ADDR"] == "203.0.113.50"


@pytest.mark.parametrize(
    ("forwarded", "x_forwarded", "expected"),
    [
        (["203.0.113.5"], ["203.0.113.5"], "203.0.113.5"),
        (["6.6.6.6"], ["203.0.113.5"], "10.0.0.1"),
        ([], ["203.0.113.5"], "203.0.113.5"),
        (["203.0.113.5"], [], "203.0.113.5"),
        ([], [], "10.0.0.1"),
    ],
)
def test_forwarded_headers_are_believed_only_when_they_agree(forwarded, x_forwarded, expected):
    """Each forwarding header alone is walked; when both are present they must agree."""
    assert resolve_client("10.0.0.1", forwarded, x_forwarded, PROXIES) == expected


async def test_non_ascii_secret_is_removed_from_utf8_bytes(sentry_init):
    """A secret with a Latin-1 letter is removed from a UTF-8 bytes repr of it, too."""
    transport = sentry_init()
    secret = "Passw\u00f6rter" + "-2024!"  # built: the source lines sent hold no copy

    async def app(scope, receive, send):
        raw = json.dumps({"password": secret}, ensure_ascii=False).encode()
        raise RuntimeError(len(raw))

    _, text = await sent_with(transport, (b"x-api-key", secret.encode("utf-8")), app=app)
    assert secret.partition("\u00f6")[2] not in text  # the tail the bytes repr shows as is


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="default"),
        pytest.param(
            {"data_collection": {"url_query_params": {"mode": "off"}, "user_info": False}},
            marks=needs_data_collection,
            id="query-off",
        ),
    ],
)
async def test_secret_query_values_are_removed_as_the_client_encoded_them(sentry_init, options):
    """Secret query values are removed as sent (lower-case %2f), with the query string sent or not."""
    transport = sentry_init(**options)
    scope = http_scope(query_string=b"page=1&access_token=abc%2fdef%2fghi-2024")
    _, text = await sent_text(transport, scope)
    assert "ghi-2024" not in text


async def holding_the_query_token(scope, receive, send):
    """An app that fails holding a query parameter as frameworks decode it ("+" is a space)."""
    token = unquote_plus(scope["query_string"].decode().partition("access_token=")[2])
    raise RuntimeError(f"bad token {token}")


async def test_secret_query_value_is_removed_as_the_app_decodes_it(sentry_init):
    """A secret query value with "+" for spaces is removed in the form the app reads it."""
    transport = sentry_init()
    scope = http_scope(query_string=b"access_token=pass+phrase+of+mine-2024")
    event, _ = await sent_text(transport, scope, app=holding_the_query_token)
    assert event["exception"]["values"][-1]["value"] == f"bad token {FILTERED}"


async def test_semicolon_separated_query_parameters_are_filtered(sentry_init):
    """A secret parameter after a ";" separator is filtered like one after "&"."""
    transport = sentry_init()
    scope = http_scope(query_string=b"page=1;access_token=semi-colon-token-1")
    event, text = await sent_text(transport, scope)
    assert event["request"]["query_string"] == "page=1;access_token=[Filtered]"
    assert "semi-colon-token-1" not in text


@needs_data_collection
async def test_decoded_basic_credentials_are_removed(sentry_init):
    """The decoded user:password of Basic credentials, and the password alone, are removed."""
    transport = sentry_init(data_collection={"user_info": False})
    password = "hunter2" + "-correct-horse"  # built: the source lines sent hold no copy

    async def app(scope, receive, send):
        credentials = {"username": "bob", "password": password}  # what an auth helper holds
        raise RuntimeError(len(credentials))

    basic = base64.b64encode(f"bob:{password}".encode())
    _, text = await sent_with(transport, (b"authorization", b"Basic " + basic), app=app)
    assert password not in text


API_KEY = "sk_test_" + "4eC39HqLyjWDarjtT1zdp7dc"  # built: the source lines sent hold no copy


@pytest.mark.parametrize("password", ["", "x-oauth-basic"])
async def test_api_key_sent_as_the_basic_user_name_is_removed(sentry_init, password):
    """A key sent as the Basic user name (Stripe's ``key:``, GitHub's ``token:x-oauth-basic``) is removed."""
    transport = sentry_init()

    async def app(scope, receive, send):
        credentials = dict(scope["headers"])[b"authorization"].split()[1]
        user, _, _ = base64.b64decode(credentials).decode().partition(":")
        raise RuntimeError(len(user))

    basic = base64.b64encode(f"{API_KEY}:{password}".encode())
    _, text = await sent_with(transport, (b"authorization", b"Basic " + basic), app=app)
    assert API_KEY not in text


async def test_basic_user_name_that_is_a_plain_word_is_kept(sentry_init):
    """A Basic user name that does not look like a key (``admin``) is left where the app put it."""
    transport = sentry_init()

    async def app(scope, receive, send):
        sentry_sdk.set_tag("login", "admin")
        raise RuntimeError

    basic = base64.b64encode(f"admin:{API_KEY}".encode())
    event, text = await sent_with(transport, (b"authorization", b"Basic " + basic), app=app)
    assert event["tags"]["login"] == "admin"
    assert API_KEY not in text


@pytest.mark.parametrize("framework", ["starlette", "fastapi"])
@WITH_AND_WITHOUT_DATA_COLLECTION
async def test_body_a_framework_integration_attaches_is_filtered_too(
    sentry_init, framework, options
):
    """sentry_sdk's Starlette and FastAPI integrations attach the raw body after us: it is filtered."""
    import httpx

    transport = sentry_init(**options)  # sentry_sdk auto-enables both integrations
    password = "hunter2" + "-correct-horse"  # a fake secret, never in the source whole
    if framework == "fastapi":
        from fastapi import FastAPI, Request

        inner = FastAPI()

        async def login(request):
            await request.json()
            raise RuntimeError("backend down")

        login.__annotations__ = {"request": Request}  # resolved here, not from a string
        inner.post("/login")(login)

    else:
        from starlette.applications import Starlette
        from starlette.routing import Route

        async def login(request):
            await request.json()
            raise RuntimeError("backend down")

        inner = Starlette(routes=[Route("/login", login, methods=["POST"])])
    client_transport = httpx.ASGITransport(app=SentryMiddleware(inner), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=client_transport, base_url="http://t") as client:
        await client.post(
            "/login", json={"user": "bob", "password": password, "nested": {"pin": 1234}}
        )
    (event,) = transport.events
    assert event["request"]["data"] == {
        "user": "bob",
        "password": FILTERED,
        "nested": {"pin": FILTERED},
    }
    assert password not in json.dumps(event)


@pytest.mark.parametrize(
    ("client", "host"),
    [
        ("127.0.0.1", b"127.0.0.1:8000"),
        ("192.168.1.20", b"192.168.1.20:8000"),
        ("::1", b"[::1]:8000"),
    ],
)
async def test_a_client_on_the_servers_own_address_is_not_scrubbed_from_it(
    sentry_init, client, host
):
    """Local development: the client's address is the server's, nothing personal, so URL and Host stay."""
    transport = sentry_init()
    scope = http_scope("/user", headers=[(b"host", host)], client=(client, 50000))
    event, text = await sent_text(transport, scope)
    assert event["request"]["url"] == f"http://{host.decode()}/user"
    assert "[Filtered]:8000" not in text


async def test_a_local_client_seen_through_a_dual_stack_socket_is_not_scrubbed(sentry_init):
    """A server listening on "::" sees a local IPv4 client as ::ffff:127.0.0.1: still this machine."""
    transport = sentry_init()
    scope = http_scope("/user", headers=[(b"host", b"localhost:8000")])
    scope["client"] = ("::ffff:127.0.0.1", 50000)

    async def app(scope, receive, send):
        peer = scope["client"][0]
        raise RuntimeError(f"refused {peer}")

    event, _ = await sent_text(transport, scope, app)
    assert event["exception"]["values"][0]["value"] == "refused ::ffff:127.0.0.1"


async def test_addresses_are_removed_whole_and_trusted_proxies_not_at_all(sentry_init):
    """A client address is removed where it stands alone; other hosts and trusted proxies stay."""
    transport = sentry_init()

    async def app(scope, receive, send):
        msg = "db 10.0.0.12:5432 and 198.51.100.230 down; client 198.51.100.23, proxy 10.0.0.1"
        raise RuntimeError(msg)

    headers = [(b"host", b"h"), (b"x-forwarded-for", b"198.51.100.23")]
    middleware = SentryMiddleware(app, trusted_proxies=["10.0.0.0/24"])
    scope = http_scope(headers=headers, client=("10.0.0.1", 40000))
    event, _ = await sent_text(transport, scope, middleware=middleware)
    assert event["exception"]["values"][-1]["value"] == (
        f"db 10.0.0.12:5432 and 198.51.100.230 down; client {FILTERED}, proxy 10.0.0.1"
    )


async def test_plain_words_under_secret_looking_names_do_not_take_the_event_apart(sentry_init):
    """keywords=["error"] or sort_keys=["email"] are filtered where they stand, not everywhere."""
    transport = sentry_init()

    async def app(scope, receive, send):
        await receive()
        sentry_sdk.set_user({"id": "42", "email": "ann@example.com"})
        raise RuntimeError("export failed")

    pin = str(4700 + 11)  # built: the source lines sent hold no copy
    event = await event_after_posting(
        transport, app, {"keywords": ["error", "timeout"], "sort_keys": ["email"], "pin": [pin]}
    )
    assert event["level"] == "error"
    assert event["user"]["email"] == "ann@example.com"
    assert event["request"]["data"] == {
        "keywords": FILTERED,
        "sort_keys": FILTERED,
        "pin": FILTERED,
    }
    # As a number of its own: random ids and timestamps may hold those digits.
    assert re.search(rf"(?<![0-9A-Za-z]){pin}(?![0-9A-Za-z])", json.dumps(event)) is None


@pytest.mark.parametrize("url", ["http://upstream/api", "http://t/internal/api"])
async def test_request_data_the_app_reports_about_another_url_is_kept(sentry_init, url):
    """With sentry_sdk's integrations on, the request data of an upstream call the app reports stays, on another host or another path of this one."""
    import httpx
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    transport = sentry_init()
    upstream = {"url": url, "query_string": "page=2", "headers": {"x-id": "u-77"}}

    async def view(request):
        sentry_sdk.capture_event({"message": "upstream refused", "request": dict(upstream)})
        return PlainTextResponse("ok")

    app = SentryMiddleware(Starlette(routes=[Route("/", view)]))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        await client.get("/?q=1")
    (event,) = transport.events
    assert {key: event["request"][key] for key in upstream} == upstream


async def test_quarts_integration_request_data_is_filtered_too(sentry_init):
    """sentry_sdk's Quart integration writes the raw query string and client address: both filtered."""
    import httpx
    from quart import Quart

    transport = sentry_init()  # sentry_sdk auto-enables its Quart integration
    inner = Quart(__name__)

    @inner.get("/items")
    async def items():
        sentry_sdk.capture_message("listed")
        return "ok"

    app = SentryMiddleware(inner)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        await client.get("/items?token=abcdef-123", headers={"host": "t:80"})  # Quart drops :80
    (event,) = transport.events
    assert event["request"]["query_string"] == f"token={FILTERED}"
    assert "abcdef-123" not in json.dumps(event)
    assert "Remote-Addr" not in event["request"]["headers"]


@pytest.mark.parametrize(
    ("client", "headers"),
    [
        (("10.5.5.5", 40000), []),  # inside the trusted range, yet the client itself
        (("10.0.0.1", 40000), [(b"x-forwarded-for", b"2001:db8::7")]),  # an IPv6 client behind it
    ],
    ids=["direct", "ipv6-forwarded"],
)
async def test_the_client_is_removed_even_from_inside_the_trusted_range(
    sentry_init, client, headers
):
    """Behind trusted proxies or in their range, whoever the client is stays out of the event."""
    transport = sentry_init()
    address = headers[0][1].decode() if headers else client[0]

    async def app(scope, receive, send):
        raise RuntimeError(f"refused {address}")

    middleware = SentryMiddleware(app, trusted_proxies=["10.0.0.0/8"])
    scope = http_scope(headers=[(b"host", b"h"), *headers], client=client)
    event, _ = await sent_text(transport, scope, middleware=middleware)
    assert event["exception"]["values"][-1]["value"] == f"refused {FILTERED}"


async def test_a_secret_field_inside_a_secret_field_is_learned_whatever_it_holds(sentry_init):
    """{"auth": {"password": "hunter"}}: a short word under a secret name is still a secret."""
    transport = sentry_init()
    word = "hun" + "ter"  # built: the source lines sent hold no copy

    async def app(scope, receive, send):
        body = json.loads((await receive())["body"])
        raise RuntimeError(f"login failed pw={body['auth']['password']}")

    event = await event_after_posting(
        transport, app, {"auth": {"username": "alice", "password": word}}
    )
    assert event["exception"]["values"][-1]["value"] == f"login failed pw={FILTERED}"


async def test_a_number_under_a_secret_name_is_learned_as_its_digits(sentry_init):
    """{"pin": 40490217}: a numeric secret in a JSON body is removed where the app writes it."""
    transport = sentry_init()
    pin = 40490000 + 217  # built: the source lines sent hold no copy

    async def app(scope, receive, send):
        body = json.loads((await receive())["body"])
        raise RuntimeError(f"wrong pin {body['pin']}")

    event = await event_after_posting(transport, app, {"user": "alice", "pin": pin})
    assert event["exception"]["values"][-1]["value"] == f"wrong pin {FILTERED}"


def charge(amount: int, source: str, status: str) -> None:
    """A payment function whose parameters share names with fields of the event itself."""
    raise RuntimeError(f"{amount} declined: {status}")


async def test_a_secret_under_a_name_the_event_also_uses_is_still_removed(sentry_init):
    """A local variable, extra or context called source, type or status holds the app's data."""
    transport = sentry_init()
    token = "tok_" + "1Nv0abcdEFGH"  # built: the source lines sent hold no copy

    async def app(scope, receive, send):
        body = json.loads((await receive())["body"])
        sentry_sdk.set_extra("type", body["card_token"])
        sentry_sdk.set_context("payment", {"source": body["card_token"]})
        charge(100, source=body["card_token"], status="pending")

    event = await event_after_posting(transport, app, {"card_token": token})
    (frame,) = [
        f
        for f in event["exception"]["values"][-1]["stacktrace"]["frames"]
        if f["function"] == "charge"
    ]
    assert frame["vars"]["source"] == repr(FILTERED)
    assert frame["vars"]["status"] == "'pending'"
    assert event["extra"]["type"] == FILTERED
    assert event["contexts"]["payment"] == {"source": FILTERED}
    assert token not in json.dumps(event)


@pytest.mark.parametrize(
    ("name", "secret", "personal"),
    [
        ("connect.sid", True, False),
        ("X-OTP-Code", True, False),
        ("design", False, False),
        ("pinned", False, False),
        ("X-Remote-User", False, True),
        ("Via", False, True),
        ("X-Via-Route", False, False),
        ("User-Agent", False, False),
        ("neues_Passwort", True, False),
        ("nueva-contraseña", True, False),
        ("mot_de_passe", True, False),
        ("nova_senha", True, False),
        ("resenha", False, False),
        ("hasło", True, False),
        ("hasLoggedIn", False, False),
        ("новый_пароль", True, False),
        ("用户密码", True, False),
        ("autoclave", False, False),
        ("code_verifier", True, False),
        ("device_code", True, False),
        ("code", False, False),
    ],
)
def test_secret_and_ip_bearing_names_are_told_as_security_md_says(name, secret, personal):
    """sig, sid, otp and pin count as words of their own, as the short words for password in other languages do; Via only as the whole name."""
    assert (is_sensitive(name), is_personal(name)) == (secret, personal)


@pytest.mark.parametrize(
    ("method", "secret"),
    [
        ("logIn", True),
        ("LOGIN", True),
        ("sign_up", True),
        ("account.unlock", True),
        ("personal_newAccount", True),
        ("auth.refresh", True),
        ("logInfo", False),
        ("getPersonalInfo", False),
        ("designing", False),
        ("catalog.list", False),
        ("eth_sendRawTransaction", False),
    ],
)
def test_json_rpc_methods_taking_a_secret_are_told_by_their_words(method, secret):
    """A method signs in (as words: logIn, not logInfo), unlocks, is in geth's personal namespace or names a secret."""
    assert takes_secret_params(method) is secret


async def test_attach_stacktrace_transaction_stacks_of_older_sdks_are_scrubbed(sentry_init):
    """sentry_sdk before 2.35.1 adds the stack to transactions too: it carries no secret either."""
    transport = sentry_init(attach_stacktrace=True, traces_sample_rate=1.0)

    async def app(scope, receive, send):
        token = dict(scope["headers"])[b"authorization"].decode()
        sentry_sdk.get_current_scope().set_transaction_name(f"checkout {token}")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    await call(SentryMiddleware(app), http_scope(headers=HEADERS))
    (transaction,) = transport.transactions  # the stack holds it, named after the token
    assert ("threads" in transaction) is (SDK_VERSION < (2, 35, 1))
    text = json.dumps(transaction)
    for form in [*encodings(TOKEN), "s3ss10n-v4lue"]:
        assert form not in text
