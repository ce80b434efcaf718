"""Secrets kept in the process through every channel, whatever the consent options."""

from __future__ import annotations

import dataclasses
import gzip
import json
import time
import zlib
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pydantic
import pytest
import sentry_sdk
from apps import read_body
from apps.failing import fail
from conftest import RESET_TOKEN, SDK_VERSION, call, http_scope, needs_data_collection
from frameworks.helpers import MessageBeforeRouting
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from test_body import PASSWORD, REFRESH, body_scope, capture, event_for_body, json_reader, reader

from sentry_asgi import SentryMiddleware
from sentry_asgi._scrub import FILTERED

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.anyio


async def body_data_without(transport, content_type: str, body: str, secret: str):
    """The ``request.data`` of a failing app that read ``body``; ``secret`` is nowhere in its event."""
    event = await event_for_body(transport, content_type, body)
    assert secret not in json.dumps(event)
    return event["request"]["data"]


async def event_of_failing(transport, scope, app=fail, messages=None):
    """Serve one request ``app`` fails (RuntimeError); return the one event sent for it."""
    with pytest.raises(RuntimeError):
        await call(SentryMiddleware(app), scope, messages)
    (event,) = transport.events
    return event


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


IDENTITY = "user-identity-" + "7f3a9c"  # built: the source lines sent hold no copy


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="default"),
        pytest.param({"data_collection": {}}, marks=needs_data_collection, id="data_collection"),
        pytest.param(
            {
                "data_collection": {
                    "http_headers": {"request": {"mode": "allowlist", "terms": ["x-"]}}
                }
            },
            marks=needs_data_collection,
            id="allowlist",
        ),
    ],
)
async def test_identity_values_are_filtered_as_sentry_sdk_documents(sentry_init, options):
    """Keys naming an identity (sentry_sdk's denylist term) are filtered under every policy."""
    transport = sentry_init(**options)
    headers = [(b"host", b"h"), (b"x-amzn-oidc-identity", IDENTITY.encode())]
    scope = http_scope("/me", headers=headers, query_string=b"identity=" + IDENTITY.encode())
    event = await event_of_failing(transport, scope)
    assert event["request"]["headers"]["x-amzn-oidc-identity"] == FILTERED
    assert event["request"]["query_string"] == f"identity={FILTERED}"
    assert IDENTITY not in json.dumps(event)


@needs_data_collection
async def test_allowlist_terms_match_header_names_whatever_their_case_and_dashes(sentry_init):
    """An allowlist term written as the header is (X-Request-Id) keeps that header's value."""
    transport = sentry_init(
        data_collection={
            "http_headers": {"request": {"mode": "allowlist", "terms": ["X-Request-Id"]}}
        }
    )
    headers = [(b"host", b"h"), (b"x-request-id", b"req-42"), (b"x-other", b"kept-out")]
    event = await event_of_failing(transport, http_scope("/me", headers=headers))
    assert event["request"]["headers"]["x-request-id"] == "req-42"
    assert event["request"]["headers"]["x-other"] == FILTERED


SAPISID = "AbCdEf" + "Gh1234/xyz"


@needs_data_collection
async def test_cookies_named_like_session_ids_are_filtered_under_data_collection(sentry_init):
    """Google's SAPISID, APISID, HSID and SSID cookies are session ids: filtered like ``sid``."""
    transport = sentry_init(data_collection={})
    cookie = f"SAPISID={SAPISID}; APISID={SAPISID}1; HSID={SAPISID}2; SSID={SAPISID}3; theme=dark"
    headers = [(b"host", b"h"), (b"cookie", cookie.encode())]
    event = await event_of_failing(transport, http_scope("/me", headers=headers))
    sent = event["request"]["headers"]["cookie"]
    assert sent == (
        f"SAPISID={FILTERED}; APISID={FILTERED}; HSID={FILTERED}; SSID={FILTERED}; theme=dark"
    )
    assert SAPISID not in json.dumps(event)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", f'{{"user": "bob", "password": "{PASSWORD}",}}'),
        ("text/plain", f"user=bob&password={PASSWORD}"),
        ("application/xml", f"<login><password>{PASSWORD}</password></login>"),
    ],
)
async def test_unparsed_body_naming_a_secret_is_not_sent(sentry_init, content_type, body):
    """A body that cannot be parsed into fields, yet names a secret, is not sent as text."""
    transport = sentry_init()
    data = await body_data_without(transport, content_type, body, PASSWORD)
    assert data == FILTERED


async def test_unparsed_body_naming_no_secret_is_sent_as_text(sentry_init):
    """A text body with no secret name in it is still sent as the app read it."""
    transport = sentry_init()
    messages = [{"type": "http.request", "body": b"hello, world"}]
    event = await capture(transport, reader(), body_scope("text/plain"), messages)
    assert event["request"]["data"] == "hello, world"


@pytest.mark.parametrize(
    "body",
    [
        "the keyboard and the monkey",
        "the passenger's compass",
        "a bypass road",
        "<note>the session starts at nine</note>",
        "the author has authority",
    ],
)
async def test_text_body_with_secret_names_inside_ordinary_words_is_sent(sentry_init, body):
    """A text body is sent when secret names appear in it only inside ordinary words."""
    transport = sentry_init()
    event = await event_for_body(transport, "text/plain", body)
    assert event["request"]["data"] == body


@pytest.mark.parametrize(
    "body",
    [
        f"api_key={PASSWORD}",
        f"apiKey: {PASSWORD}",
        f"<password>{PASSWORD}</password>",
        f'{{"token": "{PASSWORD}",}}',
        f"passwd={PASSWORD}",
        f"pass {PASSWORD}",
        f"session_id={PASSWORD}",
        f"session={PASSWORD}",
        f"sessionid={PASSWORD}",
        f"PHPSESSID={PASSWORD}",
        f"accesstoken={PASSWORD}",
        f"apikey={PASSWORD}",
        f"Authorization: Basic {PASSWORD}",
        f"X-Auth-Token: {PASSWORD}",
        f"client_secret={PASSWORD}",
    ],
)
async def test_text_body_naming_a_secret_as_a_word_or_name_part_is_not_sent(sentry_init, body):
    """A text body naming a secret as a word or as part of a name (api_key, apiKey) is withheld."""
    transport = sentry_init()
    data = await body_data_without(transport, "text/plain", body, PASSWORD)
    assert data == FILTERED


NEW_SESSION = "fresh-session-" + "91827364"
NEW_TOKEN = "issued-token-" + "5551234abcd"


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="default"),
        pytest.param({"traces_sample_rate": 1.0}, id="traced"),
        pytest.param({"data_collection": {}}, marks=needs_data_collection, id="data_collection"),
    ],
)
async def test_secrets_the_app_sends_in_response_headers_stay_out(sentry_init, options):
    """A session cookie or token the app issues in its response headers is not in the event."""
    transport = sentry_init(**options)

    async def app(scope, receive, send):
        headers = [
            (b"set-cookie", f"session={NEW_SESSION}; HttpOnly; Path=/".encode()),
            (b"X-Auth-Token", NEW_TOKEN.encode()),
            (b"content-type", b"text/plain"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        raise RuntimeError("after the response started")

    event = await event_of_failing(transport, http_scope("/login"), app)
    frame_vars = event["exception"]["values"][0]["stacktrace"]["frames"][-1]["vars"]
    assert "headers" in frame_vars
    text = json.dumps(event)
    assert NEW_SESSION not in text
    assert NEW_TOKEN not in text
    assert "text/plain" in text


async def test_secrets_in_every_response_start_the_app_sends_stay_out(sentry_init):
    """A token in a first response start stays out when the app sends a second one (refused)."""
    transport = sentry_init()

    async def app(scope, receive, send):
        issued = [(b"x-auth-token", NEW_TOKEN.encode())]
        await send({"type": "http.response.start", "status": 200, "headers": issued})
        await send({"type": "http.response.start", "status": 500, "headers": []})
        raise RuntimeError("the server refused the second start")

    event = await event_of_failing(transport, http_scope("/login"), app)
    assert NEW_TOKEN not in json.dumps(event)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([("x-auth-token", NEW_TOKEN)], id="text"),
        pytest.param([[b"x-auth-token", NEW_TOKEN.encode()]], id="lists"),
    ],
)
async def test_secret_in_response_headers_the_server_would_refuse_stays_out(sentry_init, headers):
    """A token in response headers sent as text, not bytes (the server refuses them), stays out."""
    transport = sentry_init()

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        raise RuntimeError("the server refused the headers")

    event = await event_of_failing(transport, http_scope("/login"), app)
    assert NEW_TOKEN not in json.dumps(event)


