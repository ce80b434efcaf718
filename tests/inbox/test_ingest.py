import gzip
import html
import json
import os
import re
import threading
import zlib

import brotli
import pytest
import sentry_sdk
from sentry_sdk.crons import capture_checkin

from sentry_asgi.inbox._layout import href

from .helpers import envelope, event_item, get, post, request, sdk

pytestmark = pytest.mark.e2e


def fail_in_handler() -> None:
    raise KeyError("missing")


def capture_failure() -> None:
    try:
        fail_in_handler()
    except KeyError:
        sentry_sdk.capture_exception()


def test_sdk_http_transport_delivers_an_error(inbox):
    """An exception captured with a DSN pointing at the inbox becomes an issue with its culprit."""
    with sdk(dsn=inbox.dsn):
        capture_failure()
    [issue] = inbox.store.issues()
    assert issue.title == "KeyError: 'missing'"
    assert issue.culprit.endswith("in fail_in_handler")
    assert issue.count == 1
    event = inbox.store.event(issue.last_event_id)
    assert event is not None
    frame = event["exception"]["values"][-1]["stacktrace"]["frames"][-1]
    assert frame["context_line"].strip() == 'raise KeyError("missing")'


def test_same_error_twice_is_one_issue_of_two_events(inbox):
    """Repeats of an error from the same place group into one issue with a count."""
    with sdk(dsn=inbox.dsn):
        capture_failure()
        capture_failure()
    assert [issue.count for issue in inbox.store.issues()] == [2]


def test_sdk_transaction_with_spans(inbox):
    """A transaction arrives with its spans, its duration and its trace id."""
    with (
        sdk(dsn=inbox.dsn, traces_sample_rate=1.0),
        sentry_sdk.start_transaction(op="http.server", name="GET /items/{item_id}"),
        sentry_sdk.start_span(op="db", name="SELECT 1"),
    ):
        pass
    [txn] = inbox.store.events(kind="transaction")
    assert txn["title"] == "GET /items/{item_id}"
    assert txn["duration_ms"] >= 0
    [data] = inbox.store.trace(txn["trace_id"])
    assert [(s["op"], s["description"]) for s in data["spans"]] == [("db", "SELECT 1")]


def test_text_from_an_undecodable_file_name_is_stored_and_shown(inbox):
    """A lone surrogate (os.fsdecode of a non-UTF-8 name) is shown as U+FFFD, not a 500."""
    name = os.fsdecode(b"report-\xff.csv")
    with sdk(dsn=inbox.dsn):
        sentry_sdk.set_tag("file", name)
        sentry_sdk.capture_message(f"cannot read {name}")
    [issue] = inbox.store.issues()
    assert issue.title == "cannot read report-\ufffd.csv"
    status, page = get(inbox, f"/events/{issue.last_event_id}")
    assert status == 200
    assert "report-\ufffd.csv" in page


def service_call(name, span_id, parent, start, end, spans=()):
    """A transaction of trace "d" * 32, its spans given as (span id, description, start, end)."""
    return {
        "event_id": span_id * 2,
        "type": "transaction",
        "transaction": name,
        "start_timestamp": start,
        "timestamp": end,
        "contexts": {"trace": {"trace_id": "d" * 32, "span_id": span_id, "parent_span_id": parent}},
        "spans": [
            {
                "span_id": sid,
                "parent_span_id": span_id,
                "op": "http.client",
                "description": desc,
                "start_timestamp": s,
                "timestamp": e,
            }
            for sid, desc, s, e in spans
        ],
    }


def trace_rows(inbox):
    """The trace page's rows: each one's label and its bar's left edge (percent of the trace)."""
    status, page = get(inbox, f"/traces/{'d' * 32}")
    assert status == 200
    rows = re.findall(
        r'<tr class="span-row"><td[^>]*><code>[^<]*</code> ([^<]*).*?left:([0-9.]+)%', page
    )
    return [(label, float(left)) for label, left in rows]


