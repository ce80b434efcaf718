import asyncio
import json
import re
import sqlite3

import httpx
import pytest
import sentry_sdk

from sentry_asgi import SentryMiddleware
from sentry_asgi.inbox._console import line
from sentry_asgi.inbox._envelope import parse
from sentry_asgi.inbox._store import Store

from .helpers import envelope, event_item, get, post, sdk

pytestmark = pytest.mark.e2e

TRACE_ID = "5" * 32
SPAN_ITEM = {"type": "span", "content_type": "application/vnd.sentry.items.span.v2+json"}


def span_item(*spans: dict) -> tuple[dict, bytes]:
    """A span item as sentry_sdk's SpanBatcher builds it."""
    header = {**SPAN_ITEM, "item_count": len(spans)}
    return header, json.dumps({"version": 2, "items": list(spans)}).encode()


def span(span_id: str, parent: str | None = None, **fields: object) -> dict:
    """A streamed span of TRACE_ID, one second long unless told otherwise."""
    data = {
        "trace_id": TRACE_ID,
        "span_id": span_id,
        "name": f"span {span_id}",
        "status": "ok",
        "is_segment": parent is None,
        "start_timestamp": 1_700_000_000.0,
        "end_timestamp": 1_700_000_001.0,
        **fields,
    }
    if parent is not None:
        data["parent_span_id"] = parent
    return data


async def shop(scope, receive, send) -> None:
    """An ASGI app whose request queries a database and then fails."""
    with sentry_sdk.traces.start_span(name="SELECT * FROM items", attributes={"sentry.op": "db"}):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
    msg = "payment provider answered 503"
    raise RuntimeError(msg)


def request_through_middleware(path: str) -> None:
    transport = httpx.ASGITransport(SentryMiddleware(shop), raise_app_exceptions=False)

    async def browse() -> None:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as c:
            await c.get(path)

    asyncio.run(browse())


def test_sdk_streamed_segment_is_a_trace_with_its_spans(inbox):
    """A segment streamed by sentry_sdk is listed like a transaction and drawn as a waterfall."""
    with (
        sdk(dsn=inbox.dsn, traces_sample_rate=1.0, trace_lifecycle="stream"),
        sentry_sdk.traces.start_span(name="nightly import", attributes={"sentry.op": "task"}),
        sentry_sdk.traces.start_span(name="SELECT 1", attributes={"sentry.op": "db"}),
    ):
        pass
    [root] = inbox.store.traces()
    assert (root["title"], root["status"], root["duration_ms"] >= 0) == (
        "nightly import",
        "ok",
        True,
    )
    status, page = get(inbox, f"/traces/{root['trace_id']}")
    assert status == 200
    rows = re.findall(r'<tr class="span-row">(.*?)</tr>', page)
    assert [re.search(r"<code>(.*?)</code> (.*?)(?:<div|</td>)", row).groups() for row in rows] == [
        ("task", "nightly import"),
        ("db", "SELECT 1"),
    ]
    assert 'style="padding-left:1.8em"><code>db' in page  # one level under its segment


@pytest.mark.parametrize(
    "options",
    [{"trace_lifecycle": "stream"}, {"_experiments": {"trace_lifecycle": "stream"}}],
    ids=["option", "experiment"],
)
def test_request_through_the_middleware_streams_a_trace_its_error_links_to(inbox, options):
    """A streamed request shows its method, URL, status and spans; its error links to the trace."""
    printed = []
    inbox.app.on_event = printed.append
    with sdk(dsn=inbox.dsn, traces_sample_rate=1.0, **options):
        request_through_middleware("/items/7?q=1")
    [root] = inbox.store.traces()
    assert root["title"] == "/items/7"
    assert root["request"] == "GET http://127.0.0.1:8000/items/7?q=1"
    assert root["status"] == "error"
    _, index = get(inbox, "/")
    assert "GET http://127.0.0.1:8000/items/7?q=1" in index
    trace_path = f"/traces/{root['trace_id']}"
    [issue] = inbox.store.issues()
    _, event_page = get(inbox, f"/events/{issue.last_event_id}")
    assert f'href="{trace_path}"' in event_page
    status, trace_page = get(inbox, trace_path)
    assert status == 200
    assert trace_page.count('class="span-row"') == 2
    assert "<code>http.server</code> /items/7" in trace_page
    assert "<code>db</code> SELECT * FROM items" in trace_page
    assert '<span class="status">error</span>' in trace_page
    assert "RuntimeError: payment provider answered 503" in trace_page
    [segment] = [s for s in printed if s.kind == "segment"]
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d SEGMENT /items/7  GET http://127\.0\.0\.1:8000/items/7\?q=1"
        rf"  \d+\.\d ms  trace {root['trace_id']}  http://x{trace_path}",
        line(segment, "http://x"),
    )