async def test_secret_cut_off_by_the_value_length_limit_is_removed(sentry_init):
    """A long token sentry_sdk cut at ``max_value_length`` ("eyJ...") loses what is left of it."""
    transport = sentry_init(max_value_length=1024)
    jwt = "eyJ" + "A1b2C3d4" * 180  # an access token longer than the limit, as Azure AD issues
    headers = [(b"host", b"h"), (b"authorization", b"Bearer " + jwt.encode())]
    event = await event_of_failing(transport, http_scope("/me", headers=headers))
    frame_vars = event["exception"]["values"][0]["stacktrace"]["frames"][-1]["vars"]
    assert "scope" in frame_vars
    assert "A1b2C3d4" not in json.dumps(event)


async def test_text_full_of_cut_secret_starts_is_withheld_without_stalling(sentry_init):
    """A long text of "..." after starts of many secrets is withheld whole, in well under a second.

    Each "..." is checked against each secret: a client sending 50 cookies and a body of
    "eyJh..." would otherwise hold the event loop for seconds.
    """
    transport = sentry_init()
    cookies = "; ".join(f"s{number}=eyJh-cookie-value-{number:03d}" for number in range(50))

    async def app(scope, receive, send):
        text = (await read_body(receive)).decode()
        raise RuntimeError(len(text))

    scope = http_scope("/upload", method="POST", headers=[(b"cookie", cookies.encode())])
    started = time.perf_counter()
    with pytest.raises(RuntimeError):
        await call(
            SentryMiddleware(app), scope, [{"type": "http.request", "body": b"eyJh..." * 150_000}]
        )
    elapsed = time.perf_counter() - started
    (event,) = transport.events
    assert "eyJh..." * 1000 not in json.dumps(event)  # withheld (older releases cut it at 1024)
    assert elapsed < 3


REFERER_PASSWORD = "pa55" + "-w0rd-in-url"


async def test_password_in_a_referer_url_is_filtered(sentry_init):
    """The password of a Referer URL's userinfo (``https://user:pass@host/``) is not sent."""
    transport = sentry_init()
    referer = f"https://alice:{REFERER_PASSWORD}@partner.example/cb?x=1"
    headers = [(b"host", b"h"), (b"referer", referer.encode())]
    event = await event_of_failing(transport, http_scope("/me", headers=headers))
    sent = event["request"]["headers"]["referer"]
    assert sent == f"https://alice:{FILTERED}@partner.example/cb?x=1"
    assert REFERER_PASSWORD not in json.dumps(event)


async def test_needlessly_encoded_referer_password_is_removed_as_sent(sentry_init):
    """A Referer password the client percent-encoded needlessly leaves no copy of itself in frames."""
    transport = sentry_init()
    encoded = REFERER_PASSWORD[:3] + "%35" + REFERER_PASSWORD[4:]  # "5", needlessly encoded

    async def app(scope, receive, send):
        referer = dict(scope["headers"])[b"referer"].decode()
        raise RuntimeError(len(referer))

    headers = [(b"host", b"h"), (b"referer", f"https://alice:{encoded}@partner.example/".encode())]
    event = await event_of_failing(transport, http_scope("/me", headers=headers), app)
    assert encoded not in json.dumps(event)


async def test_percent_encoded_referer_password_leaves_no_decoded_copy_in_frames(sentry_init):
    """A Referer password holding ``@`` (sent ``%40``) is not sent as the app decodes it either."""
    transport = sentry_init()
    password = "p@ss" + REFERER_PASSWORD

    async def app(scope, receive, send):
        referer = dict(scope["headers"])[b"referer"].decode()
        decoded = unquote(urlsplit(referer).password or "")
        raise RuntimeError(len(decoded))

    referer = f"https://alice:{quote(password, safe='')}@partner.example/"
    headers = [(b"host", b"h"), (b"referer", referer.encode())]
    event = await event_of_failing(transport, http_scope("/me", headers=headers), app)
    assert password not in json.dumps(event)


async def test_password_in_a_host_header_authority_is_filtered(sentry_init):
    """A Host (HTTP/2's ``:authority``, as hypercorn passes it) of ``user:password@host`` sends none."""
    transport = sentry_init()
    headers = [(b"host", f"admin:{REFERER_PASSWORD}@internal.example:8080".encode())]
    event = await event_of_failing(transport, http_scope("/me", headers=headers))
    assert event["request"]["headers"]["host"] == f"admin:{FILTERED}@internal.example:8080"
    assert REFERER_PASSWORD not in json.dumps(event)


ORIGINAL_URL_TOKEN = "otok" + "31415926535"


@pytest.mark.parametrize("header", ["x-original-url", "x-rewrite-url", "x-envoy-original-path"])
@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="default"),
        pytest.param({"data_collection": {}}, marks=needs_data_collection, id="data_collection"),
    ],
)
async def test_secret_query_parameters_of_a_url_in_any_header_are_filtered(
    sentry_init, header, options
):
    """A proxy's copy of the request URL (X-Original-URL, ...) has its secret parameters filtered."""
    transport = sentry_init(**options)
    url = f"/cb?access_token={ORIGINAL_URL_TOKEN}&page=2"
    headers = [(b"host", b"h"), (header.encode(), url.encode())]
    event = await event_of_failing(transport, http_scope("/cb", headers=headers))
    assert event["request"]["headers"][header] == f"/cb?access_token={FILTERED}&page=2"
    assert ORIGINAL_URL_TOKEN not in json.dumps(event)


PATH_SESSION = "ABCDEF" + "123456789"


async def test_session_id_in_a_path_parameter_is_filtered(sentry_init):
    """A session id sent as a path parameter (``/cart;jsessionid=...``) names nothing and goes nowhere."""
    transport = sentry_init(traces_sample_rate=1.0)
    scope = http_scope(f"/cart;jsessionid={PATH_SESSION};view=full")
    event = await event_of_failing(transport, scope)
    assert event["request"]["url"] == f"http://testserver/cart;jsessionid={FILTERED};view=full"
    (transaction,) = transport.transactions
    assert transaction["transaction"] == f"/cart;jsessionid={FILTERED};view=full"
    assert PATH_SESSION not in json.dumps([event, transaction])


@pytest.mark.parametrize("encoded", ["%2F", "%3B", "%2f"])
async def test_path_parameter_holding_an_encoded_separator_is_filtered_whole(sentry_init, encoded):
    """A session id with an encoded ``/`` or ``;`` in it (base64) is filtered whole, not up to it."""
    transport = sentry_init(traces_sample_rate=1.0)
    raw_path = f"/cart;jsessionid={PATH_SESSION}{encoded}{PATH_SESSION[::-1]};view=full"
    scope = http_scope(unquote(raw_path), raw_path=raw_path.encode())
    event = await event_of_failing(transport, scope)
    assert event["request"]["url"] == f"http://testserver/cart;jsessionid={FILTERED};view=full"
    (transaction,) = transport.transactions
    assert transaction["transaction"] == f"/cart;jsessionid={FILTERED};view=full"
    assert PATH_SESSION[::-1] not in json.dumps([event, transaction])