def test_trace_page_puts_a_called_service_under_the_span_that_called_it(inbox):
    """A transaction whose parent is another's span is drawn right under that span, on the trace's time axis."""
    calls = [("a" * 16, "GET /stock", 1.0, 2.0), ("b" * 16, "GET /price", 2.0, 3.0)]
    web = service_call("/checkout", "1" * 16, None, 0.0, 4.0, calls)
    stock = service_call("/stock", "2" * 16, "a" * 16, 1.2, 1.8)
    for txn in (stock, web):  # the callee first: the order of arrival does not matter
        assert post(inbox, envelope(event_item(txn, "transaction")))[0] == 200
    assert trace_rows(inbox) == [
        ("/checkout", 0.0),
        ("GET /stock", 25.0),
        ("/stock", 30.0),
        ("GET /price", 50.0),
    ]


def test_trace_page_shows_services_whose_callers_are_missing_or_circular(inbox):
    """A transaction whose caller is not in the trace starts at the top; bad data's cycles still show."""
    late = service_call("/late", "3" * 16, "f" * 16, 2.0, 3.0)
    early = service_call("/early", "4" * 16, "e" * 16, 0.0, 1.0)
    ping = service_call("/ping", "5" * 16, "6" * 16, 0.5, 1.0)
    pong = service_call("/pong", "6" * 16, "5" * 16, 0.6, 1.0)
    for txn in (late, early, ping, pong):
        assert post(inbox, envelope(event_item(txn, "transaction")))[0] == 200
    assert [label for label, _ in trace_rows(inbox)] == ["/early", "/late", "/ping", "/pong"]


def test_trace_page_of_a_thousand_nested_spans_listed_children_first(inbox):
    """Spans nested a thousand deep, each listed before its parent (as they end), all show."""
    trace_id = "e" * 32
    chain = [{"span_id": f"{n:016x}", "parent_span_id": f"{n - 1:016x}"} for n in range(1, 1001)]
    txn = {
        "event_id": "f" * 32,
        "type": "transaction",
        "transaction": "recurse",
        "start_timestamp": 1_700_000_000.0,
        "timestamp": 1_700_000_001.0,
        "contexts": {"trace": {"trace_id": trace_id, "span_id": f"{0:016x}"}},
        "spans": [
            {**span, "op": "step", "description": f"depth {n}"} for n, span in enumerate(chain)
        ][::-1],
    }
    assert post(inbox, envelope(event_item(txn, "transaction")))[0] == 200
    status, page = get(inbox, f"/traces/{trace_id}")
    assert status == 200
    assert page.count('class="span-row"') == 1001
    assert '<td class="op" style="padding-left:1200.6em"><code>step</code> depth 999</td>' in page


def test_spotlight_stream(inbox):
    """sentry_sdk's spotlight option posts to /stream, and those events are stored too."""
    with sdk(spotlight=f"{inbox.url}/stream"):
        sentry_sdk.capture_message("through spotlight")
    assert [e["title"] for e in inbox.store.events()] == ["through spotlight"]


def test_an_event_sent_both_to_the_dsn_and_to_spotlight_is_one_event(inbox):
    """With a DSN and Spotlight both naming the inbox, each event prints once, its file listed once."""
    printed = []
    inbox.app.on_event = printed.append
    with sdk(dsn=inbox.dsn, spotlight=f"{inbox.url}/stream"), sentry_sdk.new_scope() as scope:
        scope.add_attachment(bytes=b"hello\n", filename="notes.txt")
        sentry_sdk.capture_message("sent twice")
    assert [summary.title for summary in printed] == ["sent twice"]
    [event] = inbox.store.events()
    assert [a["filename"] for a in inbox.store.attachments(event["event_id"])] == ["notes.txt"]


