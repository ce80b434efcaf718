"""Request bodies: recorded as the app reads them, capped, parsed for events, secrets filtered."""

from __future__ import annotations

import json

import pytest
from apps import read_body
from conftest import call, http_scope, needs_data_collection
from hypothesis import example, given
from hypothesis import strategies as st

from sentry_asgi import SentryMiddleware
from sentry_asgi._body import may_hold_secret, scrub_fields
from sentry_asgi._scrub import Secrets

pytestmark = pytest.mark.anyio


def reader(chunks_to_read: int | None = None):
    """An app that reads the body (all of it, or some messages) and then fails."""

    async def app(scope, receive, send):
        read = 0
        while True:
            message = await receive()
            read += 1
            if not message.get("more_body") or read == chunks_to_read:
                break
        raise RuntimeError("after reading")

    return app


def body_scope(content_type: str):
    return http_scope(
        "/submit",
        method="POST",
        headers=[(b"host", b"h"), (b"content-type", content_type.encode())],
    )


async def capture(transport, app, scope, messages):
    conversation = None
    with pytest.raises(RuntimeError):
        conversation = await call(SentryMiddleware(app), scope, messages)
    assert conversation is None
    (event,) = transport.events
    return event


async def event_for_body(transport, content_type: str, body: str):
    """The event of an app that reads ``body``, sent whole in one message, then fails."""
    messages = [{"type": "http.request", "body": body.encode()}]
    return await capture(transport, reader(), body_scope(content_type), messages)


async def test_json_body_is_attached_with_secret_fields_filtered(sentry_init):
    """A JSON body is attached parsed, with password/token fields filtered at any depth."""
    transport = sentry_init()
    body = json.dumps(
        {"user": "ann", "password": "pw-secret-1", "nested": {"api_token": "tk-999999"}}
    )
    messages = [
        {"type": "http.request", "body": body[:10].encode(), "more_body": True},
        {"type": "http.request", "body": body[10:].encode()},
    ]
    event = await capture(transport, reader(), body_scope("application/json"), messages)
    assert event["request"]["data"] == {
        "user": "ann",
        "password": "[Filtered]",
        "nested": {"api_token": "[Filtered]"},
    }
    assert "pw-secret-1" not in json.dumps(event)
    assert "tk-999999" not in json.dumps(event)


async def test_form_body_becomes_fields(sentry_init):
    """A urlencoded form is a dict of fields; a repeated field becomes a list."""
    transport = sentry_init()
    messages = [{"type": "http.request", "body": b"a=1&tag=x&tag=y&csrf_token=c-123456"}]
    event = await capture(
        transport, reader(), body_scope("application/x-www-form-urlencoded"), messages
    )
    assert event["request"]["data"] == {"a": "1", "tag": ["x", "y"], "csrf_token": "[Filtered]"}


async def test_multipart_files_are_named_and_sized_never_attached(sentry_init):
    """Multipart text fields are kept, a file only by name and size."""
    transport = sentry_init()
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="title"\r\n\r\nholiday\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="photo"; filename="me.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n\xff\xd8JPEGDATA-SECRET\r\n--XyZ--\r\n"
    )
    messages = [{"type": "http.request", "body": body}]
    event = await capture(
        transport, reader(), body_scope("multipart/form-data; boundary=XyZ"), messages
    )
    assert event["request"]["data"] == {"title": "holiday", "photo": "[file 'me.jpg', 17 bytes]"}
    assert "JPEGDATA" not in json.dumps(event["request"])


async def test_body_over_the_cap_is_only_an_annotation(sentry_init):
    """Over max_request_body_size the body is left out, and Sentry is told why."""
    transport = sentry_init(max_request_body_size="small")
    messages = [{"type": "http.request", "body": b"x" * 1500}]
    event = await capture(transport, reader(), body_scope("text/plain"), messages)
    assert event["request"].get("data", "") == ""
    assert event["_meta"]["request"]["data"][""]["rem"][0][0] == "!config"


def left_out_as_too_large(event) -> bool:
    """Tell whether the event says its body was left out for max_request_body_size."""
    removed = event.get("_meta", {}).get("request", {}).get("data", {}).get("", {}).get("rem")
    return removed is not None and removed[0][0] == "!config"


@pytest.mark.parametrize(("size", "attached"), [(20_000, True), (1_000_001, False)])
async def test_always_attaches_a_body_up_to_sentrys_event_size_limit(sentry_init, size, attached):
    """max_request_body_size='always' sends a body larger than 'medium', up to 1 MB."""
    transport = sentry_init(max_request_body_size="always")
    messages = [{"type": "http.request", "body": b"x" * size}]
    event = await capture(transport, reader(), body_scope("text/plain"), messages)
    assert event["request"].get("data", "").startswith("x") is attached
    assert left_out_as_too_large(event) is not attached