async def test_password_in_an_absolute_form_request_target_is_filtered(sentry_init):
    """``GET http://user:pass@host/ HTTP/1.1`` (a proxy's request line) sends no password anywhere."""
    transport = sentry_init(traces_sample_rate=1.0)
    target = f"http://admin:{REFERER_PASSWORD}@internal.example/x"  # as uvicorn's h11 passes it
    event = await event_of_failing(transport, http_scope(target, raw_path=target.encode()))
    assert event["request"]["url"] == f"http://testserverhttp://admin:{FILTERED}@internal.example/x"
    (transaction,) = transport.transactions
    assert transaction["transaction"] == f"http://admin:{FILTERED}@internal.example/x"
    assert REFERER_PASSWORD not in json.dumps([event, transaction])


@pytest.mark.skipif(SDK_VERSION < (2, 66), reason="trace_lifecycle arrived in sentry-sdk 2.66")
async def test_session_id_in_a_path_parameter_stays_out_of_a_streamed_segment(sentry_init):
    """A streamed segment named after its path has a path parameter's session id out, hook or none."""
    transport = sentry_init(traces_sample_rate=1.0, trace_lifecycle="stream")

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    await call(SentryMiddleware(app), http_scope(f"/cart;jsessionid={PATH_SESSION}"))
    sentry_sdk.flush()
    (container,) = transport.items("span")
    (segment,) = container["items"]
    assert segment["name"] == f"/cart;jsessionid={FILTERED}"
    assert PATH_SESSION not in json.dumps(container)


RESET_USER = "MTIzNDU2Nzg5"  # the link's uidb64: the user's id, no secret


async def reset(request):
    code = request.path_params["token"]  # a name sentry_sdk's own scrubber does not know
    path = request.scope["path"]
    raise RuntimeError(f"expired link {path[:6]} ({len(code)})")


RESET_APP = Starlette(routes=[Route("/reset/{uidb64}/{token}/", reset)])


async def test_secret_route_parameter_is_filtered_in_the_frames_holding_it(sentry_init):
    """A route parameter named ``token`` is [Filtered] in the view's variables: a copy of it, the scope's path."""
    transport = sentry_init()
    scope = http_scope(f"/reset/{RESET_USER}/{RESET_TOKEN}/")
    event = await event_of_failing(transport, scope, RESET_APP)
    frame = event["exception"]["values"][-1]["stacktrace"]["frames"][-1]
    assert frame["function"] == "reset"
    assert frame["vars"]["code"] == f"'{FILTERED}'"
    assert frame["vars"]["path"] == f"'/reset/{RESET_USER}/{FILTERED}/'"
    assert event["request"]["url"] == f"http://testserver/reset/{RESET_USER}/{FILTERED}/"
    assert RESET_TOKEN not in json.dumps(event)


async def test_secret_route_parameter_is_found_as_the_client_encoded_it(sentry_init):
    """A route's ``token`` sent percent-encoded is found in raw_path (in the frames' scope) as sent, not only decoded."""
    transport = sentry_init()
    encoded = RESET_TOKEN.replace("-", "%2D")
    raw_path = f"/reset/{RESET_USER}/{encoded}/"
    scope = http_scope(unquote(raw_path), raw_path=raw_path.encode())
    event = await event_of_failing(transport, scope, RESET_APP)
    assert event["request"]["url"] == f"http://testserver/reset/{RESET_USER}/{FILTERED}/"
    assert encoded not in json.dumps(event)
    assert RESET_TOKEN not in json.dumps(event)


async def test_secret_route_parameter_is_learned_once_the_request_is_routed(sentry_init):
    """Request data built before routing (an event of a middleware) has the route's secret filtered in the next event and the transaction."""
    transport = sentry_init(traces_sample_rate=1.0)
    app = Starlette(
        routes=[Route("/reset/{uidb64}/{token}/", reset)],
        middleware=[Middleware(MessageBeforeRouting)],
    )
    scope = http_scope(f"/reset/{RESET_USER}/{RESET_TOKEN}/")
    with pytest.raises(RuntimeError):
        await call(SentryMiddleware(app), scope)
    _, failure = transport.events
    (transaction,) = transport.transactions
    for routed in (failure, transaction):
        assert routed["request"]["url"] == f"http://testserver/reset/{RESET_USER}/{FILTERED}/"
        assert RESET_TOKEN not in json.dumps(routed)


def _query_parameters_listed(mode: str, term: str, url: str) -> Any:
    """A case whose ``data_collection`` lists a query parameter name, ``url`` what is sent."""
    options = {"data_collection": {"url_query_params": {"mode": mode, "terms": [term]}}}
    return pytest.param(options, RESET_TOKEN, url, marks=needs_data_collection, id=mode)


@pytest.mark.parametrize(
    ("options", "token", "url"),
    [
        ({}, "abc", f"/reset/{RESET_USER}/abc/"),  # shorter than any secret searched for
        ({"send_default_pii": True}, RESET_TOKEN, f"/reset/{RESET_USER}/{RESET_TOKEN}/"),
        _query_parameters_listed("denylist", "uidb", f"/reset/{FILTERED}/{FILTERED}/"),
        _query_parameters_listed("allowlist", "uid", f"/reset/{RESET_USER}/{FILTERED}/"),
    ],
    ids=["short", "send_default_pii", "denylist", "allowlist"],
)
async def test_route_parameters_are_filtered_as_query_parameters_are(
    sentry_init, options, token, url
):
    """Route parameters follow the query parameters' policy: consent keeps them, a listed name is filtered, a short value stays."""
    transport = sentry_init(**options)
    event = await event_of_failing(
        transport, http_scope(f"/reset/{RESET_USER}/{token}/"), RESET_APP
    )
    assert event["request"]["url"] == f"http://testserver{url}"


QUERY_TOKEN = "qtok" + "99999999"


async def test_secrets_in_bytes_the_app_attaches_are_removed(sentry_init):
    """Bytes the app puts in extra, contexts or tags (the raw query string, the body) lose secrets."""
    transport = sentry_init()

    async def app(scope, receive, send):
        body = (await receive())["body"]
        sentry_sdk.set_extra("query", scope["query_string"])
        sentry_sdk.set_context("upload", {"body": body})
        raise RuntimeError("rejected")

    query = b"access_token=" + QUERY_TOKEN.encode()
    body = json.dumps({"user": {"password": PASSWORD}}).encode()
    scope = http_scope("/upload", method="POST", query_string=query)
    event = await capture(transport, app, scope, [{"type": "http.request", "body": body}])
    assert event["extra"]["query"] == f"access_token={FILTERED}"
    assert "user" in event["contexts"]["upload"]["body"]
    text = json.dumps(event)
    assert QUERY_TOKEN not in text
    assert PASSWORD not in text


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_compressed_body_is_decompressed_and_its_secrets_filtered(sentry_init, encoding):
    """A gzip or deflate request body is parsed as the app decompresses it, its secrets out."""
    transport = sentry_init()
    doc = {"user": {"name": "bob", "password": PASSWORD}}
    compress = gzip.compress if encoding == "gzip" else zlib.compress

    async def app(scope, receive, send):
        payload = json.loads(
            (gzip.decompress if encoding == "gzip" else zlib.decompress)(await read_body(receive))
        )
        raise RuntimeError(len(payload))

    scope = body_scope("application/json")
    scope["headers"].append((b"content-encoding", encoding.encode()))
    messages = [{"type": "http.request", "body": compress(json.dumps(doc).encode())}]
    event = await capture(transport, app, scope, messages)
    assert event["request"]["data"] == {"user": {"name": "bob", "password": FILTERED}}
    assert PASSWORD not in json.dumps(event)