def test_logs_and_check_ins_sent_both_to_the_dsn_and_to_spotlight_are_stored_once(inbox):
    """The very same envelope, from a DSN and from Spotlight, is stored once: logs have no id."""
    sentry_logger = pytest.importorskip("sentry_sdk.logger")  # sentry-sdk 2.35 and later
    with sdk(dsn=inbox.dsn, spotlight=f"{inbox.url}/stream", enable_logs=True):
        sentry_logger.info("logged once")
        capture_checkin(monitor_slug="nightly", status="ok")
    assert [log["body"] for log in inbox.store.logs()] == ["logged once"]
    assert [c["monitor_slug"] for c in inbox.store.check_ins()] == ["nightly"]


@pytest.mark.parametrize("algo", ["gzip", "br"])
def test_sdk_compressed_bodies(inbox, algo):
    """The SDK's gzip and brotli bodies are decoded."""
    with sdk(dsn=inbox.dsn, _experiments={"transport_compression_algo": algo}):
        sentry_sdk.capture_message(f"compressed with {algo}")
    assert [e["title"] for e in inbox.store.events()] == [f"compressed with {algo}"]


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("br", brotli.compress),
    ],
)
def test_hand_compressed_bodies(inbox, encoding, compress):
    """gzip, deflate and brotli bodies from any sender are accepted."""
    body = envelope(event_item({"message": f"hand {encoding}"}))
    status, _ = post(inbox, compress(body), headers={"Content-Encoding": encoding})
    assert status == 200
    assert [e["title"] for e in inbox.store.events()] == [f"hand {encoding}"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty envelope"),
        (
            b"garbage",
            "envelope header is not valid JSON: Expecting value: line 1 column 1 (char 0)",
        ),
        (b'{}\n{"type":"event","length":500}\n{"message":"cut"}', "item 0 is truncated"),
        (b'{}\n{"type":"transaction"}\n[]\n', "item 0 (transaction) payload is not a JSON object"),
        (b'{}\n{"type":"log"}\n{"items": 3}\n', "log payload has no list of items"),
        (
            b'{}\n{"type":"event"}\n{"tags":' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
            "item 0 (event) payload is nested too deeply",
        ),
    ],
)
def test_malformed_envelopes_get_400_and_store_nothing(inbox, body, reason):
    """A bad envelope, however deeply nested, is answered 400 with a one-line reason; none is kept."""
    status, text = post(inbox, body)
    assert status == 400
    assert text.startswith(reason)
    assert "\n" not in text
    assert inbox.store.latest() == 0


def test_half_valid_envelope_stores_nothing(inbox):
    """A good event followed by a broken item is refused whole."""
    body = envelope(event_item({"message": "good"})) + b'{"type":"event","length":3}\nabc\n'
    status, text = post(inbox, body)
    assert (status, text) == (
        400,
        "item 1 (event) payload is not valid JSON: Expecting value: line 1 column 1 (char 0)",
    )
    assert inbox.store.events() == []


def test_bad_compression_gets_400(inbox):
    """A body that is not what its Content-Encoding says is a 400, not a crash."""
    status, text = post(inbox, b"not gzip", headers={"Content-Encoding": "gzip"})
    assert status == 400
    assert text.startswith("body is not valid gzip")


def test_oversized_envelopes_get_413(inbox):
    """Too-large bodies, declared, plain or inflating past the limit, are answered 413."""
    inbox.app.max_envelope_size = 10_000
    big = envelope(event_item({"message": "x" * 20_000}))
    assert post(inbox, big) == (413, "envelope larger than 10000 bytes")
    assert post(inbox, gzip.compress(big), headers={"Content-Encoding": "gzip"})[0] == 413
    assert inbox.store.latest() == 0
    inbox.app.max_envelope_size = len(big)  # the limit itself is allowed
    assert post(inbox, big)[0] == 200


