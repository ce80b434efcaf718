import contextlib
import re
import sqlite3
import threading
from pathlib import Path

import pytest

from sentry_asgi.inbox._console import line
from sentry_asgi.inbox._envelope import EnvelopeError, parse
from sentry_asgi.inbox._store import Store
from sentry_asgi.inbox._summary import summarize


def error(value: str, function: str = "handler", exc_type: str = "ValueError") -> dict:
    return {
        "event_id": "a" * 32,
        "level": "error",
        "exception": {
            "values": [
                {
                    "type": "KeyError",
                    "value": "'cause'",
                    "stacktrace": {"frames": [{"module": "app", "function": "load"}]},
                },
                {
                    "type": exc_type,
                    "value": value,
                    "stacktrace": {
                        "frames": [
                            {"module": "app.views", "function": function, "in_app": True},
                            {"module": "starlette.routing", "function": "handle", "in_app": False},
                        ]
                    },
                },
            ]
        },
        "request": {"method": "GET", "url": "http://127.0.0.1:8000/fail"},
        "contexts": {"trace": {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}},
    }


def test_error_title_and_culprit_come_from_the_last_exception_and_in_app_frame():
    """The title is the exception raised last; the culprit its innermost in-app frame."""
    summary = summarize("event", error("bad id"))
    assert summary.title == "ValueError: bad id"
    assert summary.culprit == "app.views in handler"
    assert summary.request == "GET http://127.0.0.1:8000/fail"
    assert summary.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_grouping_by_exception_type_and_culprit():
    """Messages may differ within an issue; another type or culprit frame is another issue."""
    base = summarize("event", error("id 1")).fingerprint
    assert summarize("event", error("id 2")).fingerprint == base
    assert summarize("event", error("id 1", function="other")).fingerprint != base
    assert summarize("event", error("id 1", exc_type="TypeError")).fingerprint != base


def test_explicit_fingerprint_wins():
    """An SDK-set fingerprint groups events regardless of their exception."""
    one = summarize("event", {**error("x"), "fingerprint": ["db-down"]})
    two = summarize("event", {**error("y", exc_type="OSError"), "fingerprint": ["db-down"]})
    assert one.fingerprint == two.fingerprint


def test_message_events_group_by_template():
    """Log messages group on the unformatted template, titled with the formatted text."""
    one = summarize("event", {"logentry": {"message": "user %s", "formatted": "user 1"}})
    two = summarize("event", {"logentry": {"message": "user %s", "formatted": "user 2"}})
    assert one.title == "user 1"
    assert one.fingerprint == two.fingerprint
    assert summarize("event", {"message": "plain"}).title == "plain"


def test_transaction_duration_from_iso_and_float_timestamps():
    """Transactions carry a duration whatever the timestamp format."""
    iso = summarize(
        "transaction",
        {
            "transaction": "GET /items/{item_id}",
            "start_timestamp": "2026-01-01T00:00:00.000000Z",
            "timestamp": "2026-01-01T00:00:00.250000Z",
        },
    )
    assert iso.kind == "transaction"
    assert iso.title == "GET /items/{item_id}"
    assert iso.duration_ms == 250.0
    floats = summarize("transaction", {"start_timestamp": 10.0, "timestamp": 10.5})
    assert floats.duration_ms == 500.0


def test_wrong_shapes_do_not_break_a_summary():
    """Any field of the wrong type is ignored rather than refusing the event."""
    summary = summarize(
        "event",
        {"exception": 5, "request": [], "contexts": "x", "level": None, "logentry": 3},
    )
    assert summary.title == "(no message)"
    assert summary.level == "error"


def test_console_line_for_an_error_and_a_transaction():
    """One line each: level, title, request, duration, trace id and a link to the page."""
    err = line(summarize("event", error("bad <id>\nsecond line")), "http://127.0.0.1:8969")
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d ERROR   ValueError: bad <id> second line  GET http://127.0.0.1:8000/fail"
        r"  trace 4bf92f3577b34da6a3ce929d0e0e4736"
        r"  http://127.0.0.1:8969/events/a{32}",
        err,
    )
    txn = summarize(
        "transaction",
        {
            "transaction": "GET /items/{item_id}",
            "start_timestamp": 1.0,
            "timestamp": 1.0125,
            "contexts": {"trace": {"trace_id": "ab" * 16}},
        },
    )
    assert line(txn).endswith("TXN     GET /items/{item_id}  12.5 ms  trace " + "ab" * 16)


def test_console_line_drops_terminal_escapes():
    """Control characters from an event never reach the terminal."""
    text = line(summarize("event", {"message": "\x1b[2Jcleared"}))
    assert "\x1b" not in text
    assert "cleared" in text


def test_console_line_keeps_escapes_out_of_the_request_and_trace_too():
    """A request URL or trace id the app sent with control characters reaches the terminal without them."""
    event = {
        "message": "m",
        "request": {"method": "GET", "url": "http://h/\x1b[2Jx"},
        "contexts": {"trace": {"trace_id": "\x1b]0;title\x07"}},
    }
    text = line(summarize("event", event))
    assert "\x1b" not in text
    assert "\x07" not in text