async def test_gzip_body_in_several_members_is_inflated_whole(sentry_init):
    """A gzip body in several members (as gzip.decompress reads it) is parsed whole, its secrets out."""
    transport = sentry_init()
    seen = {}

    async def app(scope, receive, send):
        seen.update(json.loads(gzip.decompress(await read_body(receive))))
        api_token = seen["api_token"]
        raise RuntimeError(len(api_token))

    scope = body_scope("application/json")
    scope["headers"].append((b"content-encoding", b"gzip"))
    second = f'"api_token": "{PASSWORD}"}}'.encode()
    body = gzip.compress(b'{"user": "bob", ') + gzip.compress(second)
    event = await capture(transport, app, scope, [{"type": "http.request", "body": body}])
    assert seen["api_token"] == PASSWORD
    assert PASSWORD not in json.dumps(event)
    assert event["request"]["data"] == {"user": "bob", "api_token": FILTERED}


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("deflate", _raw_deflate),  # what many clients send as "deflate": no zlib header
        ("x-gzip", gzip.compress),  # HTTP/1.1's alias of gzip
        ("gzip, identity", gzip.compress),
        ("identity, gzip", gzip.compress),
        ("deflate, gzip", lambda data: gzip.compress(zlib.compress(data))),
        ("GZIP ,  DEFLATE", lambda data: zlib.compress(gzip.compress(data))),
    ],
)
async def test_raw_deflate_and_coding_lists_are_inflated_as_listed(sentry_init, encoding, compress):
    """Raw deflate, x-gzip and a list of codings (undone last first) are inflated, their secrets out."""
    transport = sentry_init()
    doc = {"user": {"name": "bob", "password": PASSWORD}}
    scope = body_scope("application/json")
    scope["headers"].append((b"content-encoding", encoding.encode()))
    messages = [{"type": "http.request", "body": compress(json.dumps(doc).encode())}]
    event = await capture(transport, reader(), scope, messages)
    assert event["request"]["data"] == {"user": {"name": "bob", "password": FILTERED}}


@pytest.mark.parametrize("encoding", ["br", "gzip, br", "gzip, , x-unknown"])
async def test_body_in_a_coding_not_known_is_not_sent(sentry_init, encoding):
    """A body whose codings include one not inflated here is left out, never sent as bytes."""
    transport = sentry_init()
    scope = body_scope("application/json")
    scope["headers"].append((b"content-encoding", encoding.encode()))
    body = gzip.compress(json.dumps({"password": PASSWORD}).encode())
    event = await capture(transport, reader(), scope, [{"type": "http.request", "body": body}])
    assert "data" not in event["request"]


async def test_compression_bomb_is_not_inflated_past_the_cap(sentry_init):
    """A body that inflates past what is recorded is neither sent nor held in memory."""
    transport = sentry_init()
    scope = body_scope("application/json")
    scope["headers"].append((b"content-encoding", b"gzip"))
    messages = [{"type": "http.request", "body": gzip.compress(b"[" + b"0," * 5_000_000 + b"0]")}]
    event = await capture(transport, reader(), scope, messages)
    assert "0,0,0" not in json.dumps(event["request"].get("data"))


@pytest.mark.parametrize("encoding", [None, "br"])
async def test_secrets_of_a_body_too_large_to_learn_are_learned_from_the_frames(
    sentry_init, encoding
):
    """A body not read for secrets (over 10 kB, or in an unknown coding) has them found by name.

    The app's own variables hold what it parsed: the value under a secret key there, and one in
    a variable with a secret name, is removed from the whole event (from every copy of it).
    """
    transport = sentry_init()

    async def app(scope, receive, send):
        body = await read_body(receive)
        payload = json.loads(body)
        pw = payload["user"]["password"]
        greeting = f"welcome back, bob, you typed {pw}"
        raise RuntimeError(len(greeting))

    doc = {"user": {"name": "bob", "password": PASSWORD}, "avatar": "A" * 20_000}
    scope = body_scope("application/json")
    if encoding:  # the app inflates it its own way: nothing here can
        scope["headers"].append((b"content-encoding", encoding.encode()))
    messages = [{"type": "http.request", "body": json.dumps(doc).encode()}]
    event = await capture(transport, app, scope, messages)
    text = json.dumps(event)
    assert PASSWORD not in text
    assert "bob" in text  # only the secret is removed
    frame = event["exception"]["values"][-1]["stacktrace"]["frames"][-1]
    assert frame["vars"]["greeting"] == f"'welcome back, bob, you typed {FILTERED}'"


class Login(pydantic.BaseModel):
    """A login as FastAPI parses it."""

    name: str
    password: str
    avatar: str


@dataclasses.dataclass
class LoginForm:
    """A login as a dataclass holds it."""

    name: str
    password: str
    avatar: str


@pytest.mark.parametrize("model", [Login, LoginForm])
async def test_secret_of_a_body_too_large_to_learn_is_learned_from_the_model_it_was_parsed_into(
    sentry_init, model
):
    """A large body parsed into a pydantic model or a dataclass has the secret its repr shows out."""
    transport = sentry_init()

    async def app(scope, receive, send):
        login = model(**json.loads(await read_body(receive)))
        raise RuntimeError(login.name)

    doc = {"name": "bob", "password": PASSWORD, "avatar": "A" * 20_000}
    messages = [{"type": "http.request", "body": json.dumps(doc).encode()}]
    event = await capture(transport, app, body_scope("application/json"), messages)
    frame = event["exception"]["values"][-1]["stacktrace"]["frames"][-1]
    assert f"password='{FILTERED}'" in frame["vars"]["login"]
    assert PASSWORD not in json.dumps(event)


async def test_message_stack_holding_a_body_too_large_to_learn_has_its_secrets_removed(
    sentry_init,
):
    """With attach_stacktrace, a message's stack over a large parsed body has no secret in it.

    Ordinary short values under names that look secret (a loop's ``key``) are left alone.
    """
    transport = sentry_init(attach_stacktrace=True)

    async def app(scope, receive, send):
        payload = json.loads(await read_body(receive))
        for key in payload:  # noqa: B007 - a loop variable named like a secret
            pass
        sentry_sdk.capture_message(f"signed up {len(payload)}")
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    doc = {"user": {"name": "bob", "password": PASSWORD}, "notes": "n" * 20_000}
    messages = [{"type": "http.request", "body": json.dumps(doc).encode()}]
    await call(SentryMiddleware(app), body_scope("application/json"), messages)
    (event,) = transport.events
    assert PASSWORD not in json.dumps(event)
    frames = event["threads"]["values"][0]["stacktrace"]["frames"]
    (app_frame,) = (frame for frame in frames if frame["function"] == "app")
    assert app_frame["vars"]["key"] == "'notes'"


async def test_secrets_in_attachments_the_app_adds_are_removed(sentry_init):
    """Text the app attaches (the body it read, the headers) loses the request's secrets; bytes stay."""
    transport = sentry_init()
    binary = b"\x89PNG\r\n\x1a\n" + PASSWORD.encode() + b"\xff"
    attached = []

    async def app(scope, receive, send):
        body = (await receive())["body"]
        isolation = sentry_sdk.get_isolation_scope()
        isolation.add_attachment(bytes=body, filename="request.json")
        isolation.add_attachment(bytes=lambda: repr(scope["headers"]).encode(), filename="h.txt")
        isolation.add_attachment(bytes=binary, filename="upload.png")
        attached.extend(isolation._attachments)  # the app's own objects: left unchanged
        raise RuntimeError("rejected")

    headers = [(b"host", b"h"), (b"authorization", b"Bearer " + REFRESH.encode())]
    scope = http_scope("/login", method="POST", headers=headers)
    body = json.dumps({"user": "bob", "password": PASSWORD}).encode()
    with pytest.raises(RuntimeError):
        await call(SentryMiddleware(app), scope, [{"type": "http.request", "body": body}])
    items = {
        item.headers.get("filename"): item.payload.get_bytes()
        for envelope in transport.envelopes
        for item in envelope.items
        if item.type == "attachment"
    }
    assert json.loads(items["request.json"]) == {"user": "bob", "password": FILTERED}
    assert REFRESH.encode() not in items["h.txt"]
    assert items["upload.png"] == binary  # not text: sent as it is
    assert attached[0].bytes == body


async def test_client_address_the_app_sets_on_the_user_is_dropped_not_invalid(sentry_init):
    """Without consent, a user's ip_address naming the client is left out, never "[Filtered]".

    Sentry accepts only an address there: it would reject the event's field as invalid.
    """
    transport = sentry_init()

    async def app(scope, receive, send):
        sentry_sdk.set_user({"id": "1", "ip_address": scope["client"][0]})
        raise RuntimeError("rejected")

    event = await event_of_failing(transport, http_scope("/me"), app)
    assert event["user"] == {"id": "1"}