def test_every_item_type_it_can_show_and_others_ignored(inbox):
    """Events, logs, check-ins and attachments are stored; other item types pass silently."""
    event_id = "c" * 32
    body = envelope(
        event_item({"event_id": event_id, "message": "with a file"}),
        ({"type": "attachment", "filename": "notes.txt", "content_type": "text/plain"}, b"hello\n"),
        (
            {"type": "log", "item_count": 1},
            b'{"items":[{"timestamp":1700000000.5,"level":"warn","body":"disk at 91%",'
            b'"trace_id":"' + b"d" * 32 + b'"}]}',
        ),
        ({"type": "check_in"}, b'{"check_in_id":"x","monitor_slug":"nightly","status":"ok"}'),
        ({"type": "session"}, b'{"sid":"s"}'),
        ({"type": "client_report"}, b"{}"),
        ({"type": "profile_chunk"}, b"\x00\x01binary"),
        header={"event_id": event_id},
    )
    status, text = post(inbox, body)
    assert (status, text) == (200, f'{{"id": "{event_id}"}}')
    assert inbox.store.attachments(event_id) == [
        {"id": 1, "filename": "notes.txt", "content_type": "text/plain", "size": 6}
    ]
    assert [(log["level"], log["body"]) for log in inbox.store.logs()] == [("warn", "disk at 91%")]
    assert [(c["monitor_slug"], c["status"]) for c in inbox.store.check_ins()] == [
        ("nightly", "ok")
    ]
    status, page = get(inbox, "/")
    assert status == 200
    assert "disk at 91%" in page
    assert "nightly" in page
    status, page = get(inbox, f"/events/{event_id}")
    assert "notes.txt" in page
    assert "6 bytes" in page
    assert get(inbox, "/attachments/1") == (200, "hello\n")