@pytest.mark.parametrize(
    ("option", "cap"), [("small", 1_000), ("medium", 10_000), ("always", 1_000_000)]
)
@pytest.mark.parametrize("parts", [1, 2], ids=["whole", "in-parts"])
@pytest.mark.parametrize("over", [0, 1], ids=["at-the-cap", "one-byte-over"])
async def test_a_body_of_the_cap_is_attached_and_one_byte_more_is_not(
    sentry_init, option, cap, parts, over
):
    """Each max_request_body_size sends a body of exactly its size, in one message or several, and only annotates one a byte larger."""
    # older sentry_sdk releases cut every string (at 1024, later 100,000 characters): not here
    transport = sentry_init(max_request_body_size=option, max_value_length=2 * cap)
    body = b"x" * (cap + over)
    half = len(body) // parts
    messages = [
        {"type": "http.request", "body": body[:half], "more_body": parts > 1},
        *([{"type": "http.request", "body": body[half:]}] if parts > 1 else []),
    ]
    event = await capture(transport, reader(), body_scope("text/plain"), messages)
    sent = event["request"].get("data", "")
    assert (len(sent), left_out_as_too_large(event)) == ((0, True) if over else (cap, False))


async def test_never_means_no_body(sentry_init):
    """max_request_body_size='never' attaches nothing."""
    transport = sentry_init(max_request_body_size="never")
    messages = [{"type": "http.request", "body": b"hello"}]
    event = await capture(transport, reader(), body_scope("text/plain"), messages)
    assert "data" not in event["request"]


async def test_unread_body_is_not_attached_and_not_read_ahead(sentry_init):
    """The middleware never reads a body the app did not read: nothing attached, nothing consumed."""
    transport = sentry_init()

    async def app(scope, receive, send):
        raise RuntimeError("before reading")

    messages = [{"type": "http.request", "body": b"untouched"}]
    conversation = None
    with pytest.raises(RuntimeError):
        conversation = await call(SentryMiddleware(app), body_scope("text/plain"), messages)
    assert conversation is None
    (event,) = transport.events
    assert "data" not in event["request"]


async def test_partly_read_body_is_not_attached_as_if_whole(sentry_init):
    """A body the app stopped reading half-way is not presented as the request's body."""
    transport = sentry_init()
    messages = [
        {"type": "http.request", "body": b"part one", "more_body": True},
        {"type": "http.request", "body": b"part two"},
    ]
    event = await capture(transport, reader(chunks_to_read=1), body_scope("text/plain"), messages)
    assert "data" not in event["request"]


async def test_a_message_after_a_whole_body_is_recorded_after_it(sentry_init):
    """A body message after one that ended the body (the app reads both) is recorded after it."""
    transport = sentry_init()

    async def app(scope, receive, send):
        await receive()
        await receive()
        raise RuntimeError("after reading")

    messages = [
        {"type": "http.request", "body": b"first,"},
        {"type": "http.request", "body": b" then more"},
    ]
    event = await capture(transport, app, body_scope("text/plain"), messages)
    assert event["request"]["data"] == "first, then more"


async def test_the_app_receives_the_very_same_messages(sentry_init):
    """Body messages reach the app as the same objects, unchanged, in order."""
    sentry_init()
    messages = [
        {"type": "http.request", "body": b"a", "more_body": True},
        {"type": "http.request", "body": b"b"},
    ]
    originals = list(messages)
    received = []

    async def app(scope, receive, send):
        received.append(await receive())
        received.append(await receive())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    await call(SentryMiddleware(app), body_scope("text/plain"), messages)
    assert all(a is b for a, b in zip(received, originals, strict=True))
    assert originals[0] == {"type": "http.request", "body": b"a", "more_body": True}


async def test_body_read_up_to_its_content_length_counts_as_whole(sentry_init):
    """A framework that reads exactly Content-Length bytes, never the closing message, still gets its body attached."""
    transport = sentry_init()
    scope = http_scope(
        "/submit",
        method="POST",
        headers=[
            (b"host", b"h"),
            (b"content-type", b"application/json"),
            (b"content-length", b"8"),
        ],
    )
    messages = [
        {"type": "http.request", "body": b'{"a": 1}', "more_body": True},
        {"type": "http.request", "body": b""},
    ]
    event = await capture(transport, reader(chunks_to_read=1), scope, messages)
    assert event["request"]["data"] == {"a": 1}


def json_reader():
    """An app that parses the body as JSON whatever its Content-Type, then fails."""

    async def app(scope, receive, send):
        payload = json.loads(await read_body(receive))
        raise RuntimeError(len(payload))

    return app


PASSWORD = "hunter2" + "-correct-horse"  # built: the source lines sent hold no copy
REFRESH = "refresh" + "-token-XYZ987"