# A JSON Web Token: base64url of a JSON header, of JSON claims, and a signature.
JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSIsImVtYWlsIjoiYUBleC5jb20ifQ.c2lnbmF0dXJlLWJ5dGVz"


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="default"),
        pytest.param({"data_collection": {}}, marks=needs_data_collection, id="data_collection"),
        pytest.param(
            {"data_collection": {"url_query_params": {"mode": "off"}}},
            marks=needs_data_collection,
            id="query-off",
        ),
    ],
)
async def test_json_web_tokens_are_filtered_whatever_their_name(sentry_init, options):
    """A JWT is a credential or signed identity claims under any name: X-Amzn-Oidc-Data, ?assertion=."""
    transport = sentry_init(**options)
    headers = [
        (b"host", b"h"),
        (b"x-amzn-oidc-data", JWT.encode()),
        (b"content-type", b"application/json"),
    ]
    scope = http_scope(
        "/cb", method="POST", headers=headers, query_string=f"assertion={JWT}".encode()
    )
    body = json.dumps({"grant": JWT, "scope": "openid"}).encode()
    event = await capture(transport, reader(), scope, [{"type": "http.request", "body": body}])
    request = event["request"]
    assert request["headers"]["x-amzn-oidc-data"] == FILTERED
    assert request["data"] == {"grant": FILTERED, "scope": "openid"}
    assert JWT.split(".")[1] not in json.dumps(event)


LONG_KEY = "sk_live_" + "51HqLyjWDarjtT1zdp7dcXaBcDeFgHiJkLmNoPqRsTuVwXyZ0123"


async def test_secret_shortened_in_the_middle_by_pydantic_is_removed(sentry_init):
    """A long secret pydantic shortens in a validation error ("sk_live_51H...XyZ0123") is removed."""
    transport = sentry_init()

    class Charge(pydantic.BaseModel):
        amount: int

    async def app(scope, receive, send):
        Charge(amount=dict(scope["headers"])[b"x-api-key"].decode())

    headers = [(b"host", b"h"), (b"x-api-key", LONG_KEY.encode())]
    with pytest.raises(pydantic.ValidationError):
        await call(SentryMiddleware(app), http_scope("/charge", headers=headers))
    (event,) = transport.events
    message = event["exception"]["values"][-1]["value"]
    assert "input_value=" in message
    assert LONG_KEY[8:20] not in json.dumps(event)
    assert LONG_KEY[-12:] not in json.dumps(event)


@pytest.mark.parametrize(
    "field", ["pass", "pw", "user_pass", "db-pw", "passphrase", "passcode", "new_passphrase"]
)
async def test_password_fields_under_other_names_are_filtered(sentry_init, field):
    """A login form's ``pass`` or ``pw``, a key's passphrase, a passcode: passwords all."""
    transport = sentry_init()
    body = f"user=bob&{field}={PASSWORD}".encode()
    messages = [{"type": "http.request", "body": body}]
    scope = body_scope("application/x-www-form-urlencoded")
    event = await capture(transport, reader(), scope, messages)
    assert event["request"]["data"] == {"user": "bob", field: FILTERED}
    assert PASSWORD not in json.dumps(event)


async def test_fields_starting_with_the_word_pass_or_pw_are_sent(sentry_init):
    """``pass_through``, ``pass_rate`` or ``pw_policy`` name no password: sent, and not searched for."""
    transport = sentry_init()

    async def app(scope, receive, send):
        json.loads(await read_body(receive))
        raise RuntimeError("proxying disabled in release mode")

    doc = {"pass_through": "disabled", "pass_rate": "release", "pw_policy": "strong"}
    messages = [{"type": "http.request", "body": json.dumps(doc).encode()}]
    event = await capture(transport, app, body_scope("application/json"), messages)
    assert event["request"]["data"] == doc
    assert event["exception"]["values"][-1]["value"] == "proxying disabled in release mode"


WS_TOKEN = "opaque" + "-ws-token-4242"


@pytest.mark.parametrize(
    "protocols",
    [
        f"access_token, {WS_TOKEN}",
        f"graphql-ws, base64url.bearer.authorization.k8s.io.{WS_TOKEN}",
    ],
)
async def test_token_sent_as_a_websocket_subprotocol_is_filtered(sentry_init, protocols):
    """Browsers cannot set Authorization on a websocket: a token in Sec-WebSocket-Protocol is one."""
    transport = sentry_init()

    async def app(scope, receive, send):
        await receive()
        raise RuntimeError("refused")

    headers = [(b"host", b"h"), (b"sec-websocket-protocol", protocols.encode())]
    scope = http_scope("/live", type="websocket", scheme="wss", headers=headers)
    event = await event_of_failing(transport, scope, app, [{"type": "websocket.connect"}])
    assert event["request"]["headers"]["sec-websocket-protocol"] == FILTERED
    assert WS_TOKEN not in json.dumps(event)


async def test_a_secret_holding_a_shorter_one_is_removed_whole(sentry_init):
    """A withheld body that also holds a cookie's value leaves the event whole, not just that value."""
    transport = sentry_init()
    headers = [(b"host", b"h"), (b"content-type", b"application/xml"), (b"cookie", b"locale=en-US")]
    scope = http_scope("/submit", method="POST", headers=headers)
    body = f"<login><locale>en-US</locale><password>{PASSWORD}</password></login>".encode()
    event = await capture(transport, reader(), scope, [{"type": "http.request", "body": body}])
    assert event["request"]["data"] == FILTERED
    assert PASSWORD not in json.dumps(event)


GRAPHQL_LOGIN = 'mutation {{ login(user: "bob", password: "{}") {{ id }} }}'
MULTIPART_OPERATIONS = (
    '--XX\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{}\r\n--XX--\r\n'
)


@pytest.mark.parametrize(
    ("content_type", "body", "field", "sent"),
    [
        pytest.param(
            "application/json",
            json.dumps({"query": GRAPHQL_LOGIN.format(PASSWORD)}),
            "query",
            FILTERED,
            id="graphql-inline-argument",
        ),
        pytest.param(
            "application/x-www-form-urlencoded",
            "payload=" + quote(json.dumps({"type": "block_actions", "token": PASSWORD})),
            "payload",
            json.dumps({"type": "block_actions", "token": FILTERED}),
            id="json-in-a-form-field",
        ),
        pytest.param(
            "application/json",
            json.dumps({"data": json.dumps({"password": PASSWORD})}),
            "data",
            json.dumps({"password": FILTERED}),
            id="json-in-a-json-string",
        ),
        pytest.param(
            "multipart/form-data; boundary=XX",
            MULTIPART_OPERATIONS.format(json.dumps({"variables": {"password": PASSWORD}})),
            "operations",
            json.dumps({"variables": {"password": FILTERED}}),
            id="json-in-a-multipart-field",
        ),
    ],
)
async def test_secrets_inside_a_field_holding_json_or_graphql_are_filtered(
    sentry_init, content_type, body, field, sent
):
    """A field whose text is JSON or a GraphQL document has the secrets written inside it out."""
    transport = sentry_init()
    data = await body_data_without(transport, content_type, body, PASSWORD)
    assert data[field] == sent


