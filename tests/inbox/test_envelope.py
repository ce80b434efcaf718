import gzip
import re
import time
import zlib

import brotli
import pytest

from sentry_asgi.inbox._decode import BadEncodingError, TooLargeError, decode
from sentry_asgi.inbox._envelope import EnvelopeError, parse

EVENT = b'{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","message":"hi"}'


def test_items_with_and_without_length():
    """Items with a length are read to that length (newlines included); others to the line end."""
    body = (
        b'{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc"}\n'
        b'{"type":"attachment","length":10,"filename":"a.txt"}\n'
        b"two\nlines\n\n"
        b'{"type":"event"}\n' + EVENT + b"\n"
    )
    env = parse(body)
    assert env.headers == {"event_id": "9ec79c33ec9942ab8353589fcb2e04dc"}
    assert [item.type for item in env.items] == ["attachment", "event"]
    assert env.items[0].payload == b"two\nlines\n"
    assert env.items[1].json()["message"] == "hi"


def test_last_item_without_trailing_newline():
    """The final payload may end the body without a newline, as sentry_sdk writes it."""
    env = parse(b'{}\n{"type":"event","length":%d}\n' % len(EVENT) + EVENT)
    assert env.items[0].payload == EVENT


def test_blank_lines_between_items_carry_nothing():
    """A blank line between items, of a CRLF body or of spaces, is skipped."""
    env = parse(b'{}\r\n\r\n{"type":"event"}\r\n' + EVENT + b"\r\n  \n")
    assert [item.json()["message"] for item in env.items] == ["hi"]


def test_empty_payload_and_header_only():
    """An envelope may be just a header, and an item may have an empty payload."""
    assert parse(b"{}").items == []
    env = parse(b'{}\n{"type":"attachment","length":0}\n')
    assert env.items[0].payload == b""


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty envelope"),
        (b"   \n", "empty envelope"),
        (b"not json\n", "envelope header is not valid JSON"),
        (b"[1, 2]\n", "envelope header is not a JSON object"),
        (b'{}\n{"length":2}\n{}', "item 0 header has no type"),
        (b'{}\n{"type":"event","length":99}\n{}', "item 0 is truncated: length 99, only 2 bytes"),
        (b'{}\n{"type":"event","length":-1}\n{}', "item 0 has an invalid length: -1"),
        (b'{}\n{"type":"event","length":"2"}\n{}', "item 0 has an invalid length: '2'"),
        (b'{}\n{"type":"event","length":true}\n{}', "item 0 has an invalid length: True"),
        (b'{}\n{"type":"event","length":1}\n{}', "item 0 payload is longer than its length 1"),
        (b"{}\n\xff\xfe\n", "item 0 header is not valid JSON"),
    ],
)
def test_malformed_envelopes_are_refused_with_a_reason(body, reason):
    """Each structural fault is an EnvelopeError whose message says what is wrong."""
    with pytest.raises(EnvelopeError, match="^" + re.escape(reason)):
        parse(body)


def test_payload_that_is_not_an_object():
    """An event payload must be a JSON object; the error names the item type."""
    env = parse(b'{}\n{"type":"event"}\n[1]\n')
    with pytest.raises(EnvelopeError, match="item 0 \\(event\\) payload is not a JSON object"):
        env.items[0].json()


def raw_deflate(data: bytes) -> bytes:
    """Deflate without zlib's header (Python 3.10's zlib.compress takes no wbits)."""
    deflater = zlib.compressobj(wbits=-15)
    return deflater.compress(data) + deflater.flush()


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", raw_deflate),  # seen in the wild
        ("br", brotli.compress),
        ("", lambda data: data),
        ("identity", lambda data: data),
        ("x-gzip", gzip.compress),  # HTTP/1.1's alias of gzip
        ("GZip", gzip.compress),  # encodings are case-insensitive
        ("deflate, gzip", lambda data: gzip.compress(zlib.compress(data))),  # in the order applied
    ],
)
def test_content_encodings_round_trip(encoding, compress):
    """gzip, deflate (zlib or raw) and brotli bodies decode to the original bytes, as do x-gzip, any case, and a list of encodings."""
    assert decode(compress(EVENT), encoding, 10_000) == EVENT


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("br", brotli.compress)],
)
def test_compressed_bomb_stops_at_the_limit(encoding, compress):
    """A tiny body that inflates past the limit is refused without inflating it all."""
    bomb = compress(b"\0" * 50_000_000)
    assert len(bomb) < 100_000
    with pytest.raises(TooLargeError):
        decode(bomb, encoding, 1_000_000)


def test_every_gzip_member_is_decoded():
    """A gzip body of several members (RFC 1952) decodes to all of them, not the first alone."""
    header, item = (
        b'{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc"}\n',
        b'{"type":"event"}\n' + EVENT,
    )
    assert decode(gzip.compress(header) + gzip.compress(item), "gzip", 10_000) == header + item


def test_a_gzip_body_of_many_tiny_members_decodes_in_time_linear_in_its_size():
    """320,000 empty gzip members (6.4 MB) decode in well under 4 s, not in a time that grows with their square."""
    body = gzip.compress(b"") * 320_000
    started = time.perf_counter()
    assert decode(body, "gzip", 50 * 1024 * 1024) == b""
    assert time.perf_counter() - started < 4


def test_gzip_members_share_one_limit():
    """Many members that each fit under the limit are refused once together they pass it."""
    with pytest.raises(TooLargeError):
        decode(gzip.compress(b"\0" * 600_000) * 2, "gzip", 1_000_000)


@pytest.mark.parametrize(
    ("encoding", "body", "reason"),
    [
        ("gzip", b"plain text", "body is not valid gzip"),
        ("gzip", gzip.compress(EVENT, mtime=0)[:-12], "compressed body is truncated"),
        ("gzip", gzip.compress(EVENT, mtime=0) + b"junk", "body is not valid gzip"),
        ("br", b"\xff" * 16, "body is not valid brotli"),
        ("br", brotli.compress(EVENT * 50)[:-3], "compressed body is truncated"),
        ("deflate", b"plain text", "body is not valid deflate"),
        ("zstd", b"", "unsupported Content-Encoding: zstd"),
    ],
)
def test_bad_compressed_bodies(encoding, body, reason):
    """Undecodable bodies raise BadEncodingError with a one-line reason."""
    with pytest.raises(BadEncodingError, match=reason):
        decode(body, encoding, 10_000)


def test_uncompressed_body_over_the_limit():
    """The limit applies to plain bodies as well."""
    with pytest.raises(TooLargeError):
        decode(EVENT, "", 10)