def test_spans_sent_before_their_segment_join_it_when_it_arrives(inbox):
    """Children flushed ahead of their segment show under a stand-in, then under the segment."""
    children = [span("b" * 16, "a" * 16), span("c" * 16, "b" * 16)]  # no segment id attribute
    assert post(inbox, envelope(span_item(*children)))[0] == 200
    _, page = get(inbox, f"/traces/{TRACE_ID}")
    assert "(segment not received)" in page
    assert page.count('class="span-row"') == 3
    assert inbox.store.traces() == []
    segment = span("a" * 16, name="GET /slow")
    assert post(inbox, envelope(span_item(segment)))[0] == 200
    assert post(inbox, envelope(span_item(segment)))[0] == 200  # sent twice, stored once
    _, page = get(inbox, f"/traces/{TRACE_ID}")
    assert "(segment not received)" not in page
    assert page.count('class="span-row"') == 3
    assert 'style="padding-left:3.0em"><code></code> span cccccccccccccccc' in page
    assert [root["title"] for root in inbox.store.traces()] == ["GET /slow"]


def test_a_thousand_nested_streamed_spans_find_their_segment(inbox):
    """A chain of a thousand spans, listed as they end and naming no segment, all show under it."""
    chain = [span(f"{n:016x}", f"{n - 1:016x}") for n in range(1, 1001)][::-1]
    body = envelope(span_item(*chain, span(f"{0:016x}", name="deep")))
    assert post(inbox, body)[0] == 200
    status, page = get(inbox, f"/traces/{TRACE_ID}")
    assert (status, page.count('class="span-row"')) == (200, 1001)
    assert "(segment not received)" not in page


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"[]", "item 1 (span) payload is not a JSON object"),
        (b'{"version": 2}', "item 1 (span) payload has no list of items"),
        (b'{"items": [5]}', "item 1 (span) payload has no list of items"),
        (b'{"items": [{"span_id": "a"}]}', "item 1 (span) span 0 has no trace_id"),
        (
            b'{"items": [{"trace_id": "t", "span_id": ["a"]}]}',
            "item 1 (span) span 0 has no span_id",
        ),
    ],
)
def test_malformed_span_items_get_400_and_store_nothing(inbox, payload, reason):
    """A span item the inbox cannot place is refused whole with a one-line reason."""
    body = envelope(event_item({"message": "beside it"}), (SPAN_ITEM, payload))
    assert post(inbox, body) == (400, reason)
    assert inbox.store.latest() == 0


def test_odd_span_fields_are_shown_as_well_as_they_can_be(inbox):
    """Wrong types in a span's fields and attributes leave blanks, never a refusal or a 500."""
    odd = span(
        "a" * 16,
        name=["not", "text"],
        status={"code": 2},
        is_segment="yes",
        start_timestamp="2023-11-14T22:13:20Z",
        end_timestamp="never",
        attributes={"sentry.op": "bare", "http.request.method": {"type": "string"}, "url.full": 3},
    )
    child = span("b" * 16, "a" * 16, attributes=[1], start_timestamp=float("nan"))
    assert post(inbox, envelope(span_item(odd, child)))[0] == 200
    [root] = inbox.store.traces()
    assert (root["title"], root["request"], root["duration_ms"]) == ("(unnamed span)", "3", None)
    for path in ("/", f"/traces/{TRACE_ID}"):
        status, page = get(inbox, path)
        assert (status, "(unnamed span)" in page) == (200, True), path
    assert page.count('class="span-row"') == 2


@pytest.mark.parametrize("when", [10**400, float("inf")], ids=["beyond-float", "infinite"])
def test_spans_and_transactions_timed_beyond_any_clock_are_stored_without_a_duration(inbox, when):
    """A timestamp no float holds, or an infinite one, leaves the duration blank, never a 500."""
    segment = span("a" * 16, start_timestamp=when, end_timestamp=1_700_000_001.0)
    txn = {
        "event_id": "c" * 32,
        "type": "transaction",
        "transaction": "GET /from-no-time",
        "start_timestamp": 1_700_000_000.0,
        "timestamp": when,
        "contexts": {"trace": {"trace_id": TRACE_ID, "span_id": "b" * 16}},
    }
    body = envelope(span_item(segment), event_item(txn, "transaction"))
    assert post(inbox, body)[0] == 200
    assert [t["duration_ms"] for t in inbox.store.traces()] == [None, None]
    status, page = get(inbox, f"/traces/{TRACE_ID}")
    assert (status, page.count('class="span-row"')) == (200, 2)


def test_a_database_from_the_previous_version_opens_and_keeps_its_rows(tmp_path):
    """An inbox file made before streamed spans were stored gains them and loses nothing."""
    path = str(tmp_path / "old.sqlite3")
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE,"
        " kind TEXT NOT NULL, received REAL NOT NULL, level TEXT NOT NULL, title TEXT NOT NULL,"
        " culprit TEXT NOT NULL, fingerprint TEXT NOT NULL, trace_id TEXT NOT NULL,"
        " transaction_name TEXT NOT NULL, request TEXT NOT NULL, duration_ms REAL,"
        " data TEXT NOT NULL);"
        "INSERT INTO events VALUES (1, 'e1', 'transaction', 1700000000, 'info', 'GET /old', '',"
        " 'f', 't1', 'GET /old', '', 5.0, '{}');"
    )
    old.close()
    for _ in range(2):  # and opening it again finds nothing left to add
        store = Store(path)
        store.close()
    store = Store(path)
    try:
        assert [r["title"] for r in store.traces()] == ["GET /old"]
        store.add(parse(envelope(span_item(span("a" * 16, name="GET /new")))))
        assert [(r["title"], r["status"]) for r in store.traces()] == [
            ("GET /new", "ok"),
            ("GET /old", ""),
        ]
    finally:
        store.close()