@pytest.mark.parametrize("content_type", [None, "text/plain;charset=UTF-8"])
async def test_json_body_without_json_content_type_is_parsed_and_filtered(
    sentry_init, content_type
):
    """A JSON object sent without a JSON Content-Type is parsed as JSON, its secrets filtered."""
    transport = sentry_init()
    headers = [(b"host", b"h")]
    if content_type:
        headers.append((b"content-type", content_type.encode()))
    scope = http_scope("/login", method="POST", headers=headers)
    body = json.dumps({"username": "bob", "password": PASSWORD}).encode()
    event = await capture(transport, json_reader(), scope, [{"type": "http.request", "body": body}])
    assert event["request"]["data"] == {"username": "bob", "password": "[Filtered]"}
    assert PASSWORD not in json.dumps(event)


async def test_each_value_under_a_secret_key_is_removed(sentry_init):
    """Every string under a secret key (a dict or a list) is removed from the app's parsed copy."""
    transport = sentry_init()
    doc = {"user": {"credentials": {"pass": PASSWORD}}, "tokens": [REFRESH, "other-tok-1"]}
    messages = [{"type": "http.request", "body": json.dumps(doc).encode()}]
    event = await capture(transport, json_reader(), body_scope("application/json"), messages)
    text = json.dumps(event)
    assert PASSWORD not in text
    assert REFRESH not in text


@pytest.mark.parametrize(
    "options",
    [
        pytest.param(
            {"data_collection": {"http_bodies": [], "user_info": False}},
            marks=needs_data_collection,
            id="bodies-off",
        ),
        pytest.param({"max_request_body_size": "never"}, id="never"),
        pytest.param({"max_request_body_size": "small"}, id="over-small-cap"),
    ],
)
async def test_body_not_sent_still_has_its_secrets_removed(sentry_init, options):
    """A body that is not attached is still read for secrets, which the app's copy then loses."""
    transport = sentry_init(**options)
    doc = {"username": "bob", "password": PASSWORD, "api_key": REFRESH, "bio": "x" * 2000}
    messages = [{"type": "http.request", "body": json.dumps(doc).encode()}]
    event = await capture(transport, json_reader(), body_scope("application/json"), messages)
    assert not isinstance(event["request"].get("data"), dict)
    text = json.dumps(event)
    assert PASSWORD not in text
    assert REFRESH not in text


@pytest.mark.parametrize("size", ["never", "small"])
async def test_a_body_sent_in_parts_not_attached_still_has_its_secrets_removed(sentry_init, size):
    """A body in several messages, not attached, is still read for secrets the app's bytes hold."""
    transport = sentry_init(max_request_body_size=size)

    async def app(scope, receive, send):
        raw = await read_body(receive)
        raise RuntimeError(len(raw))

    raw = json.dumps({"password": PASSWORD, "bio": "x" * 2000}).encode()
    messages = [
        {"type": "http.request", "body": raw[:1500], "more_body": True},
        {"type": "http.request", "body": raw[1500:]},
    ]
    event = await capture(transport, app, body_scope("application/json"), messages)
    assert PASSWORD not in json.dumps(event)


async def test_form_secret_is_removed_as_the_client_encoded_it(sentry_init):
    """A secret form field is removed from the raw body too, percent-encoded as sent (%2f)."""
    transport = sentry_init()

    async def app(scope, receive, send):
        raw = (await receive())["body"]
        raise RuntimeError(len(raw))

    body = b"user=bob&password=abc%2fdef%2fghi-" + str(2024).encode()
    messages = [{"type": "http.request", "body": body}]
    scope = body_scope("application/x-www-form-urlencoded")
    event = await capture(transport, app, scope, messages)
    assert event["request"]["data"] == {"user": "bob", "password": "[Filtered]"}
    assert body.decode()[-8:] not in json.dumps(event)


# Texts as fields hold them: words, secret names, and every character that gives a text structure.
_FIELD_TEXT = st.lists(
    st.sampled_from(
        [*"aZ0 =:,;\"'/%&+\n{}[]()?#@eyJ", "eyJ", "password", "token", "query ", "mutation"]
    )
    | st.sampled_from(["https://", "hunter2hunter2", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2ln"]),
    max_size=12,
).map("".join)


@given(_FIELD_TEXT)
@example('{"password": "hunter2hunter2"}')  # each needs one of the characters it looks for
@example("[password: hunter2hunter2")
@example("mutation login(password: hunter2hunter2)")
@example("/cb?token=hunter2hunter2")
@example("/cb#access_token=hunter2hunter2")
@example("https://user:hunter2hunter2@host/")
@example("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJl")
def test_a_text_the_quick_check_passes_over_is_one_scrub_fields_leaves_alone(text):
    """may_hold_secret, the query string's shortcut, passes over only texts scrub_fields would return unchanged, learning nothing."""
    secrets = Secrets()
    scrubbed = scrub_fields(text, secrets)
    assert may_hold_secret(text) or (scrubbed == text and not secrets)