def test_concurrent_senders_lose_nothing(inbox):
    """Eight senders posting at once: every envelope is stored exactly once."""
    errors: list[object] = []

    def send(worker: int) -> None:
        for n in range(25):
            status, text = post(inbox, envelope(event_item({"message": f"w{worker} n{n}"})))
            if status != 200:
                errors.append((status, text))

    threads = [threading.Thread(target=send, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(inbox.store.events(limit=1000)) == 200


def test_sixty_events_reach_the_inbox_within_sentry_sdk_s_flush_at_shutdown(inbox):
    """sentry_sdk's 2-second flush at shutdown delivers sixty events: the inbox answers each at once."""
    sentry_sdk.init(dsn=inbox.dsn, default_integrations=False)
    try:
        for n in range(60):
            sentry_sdk.capture_message(f"stopping {n}")
        sentry_sdk.flush(timeout=2)  # what a worker gets as it stops (shutdown_timeout)
        assert len(inbox.store.events(limit=100)) == 60
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)


def test_escaped_in_the_page(inbox):
    """Markup in an exception message is sent to the browser as text, never as markup."""
    payload = "<script>alert(1)</script>"
    event = {
        "event_id": "e" * 32,
        "exception": {"values": [{"type": "ValueError", "value": payload}]},
        "tags": {"<b>tag</b>": payload},
    }
    post(inbox, envelope(event_item(event)))
    for path in ("/", f"/events/{'e' * 32}"):
        status, page = get(inbox, path)
        assert status == 200
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert payload not in page
        assert "<b>tag</b>" not in page


def test_pages_send_a_strict_content_security_policy(inbox):
    """The pages may run only the inbox's own script, load nothing from elsewhere, and not be framed."""
    conn = __import__("http.client").client.HTTPConnection("127.0.0.1", inbox.port, timeout=5)
    conn.request("GET", "/")
    response = conn.getresponse()
    response.read()
    conn.close()
    csp = response.getheader("content-security-policy")
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    # No other site may show the inbox in a frame of its own (and lure clicks onto it).
    assert "frame-ancestors 'none'" in csp
    assert response.getheader("x-frame-options") == "DENY"
    # An attachment is served as a download, never sniffed into a page; no link tells where from.
    assert response.getheader("x-content-type-options") == "nosniff"
    assert response.getheader("referrer-policy") == "no-referrer"


def test_loopback_inbox_refuses_other_host_names(inbox):
    """A page on another site that resolves its name to 127.0.0.1 cannot read the inbox."""
    assert get(inbox, "/", headers={"Host": "attacker.example:8969"})[0] == 421
    assert get(inbox, "/", headers={"Host": f"localhost:{inbox.port}"})[0] == 200


def test_loopback_inbox_answers_to_its_names_in_any_case(inbox):
    """Host names are case-insensitive: LOCALHOST is as loopback as localhost."""
    assert get(inbox, "/", headers={"Host": f"LocalHost:{inbox.port}"})[0] == 200
    assert get(inbox, "/", headers={"Host": "ATTACKER.example:8969"})[0] == 421


def test_the_empty_issue_list_names_this_inbox_s_own_dsn(inbox):
    """With no error yet, the front page offers the DSN and Spotlight URL of this very inbox."""
    status, page = get(inbox, "/")
    assert status == 200
    assert f"SENTRY_DSN={inbox.dsn}" in page
    assert f'spotlight="{inbox.url}/stream"' in page


def test_unknown_paths_and_methods(inbox):
    """Anything else is a plain 404 or 405."""
    assert get(inbox, "/nope")[0] == 404
    assert get(inbox, "/events/unknown")[0] == 404
    assert get(inbox, "/traces/unknown")[0] == 404
    assert get(inbox, "/attachments/99")[0] == 404
    assert get(inbox, "/attachments/%C2%B2")[0] == 404  # a superscript two: a digit, not a number
    assert get(inbox, "/attachments/" + "9" * 30)[0] == 404  # no row id is this long
    assert get(inbox, "/attachments/" + "9" * 5000)[0] == 404  # nor this, which int() refuses
    assert get(inbox, "/api/1/envelope/") == (405, "send envelopes with POST")
    assert request(inbox, "OPTIONS", "/api/1/envelope/")[0] == 405  # a preflight has an Origin
    assert post(inbox, b"", path="/")[0] == 405


ODD_IDS = ["a/b", "a%2Fb", "%41", "50%done", "x y", "ü-id", "a?b", "a#b"]


def test_any_stored_id_opens_its_pages(inbox):
    """Each event and trace opens from the links the pages give, whatever its id holds ('/', '%', ...)."""
    for n, odd in enumerate(ODD_IDS):
        trace = {"trace_id": f"t{odd}", "span_id": "1" * 16}
        event = {"event_id": odd, "message": f"message {n}.", "contexts": {"trace": trace}}
        post(inbox, envelope(event_item(event)))
    _, index = get(inbox, "/")
    for n, odd in enumerate(ODD_IDS):
        link = href("events", odd)
        assert link in index
        status, page = get(inbox, html.unescape(link))
        assert (status, f"message {n}." in page) == (200, True), odd
        status, page = get(inbox, html.unescape(href("traces", f"t{odd}")))
        assert (status, link in page) == (200, True), odd


def test_browser_sdk_on_a_loopback_page_may_send(inbox):
    """A browser SDK on http://localhost:3000 gets its CORS preflight answered and its envelope stored."""
    origin = {"Origin": "http://localhost:3000"}
    status, headers, _ = request(
        inbox, "OPTIONS", "/stream", b"", {**origin, "Access-Control-Request-Method": "POST"}
    )
    assert status == 204
    assert headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "POST" in headers["access-control-allow-methods"]
    body = envelope(event_item({"event_id": "c" * 32, "message": "from the browser"}))
    status, headers, _ = request(inbox, "POST", "/stream", body, origin)
    assert status == 200
    assert headers["access-control-allow-origin"] == "http://localhost:3000"
    assert headers["vary"] == "origin"  # a cache must not answer another origin with it
    assert [issue.title for issue in inbox.store.issues()] == ["from the browser"]
    # The pages are for the inbox's own tab: a loopback page may send, not read them.
    assert "access-control-allow-origin" not in request(inbox, "GET", "/", headers=origin)[1]


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "null", "http://localhost.evil.example", "http://127.0.0.1.nip.io:80"],
)
def test_pages_of_other_sites_cannot_fill_the_inbox(inbox, origin):
    """An envelope posted by a page of another origin (one starting like a loopback one too), or a sandboxed one, is refused, unstored."""
    body = envelope(event_item({"event_id": "d" * 32, "message": "from elsewhere"}))
    status, headers, text = request(inbox, "POST", "/stream", body, {"Origin": origin})
    assert status == 403
    assert "access-control-allow-origin" not in headers
    assert b"loopback origins only" in text
    assert inbox.store.issues() == []