@pytest.mark.parametrize(
    "parameter",
    [
        pytest.param("query=" + quote(GRAPHQL_LOGIN.format(PASSWORD)), id="graphql-encoded"),
        pytest.param("query=" + GRAPHQL_LOGIN.format(PASSWORD).replace(" ", ""), id="graphql-raw"),
        pytest.param("variables=" + quote(json.dumps({"password": PASSWORD})), id="json-encoded"),
        pytest.param("variables=" + json.dumps({"password": PASSWORD}), id="json-raw"),
    ],
)
async def test_secrets_inside_a_query_parameter_holding_json_or_graphql_are_filtered(
    sentry_init, parameter
):
    """GraphQL over GET: a query parameter holding a document or JSON that names a secret is filtered."""
    transport = sentry_init()
    query = f"{parameter}&operationName=Login"
    event = await event_of_failing(transport, http_scope("/graphql", query_string=query.encode()))
    name = parameter.partition("=")[0]
    assert event["request"]["query_string"] == f"{name}={FILTERED}&operationName=Login"
    assert PASSWORD not in json.dumps(event)


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(f"/cb?access_token={ORIGINAL_URL_TOKEN}", id="query"),
        pytest.param(f"https://app.example/cb#access_token={ORIGINAL_URL_TOKEN}", id="fragment"),
        pytest.param(f"https://admin:{ORIGINAL_URL_TOKEN}@app.example/cb", id="userinfo"),
        pytest.param(f"/cb?code={ORIGINAL_URL_TOKEN}&state=af0ifjsldkj", id="oauth-code"),
    ],
)
async def test_secret_in_a_url_inside_a_query_parameter_is_filtered(sentry_init, target):
    """A redirect target (``?next=/cb%3Faccess_token%3D...``) carrying a secret is filtered whole."""
    transport = sentry_init()
    query = f"next={quote(target, safe='')}&lang=en"
    event = await event_of_failing(transport, http_scope("/login", query_string=query.encode()))
    assert event["request"]["query_string"] == f"next={FILTERED}&lang=en"
    assert ORIGINAL_URL_TOKEN not in json.dumps(event)


@pytest.mark.parametrize(
    ("content_type", "body", "field"),
    [
        pytest.param(
            "application/x-www-form-urlencoded",
            f"benutzer=anna&neues_passwort={PASSWORD}",
            "neues_passwort",
            id="german-form",
        ),
        pytest.param(
            "application/x-www-form-urlencoded",
            f"usuario=ana&senha={PASSWORD}",
            "senha",
            id="portuguese-form",
        ),
        pytest.param(
            "application/json",
            json.dumps({"логин": "anna", "пароль": PASSWORD}),
            "пароль",
            id="russian-json",
        ),
        pytest.param(
            "application/json",
            json.dumps({"用户名": "anna", "密码": PASSWORD}, ensure_ascii=False),
            "密码",
            id="chinese-json",
        ),
    ],
)
async def test_a_password_field_named_in_another_language_is_filtered(
    sentry_init, content_type, body, field
):
    """A form or JSON field called password in the user's language is filtered and searched for."""
    transport = sentry_init()
    data = await body_data_without(transport, content_type, body, PASSWORD)
    assert data[field] == FILTERED
    assert len(data) == 2  # the user name beside it is kept


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(f"Логин: anna\nПароль: {PASSWORD}", id="cyrillic"),  # noqa: RUF001
        pytest.param(f"identifiant=anna mot_de_passe={PASSWORD}", id="french"),
        pytest.param(f"usuario: ana, senha: {PASSWORD}", id="portuguese-word"),
    ],
)
async def test_a_text_body_naming_a_password_in_another_language_is_withheld(sentry_init, text):
    """Free text that names a password in another language (``Пароль: ...``) is withheld whole, as in English."""
    transport = sentry_init()
    assert await body_data_without(transport, "text/plain", text, PASSWORD) == FILTERED


async def test_a_text_body_with_a_password_word_inside_a_longer_word_is_sent(sentry_init):
    """``senha`` inside ``resenha`` (a review, in Portuguese) names no secret: the text is sent."""
    transport = sentry_init()
    text = "Uma resenha do produto: muito bom."
    assert await body_data_without(transport, "text/plain", text, "never in it") == text


# An authorization code as Google issues them: a slash in it, percent-encoded in the query.
OAUTH_CODE = "4/0AeanS0a" + "7fQx2Lw9"


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="defaults"),
        pytest.param({"send_default_pii": True}, id="send_default_pii"),
    ],
)
async def test_an_oauth_authorization_code_is_a_secret_beside_state(sentry_init, options):
    """An OAuth callback's ``code`` (beside ``state``) is filtered and searched for, unless PII is allowed."""
    transport = sentry_init(**options)
    query = f"code={quote(OAUTH_CODE, safe='')}&state=af0ifjsldkj&scope=openid"
    event = await event_of_failing(transport, http_scope("/cb", query_string=query.encode()))
    if options:
        assert event["request"]["query_string"] == query
        return
    assert event["request"]["query_string"] == f"code={FILTERED}&state=af0ifjsldkj&scope=openid"
    sent = json.dumps(event)
    assert OAUTH_CODE not in sent
    assert quote(OAUTH_CODE, safe="") not in sent  # the scope in the app's frame holds it so


@pytest.mark.parametrize("query", ["code=US&page=2", "error=access_denied&state=af0ifjsldkj"])
async def test_a_code_without_state_or_a_state_without_code_is_kept(sentry_init, query):
    """Alone, ``code`` names no secret (a country, a promotion), and ``state`` is never one."""
    transport = sentry_init()
    event = await event_of_failing(transport, http_scope("/cb", query_string=query.encode()))
    assert event["request"]["query_string"] == query


PKCE_VERIFIER = "dBjftJeZ4CVP" + "-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"


@pytest.mark.parametrize(
    ("body", "kept"),
    [
        pytest.param(
            f"state=af0ifjsldkj&code={quote(OAUTH_CODE, safe='')}&user=bob",
            {"state": "af0ifjsldkj", "user": "bob"},
            id="form-post-callback",
        ),
        pytest.param(
            f"grant_type=authorization_code&code={quote(OAUTH_CODE, safe='')}"
            f"&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&code_verifier={PKCE_VERIFIER}",
            {"grant_type": "authorization_code", "redirect_uri": "https://app.example/cb"},
            id="token-request",
        ),
    ],
)
async def test_an_oauth_authorization_code_posted_as_a_form_is_filtered(sentry_init, body, kept):
    """A callback's ``form_post`` (Sign in with Apple) and a token request post the code: filtered, as is PKCE's verifier."""
    transport = sentry_init()
    event = await event_for_body(transport, "application/x-www-form-urlencoded", body)
    data = event["request"]["data"]
    assert data["code"] == FILTERED
    assert {k: v for k, v in data.items() if v != FILTERED} == kept
    sent = json.dumps(event)
    for secret in (OAUTH_CODE, quote(OAUTH_CODE, safe=""), PKCE_VERIFIER):
        assert secret not in sent  # the body the app read holds the code as sent


@pytest.mark.parametrize(
    ("content_type", "body", "sent"),
    [
        pytest.param(
            "application/x-www-form-urlencoded",
            "user=bob&next=" + quote(f"/cb?access_token={ORIGINAL_URL_TOKEN}&page=2", safe=""),
            {"user": "bob", "next": f"/cb?access_token={FILTERED}&page=2"},
            id="form-redirect",
        ),
        pytest.param(
            "application/json",
            json.dumps({"callback": f"https://hooks:{ORIGINAL_URL_TOKEN}@ci.example/x#s"}),
            {"callback": f"https://hooks:{FILTERED}@ci.example/x#s"},
            id="json-userinfo",
        ),
        pytest.param(
            "application/json",
            json.dumps({"note": "Forgot? see #2", "home": "https://app.example/?page=2"}),
            {"note": "Forgot? see #2", "home": "https://app.example/?page=2"},
            id="no-secret",
        ),
    ],
)
async def test_secrets_in_a_url_in_a_body_field_are_filtered(sentry_init, content_type, body, sent):
    """A body field holding a URL has its secret parameters and password filtered, the rest kept."""
    transport = sentry_init()
    data = await body_data_without(transport, content_type, body, ORIGINAL_URL_TOKEN)
    assert data == sent


async def test_url_inside_a_query_parameter_naming_no_secret_is_sent(sentry_init):
    """A redirect target with nothing secret in it (``?next=/items?page=2``) is sent as it came."""
    transport = sentry_init()
    query = "next=" + quote("/items?page=2#top", safe="") + "&email=bob%40example.com"
    event = await event_of_failing(transport, http_scope("/login", query_string=query.encode()))
    assert event["request"]["query_string"] == query