@pytest.mark.parametrize(("length", "shown"), [(200, "x" * 200), (201, "x" * 199 + "…")])
def test_console_line_cuts_a_title_over_200_characters_to_200(length, shown):
    """A title of 200 characters is shown whole; a longer one is cut to 200, the last an ellipsis."""
    text = line(summarize("event", {"message": "x" * length}))
    assert re.search(r" (x+…?)$", text)[1] == shown


def test_console_line_colours_a_transaction_green_whatever_its_level():
    """In colour, a transaction's label is green, as the root of a trace, not its level's colour."""
    txn = summarize("transaction", {"transaction": "GET /", "level": "info"})
    assert line(txn, colour=True).split(" ", 1)[1].startswith("\x1b[32mTXN")


def test_store_is_all_or_nothing():
    """An envelope with one bad item stores none of its items."""
    store = Store(":memory:")
    good = b'{"type":"event"}\n{"event_id":"' + b"1" * 32 + b'","message":"kept?"}\n'
    with pytest.raises(EnvelopeError, match=r"item 1 \(event\) payload is not a JSON object"):
        store.add(parse(b"{}\n" + good + b'{"type":"event"}\n"oops"\n'))
    assert store.events() == []
    store.add(parse(b"{}\n" + good))
    assert [e["title"] for e in store.events()] == ["kept?"]
    store.close()


def test_store_ignores_a_resent_event():
    """An SDK retry of the same event id does not count twice."""
    store = Store(":memory:")
    body = b'{}\n{"type":"event"}\n{"event_id":"' + b"2" * 32 + b'","message":"once"}\n'
    store.add(parse(body))
    store.add(parse(body))
    assert [i.count for i in store.issues()] == [1]
    store.close()


def test_store_opening_a_new_file_another_inbox_is_creating_waits_for_it(tmp_path):
    """A new file another inbox holds locked (both started at once) is waited for, not refused."""
    path = str(tmp_path / "inbox.sqlite3")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # the other inbox, creating the tables
    other.execute("CREATE TABLE envelopes (digest BLOB PRIMARY KEY, received REAL) WITHOUT ROWID")
    released = threading.Timer(0.3, other.execute, ("COMMIT",))
    released.start()
    try:
        store = Store(path)
    finally:
        released.join()
        other.close()
    store.add(parse(b'{}\n{"type":"event"}\n{"message":"stored"}\n'))
    assert [e["title"] for e in store.events()] == ["stored"]
    store.close()
    with contextlib.closing(sqlite3.connect(path)) as db:  # `with` alone leaves it open
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def _not_a_database(path: Path) -> None:
    path.write_bytes(b"these bytes are no SQLite file " * 100)


def _another_shape(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, title TEXT, note TEXT)")


def _another_programs(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
        db.execute("CREATE TABLE logs (id INTEGER PRIMARY KEY, line TEXT)")
        db.commit()


_ANOTHER_SHAPE = (
    "not an inbox database: its table events has no culprit, data, duration_ms, event_id,"
    " fingerprint, kind, level, received, request, trace_id, transaction_name"
)


def _open_files(prefix: Path) -> list[Path]:
    """The files this process has open whose path starts with ``prefix`` (-wal and -shm too)."""
    found = (fd.resolve() for fd in _OPEN_FILES.iterdir())
    return [path for path in found if str(path).startswith(str(prefix))]


_OPEN_FILES = Path("/proc/self/fd")


@pytest.mark.skipif(not _OPEN_FILES.is_dir(), reason="reads the open files from /proc")
@pytest.mark.parametrize(
    ("make", "why"),
    [
        (_not_a_database, "file is not a database"),
        (_another_shape, _ANOTHER_SHAPE),
        (
            _another_programs,
            "not an inbox database: it holds tables the inbox does not make (users)",
        ),
    ],
)
def test_store_refuses_a_file_it_cannot_use_by_name_and_leaves_it_closed(tmp_path, make, why):
    """A file the store cannot use is named in the error and closed while the error still lives."""
    path = tmp_path / "inbox.sqlite3"
    make(path)
    with pytest.raises(sqlite3.DatabaseError) as refused:  # its traceback reaches the store
        Store(str(path))
    assert str(refused.value) == f"cannot open the database {path}: {why}"
    assert _open_files(path) == []


@pytest.mark.parametrize("make", [_another_shape, _another_programs])
def test_store_leaves_a_file_another_program_made_as_it_was(tmp_path, make):
    """Another program's database (``--db app.sqlite3``) gains no table and keeps its journal mode."""
    path = tmp_path / "app.sqlite3"
    make(path)
    before = path.read_bytes()
    with pytest.raises(sqlite3.DatabaseError, match="not an inbox database"):
        Store(str(path))
    assert path.read_bytes() == before
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)


def test_store_adds_attachments_sent_after_their_event():
    """Attachments in an envelope of their own, after their event, are added to it."""
    store = Store(":memory:")
    event_id = "3" * 32
    store.add(parse(b'{"event_id":"' + event_id.encode() + b'"}\n{"type":"event"}\n{}\n'))
    later = b'{"type":"attachment","length":2,"filename":"late.txt"}\nhi\n'
    store.add(parse(b'{"event_id":"' + event_id.encode() + b'"}\n' + later))
    assert [a["filename"] for a in store.attachments(event_id)] == ["late.txt"]
    store.close()