@pytest.mark.parametrize("when", [1e30, -1e18, float("nan")])
def test_pages_show_events_whose_timestamps_no_clock_can_show(inbox, when):
    """A timestamp out of the platform's range, or NaN, leaves its time blank, never a 500."""
    event = {
        "event_id": "a" * 32,
        "message": "from no time",
        "timestamp": when,
        "breadcrumbs": {"values": [{"timestamp": when, "message": "crumb"}]},
    }
    log = {"items": [{"timestamp": when, "body": "log from no time"}]}
    body = envelope(event_item(event), ({"type": "log"}, json.dumps(log).encode()))
    assert post(inbox, body)[0] == 200
    status, page = get(inbox, "/")
    assert (status, "log from no time" in page) == (200, True)
    status, page = get(inbox, f"/events/{'a' * 32}")
    assert (status, "crumb" in page) == (200, True)


@pytest.mark.parametrize("duration", [10**400, float("inf")], ids=["beyond-float", "infinite"])
def test_check_in_lasting_beyond_any_clock_is_stored_without_a_duration(inbox, duration):
    """A check-in's duration no float holds, or an infinite one, is left blank, never a 500."""
    check_in = {"check_in_id": "x", "monitor_slug": "nightly", "status": "ok", "duration": duration}
    assert post(inbox, envelope(({"type": "check_in"}, json.dumps(check_in).encode())))[0] == 200
    assert [(c["monitor_slug"], c["duration"]) for c in inbox.store.check_ins()] == [
        ("nightly", None)
    ]
    status, page = get(inbox, "/")
    assert (status, "nightly" in page) == (200, True)


@pytest.mark.parametrize("spans", [5, True, {"span_id": "b"}])
def test_trace_page_shows_a_transaction_whose_spans_are_no_list(inbox, spans):
    """A transaction whose spans are not a list of objects is shown with its root span alone."""
    trace_id = "b" * 32
    txn = {
        "event_id": "c" * 32,
        "type": "transaction",
        "transaction": "GET /odd",
        "start_timestamp": 1_700_000_000.0,
        "timestamp": 1_700_000_000.5,
        "contexts": {"trace": {"trace_id": trace_id, "span_id": "a" * 16}},
        "spans": spans,
    }
    assert post(inbox, envelope(event_item(txn, "transaction")))[0] == 200
    status, page = get(inbox, f"/traces/{trace_id}")
    assert status == 200
    assert page.count('class="span-row"') == 1


def test_a_transaction_whose_payload_names_no_type_is_drawn_as_one(inbox):
    """A transaction item is a transaction whether or not its payload says "type", never an error."""
    trace_id = "b" * 32
    txn = {
        "event_id": "c" * 32,
        "transaction": "GET /untyped",
        "start_timestamp": 1_700_000_000.0,
        "timestamp": 1_700_000_000.5,
        "contexts": {"trace": {"trace_id": trace_id, "span_id": "a" * 16}},
        "spans": [{"span_id": "d" * 16, "parent_span_id": "a" * 16, "op": "db"}],
    }
    assert post(inbox, envelope(event_item(txn, "transaction")))[0] == 200
    for path in (f"/traces/{trace_id}", f"/events/{'c' * 32}"):
        status, page = get(inbox, path)
        assert (status, page.count('class="span-row"')) == (200, 2)
        assert "Errors in this trace" not in page