async def test_values_a_json_patch_writes_to_a_secret_path_are_filtered(sentry_init):
    """A JSON Patch (RFC 6902) operation on a secret path has its value filtered; others are sent."""
    transport = sentry_init()
    patch = [
        {"op": "replace", "path": "/password", "value": PASSWORD},
        {"op": "add", "path": "/credentials/0", "value": {"kind": "otp", "seed": PASSWORD}},
        {"op": "replace", "path": "/name", "value": "Bob"},
    ]
    messages = [{"type": "http.request", "body": json.dumps(patch).encode()}]
    event = await capture(
        transport, json_reader(), body_scope("application/json-patch+json"), messages
    )
    assert [operation["value"] for operation in event["request"]["data"]] == [
        FILTERED,
        FILTERED,
        "Bob",
    ]
    assert PASSWORD not in json.dumps(event)


@pytest.mark.parametrize(
    ("pair", "name_key"),
    [
        pytest.param({"name": "password", "value": PASSWORD}, "name", id="serializeArray"),
        pytest.param({"name": "DB_PASSWORD", "value": PASSWORD}, "name", id="environment"),
        pytest.param({"Name": "custom:api_key", "Value": PASSWORD}, "Name", id="aws-attribute"),
        pytest.param(
            {"ParameterKey": "DbPassword", "ParameterValue": PASSWORD},
            "ParameterKey",
            id="aws-parameter",
        ),
    ],
)
async def test_value_of_a_name_value_pair_naming_a_secret_is_filtered(sentry_init, pair, name_key):
    """``[{"name": "password", "value": ...}]`` (jQuery's serializeArray, env vars) is a secret field."""
    transport = sentry_init()
    body = [{"name": "user", "value": "bob"}, pair]
    messages = [{"type": "http.request", "body": json.dumps(body).encode()}]
    event = await capture(transport, json_reader(), body_scope("application/json"), messages)
    user, sent = event["request"]["data"]
    assert user == {"name": "user", "value": "bob"}
    assert sent[name_key] in (pair[name_key], FILTERED)  # a name with "key" in it is filtered
    assert [value for key, value in sent.items() if key != name_key] == [FILTERED]
    assert PASSWORD not in json.dumps(event)


async def test_fields_holding_json_or_text_naming_no_secret_are_sent_as_written(sentry_init):
    """JSON text with no secret field, and free text that mentions a password, are sent unchanged."""
    transport = sentry_init()
    fields = {"filters": '{"status":  "open"}', "message": "I forgot my password again"}
    messages = [{"type": "http.request", "body": json.dumps(fields).encode()}]
    event = await capture(transport, reader(), body_scope("application/json"), messages)
    assert event["request"]["data"] == fields


async def parses_first_message(scope, receive, send):
    """A websocket app that accepts, parses the first message as JSON, then fails."""
    await receive()
    await send({"type": "websocket.accept"})
    parsed = json.loads((await receive())["text"])
    raise RuntimeError(sorted(parsed))


async def test_token_sent_in_a_websocket_message_is_removed_from_the_frames(sentry_init):
    """graphql-ws's token, in the connection_init message's payload, stays out of the app's frames."""
    transport = sentry_init()
    payload = {"authorization": f"Bearer {WS_TOKEN}"}
    messages = [
        {"type": "websocket.connect"},
        {
            "type": "websocket.receive",
            "text": json.dumps({"type": "connection_init", "payload": payload}),
        },
    ]
    event = await event_of_failing(
        transport, http_scope("/graphql", type="websocket"), parses_first_message, messages
    )
    frame = event["exception"]["values"][-1]["stacktrace"]["frames"][-1]
    assert frame["vars"]["parsed"]["type"] == "'connection_init'"
    assert WS_TOKEN not in json.dumps(event)


def send_welcome(address: str, link: str) -> None:
    """A background task that mails the link the app just issued, and fails."""
    raise RuntimeError(f"mail to {address} refused")


def issuing_app(response: Callable[[str], Response], *middleware: Middleware) -> Starlette:
    """An app that issues a token in its response, then fails in a background task using it."""

    async def issue(request):
        answer = response(NEW_TOKEN)
        link = f"https://app.example/welcome?t={NEW_TOKEN}&kind=bearer"
        answer.background = BackgroundTask(send_welcome, "ann@example.com", link)
        return answer

    return Starlette(routes=[Route("/token", issue, methods=["POST"])], middleware=middleware)


def token_json(token: str) -> Response:
    return JSONResponse({"access_token": token, "token_type": "bearer", "expires_in": 3600})


def token_form(token: str) -> Response:  # GitHub answers so by default
    body = f"access_token={token}&scope=repo&token_type=bearer"
    return Response(body, media_type="application/x-www-form-urlencoded")


def token_json_padded(token: str) -> Response:  # large enough for GZipMiddleware to compress
    return JSONResponse({"access_token": token, "token_type": "bearer", "scopes": ["read"] * 200})


@pytest.mark.parametrize(
    ("response", "middleware"),
    [
        pytest.param(token_json, (), id="json"),
        pytest.param(token_form, (), id="form"),
        pytest.param(token_json_padded, (Middleware(GZipMiddleware),), id="gzip-json"),
    ],
)
async def test_token_the_app_issues_in_its_response_body_stays_out(
    sentry_init, response, middleware
):
    """A token the app sent in its response (OAuth's token response) is out of an event raised after it."""
    transport = sentry_init()
    app = issuing_app(response, *middleware)
    headers = [(b"host", b"h"), (b"accept-encoding", b"gzip")]
    scope = http_scope("/token", method="POST", headers=headers)
    event = await event_of_failing(transport, scope, app)
    (frame,) = [
        f
        for f in event["exception"]["values"][-1]["stacktrace"]["frames"]
        if f["function"] == "send_welcome"
    ]
    # The token's type ("bearer"), sent beside it, is no secret: not searched for.
    assert frame["vars"]["link"] == f"'https://app.example/welcome?t={FILTERED}&kind=bearer'"
    assert NEW_TOKEN not in json.dumps(event)


async def test_token_in_a_response_ended_by_an_empty_message_stays_out(sentry_init):
    """A response sent as its body then an empty last message (as Quart sends each) still has its token learned."""
    transport = sentry_init()

    async def app(scope, receive, send):
        issued = json.dumps({"api_key": NEW_TOKEN}).encode()
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": issued, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        raise RuntimeError(f"audit log refused {issued!r}")

    event = await event_of_failing(transport, http_scope("/keys", method="POST"), app)
    assert NEW_TOKEN not in json.dumps(event)


@pytest.mark.parametrize(
    "location",
    [f"/welcome?token={NEW_TOKEN}", f"https://app.example/cb#access_token={NEW_TOKEN}&state=x"],
)
async def test_token_the_app_issues_in_a_redirect_stays_out(sentry_init, location):
    """A token the app sends in a redirect's URL (query, or an implicit-flow fragment) stays out."""
    transport = sentry_init()

    async def app(scope, receive, send):
        headers = [(b"location", location.encode())]
        await send({"type": "http.response.start", "status": 302, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        raise RuntimeError("after the redirect")

    event = await event_of_failing(transport, http_scope("/login"), app)
    frame = event["exception"]["values"][-1]["stacktrace"]["frames"][-1]
    assert FILTERED in frame["vars"]["location"]
    assert NEW_TOKEN not in json.dumps(event)


BAGGAGE_TOKEN = "bag" + "SECRET0123456"


async def test_secret_members_of_incoming_baggage_are_filtered(sentry_init):
    """A baggage member named like a secret is filtered; Sentry's own members and others are kept."""
    transport = sentry_init()
    sentry_members = "sentry-trace_id=771a43a4192642f0b136d5159a501700,sentry-public_key=49d0f7"
    baggage = f"{sentry_members}, session_token={BAGGAGE_TOKEN};ttl=60,userId=alice"
    headers = [(b"host", b"h"), (b"baggage", baggage.encode())]
    event = await event_of_failing(transport, http_scope("/x", headers=headers))
    expected = f"{sentry_members}, session_token={FILTERED};ttl=60,userId=alice"
    assert event["request"]["headers"]["baggage"] == expected
    assert BAGGAGE_TOKEN not in json.dumps(event)


async def test_percent_encoded_baggage_secret_stays_out_of_frames_as_sent(sentry_init):
    """A secret baggage value the client percent-encoded needlessly is removed as sent, from frames."""
    transport = sentry_init()
    encoded = BAGGAGE_TOKEN[:3] + "%53" + BAGGAGE_TOKEN[4:]  # "S", needlessly encoded

    async def app(scope, receive, send):
        token = dict(scope["headers"])[b"baggage"].decode().partition("=")[2]
        raise RuntimeError(len(token))

    headers = [(b"host", b"h"), (b"baggage", f"session_token={encoded}".encode())]
    event = await event_of_failing(transport, http_scope("/x", headers=headers), app)
    assert encoded not in json.dumps(event)


QUOTED_COOKIE = "quoted" + "-session-4242"


@pytest.mark.parametrize(
    "cookie",
    [f'sid="{QUOTED_COOKIE}"', f'sid="{QUOTED_COOKIE[:6]}\\073{QUOTED_COOKIE[6:]}"'],
    ids=["quoted", "escaped"],
)
async def test_quoted_cookie_value_is_removed_as_frameworks_read_it(sentry_init, cookie):
    """A quoted cookie value (``sid="..."``), which Starlette reads unquoted, stays out of the frames."""
    transport = sentry_init()

    async def view(request):
        cookies = request.cookies
        raise RuntimeError(len(cookies))

    headers = [(b"host", b"h"), (b"cookie", cookie.encode())]
    with pytest.raises(RuntimeError):
        await call(
            SentryMiddleware(Starlette(routes=[Route("/me", view)])),
            http_scope("/me", headers=headers),
        )
    (event,) = transport.events
    assert QUOTED_COOKIE[6:] not in json.dumps(event)


@pytest.mark.parametrize("parse", [False, True], ids=["decoded", "parsed"])
async def test_percent_encoded_cookie_value_is_removed_as_the_app_decodes_it(sentry_init, parse):
    """A cookie the browser set with encodeURIComponent (JSON in it) stays out, decoded or parsed."""
    transport = sentry_init()

    async def view(request):
        text = unquote(request.cookies["prefs"])
        prefs = json.loads(text) if parse else text
        raise RuntimeError(len(prefs))

    prefs = quote(json.dumps({"theme": "dark", "token": QUOTED_COOKIE}), safe="")
    headers = [(b"host", b"h"), (b"cookie", f"prefs={prefs}".encode())]
    app = Starlette(routes=[Route("/me", view)])
    event = await event_of_failing(transport, http_scope("/me", headers=headers), app)
    assert QUOTED_COOKIE not in json.dumps(event)


async def test_percent_encoded_cookie_is_removed_whole_as_the_app_decodes_it(sentry_init):
    """A cookie set with encodeURIComponent, not JSON, is removed in the decoded form the app holds."""
    transport = sentry_init()
    decoded = f"{QUOTED_COOKIE} from/partner"

    async def view(request):
        visit = unquote(request.cookies["sid"])
        raise RuntimeError(len(visit))

    headers = [(b"host", b"h"), (b"cookie", f"sid={quote(decoded, safe='')}".encode())]
    app = Starlette(routes=[Route("/me", view)])
    event = await event_of_failing(transport, http_scope("/me", headers=headers), app)
    assert decoded not in json.dumps(event)


UNENCODED_PASSWORD = "pässwört" + "12345"


async def test_form_secret_sent_unencoded_is_removed_as_frameworks_read_it(sentry_init):
    """A form value sent as raw UTF-8 (curl -d), not percent-encoded, is removed as apps decode it."""
    transport = sentry_init()

    async def app(scope, receive, send):
        fields = parse_qs((await read_body(receive)).decode())
        raise RuntimeError(sorted(fields))

    body = f"user=bob&password={UNENCODED_PASSWORD}".encode()
    scope = body_scope("application/x-www-form-urlencoded")
    event = await capture(transport, app, scope, [{"type": "http.request", "body": body}])
    assert event["request"]["data"] == {"user": "bob", "password": FILTERED}
    frame = event["exception"]["values"][-1]["stacktrace"]["frames"][-1]
    assert frame["vars"]["fields"]["password"] == [f"'{FILTERED}'"]
    assert UNENCODED_PASSWORD not in json.dumps(event, ensure_ascii=False)


async def test_query_and_header_secrets_sent_as_raw_utf8_are_removed_as_apps_decode_them(
    sentry_init,
):
    """A raw UTF-8 query value or header value, which the app decodes as UTF-8, is removed."""
    transport = sentry_init()

    async def app(scope, receive, send):
        query = parse_qs(scope["query_string"].decode())
        api_key = dict(scope["headers"])[b"x-api-key"].decode()
        raise RuntimeError(len(query) + len(api_key))

    raw = UNENCODED_PASSWORD.encode()
    headers = [(b"host", b"h"), (b"x-api-key", b"k-" + raw)]
    with pytest.raises(RuntimeError):
        await call(
            SentryMiddleware(app), http_scope("/x", query_string=b"token=" + raw, headers=headers)
        )
    (event,) = transport.events
    frame = event["exception"]["values"][-1]["stacktrace"]["frames"][-1]
    assert frame["vars"]["query"] == {"token": [f"'{FILTERED}'"]}
    assert UNENCODED_PASSWORD not in json.dumps(event, ensure_ascii=False)


RPC_PASSPHRASE = "unlock" + "-Passphrase-4471"  # built: the source lines sent hold no copy
ACCOUNT = "0x4f3c8e2a9b7d6c5e1f0a"


@pytest.mark.parametrize(
    "method",
    [
        "login",
        "user.logIn",
        "auth.sign_in",
        "personal_unlockAccount",
        "walletpassphrase",
        "encryptwallet",
    ],
)
async def test_positional_params_of_a_json_rpc_method_taking_a_secret_are_filtered(
    sentry_init, method
):
    """A JSON-RPC call that signs in or unlocks has its positional params, which no name marks, filtered whole."""
    transport = sentry_init()
    rpc = {"jsonrpc": "2.0", "id": 1, "method": method, "params": [ACCOUNT, RPC_PASSPHRASE, 300]}
    messages = [{"type": "http.request", "body": json.dumps(rpc).encode()}]
    event = await capture(transport, json_reader(), body_scope("application/json"), messages)
    assert event["request"]["data"] == {**rpc, "params": FILTERED}
    assert RPC_PASSPHRASE not in json.dumps(event)  # nor in the frame that parsed the call


async def test_json_rpc_batch_filters_only_the_params_that_hold_a_secret(sentry_init):
    """In a batch, an ordinary method's positional params are sent; named params go by their names."""
    transport = sentry_init()
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": [ACCOUNT, "latest"]},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "login",
            "params": {"user": "alice", "password": RPC_PASSPHRASE},
        },
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "personal_sign",
            "params": ["0xdead", ACCOUNT, RPC_PASSPHRASE],
        },
    ]
    data = await body_data_without(transport, "application/json", json.dumps(batch), RPC_PASSPHRASE)
    assert data == [
        batch[0],
        {**batch[1], "params": {"user": "alice", "password": FILTERED}},
        {**batch[2], "params": FILTERED},
    ]


async def test_json_rpc_passphrase_sent_over_a_websocket_is_removed_from_the_frames(sentry_init):
    """A JSON-RPC call over a websocket, only in the app's frames, has the passphrase it unlocks with removed."""
    transport = sentry_init()

    rpc = {"id": 7, "method": "personal_unlockAccount", "params": [ACCOUNT, RPC_PASSPHRASE, 60]}
    messages = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": json.dumps(rpc)},
    ]
    event = await event_of_failing(
        transport, http_scope("/rpc", type="websocket"), parses_first_message, messages
    )
    frame = event["exception"]["values"][-1]["stacktrace"]["frames"][-1]
    assert frame["vars"]["parsed"]["method"] == "'personal_unlockAccount'"
    assert RPC_PASSPHRASE not in json.dumps(event)
