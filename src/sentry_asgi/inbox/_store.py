"""SQLite storage: one transaction per envelope, WAL so several senders can write at once.

Rows keep the event JSON as sent next to a few summary columns that the pages sort and group by;
issues are not stored but grouped on read, which keeps writes simple and counts always right.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sentry_asgi.inbox._envelope import EnvelopeError, Item
from sentry_asgi.inbox._spans import is_segment, spans, summarize_span
from sentry_asgi.inbox._summary import Summary, number, summarize, timestamp

if TYPE_CHECKING:
    from sentry_asgi.inbox._envelope import Envelope

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    received REAL NOT NULL,
    level TEXT NOT NULL,
    title TEXT NOT NULL,
    culprit TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    transaction_name TEXT NOT NULL,
    request TEXT NOT NULL,
    duration_ms REAL,
    data TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_fingerprint ON events (fingerprint, id);
CREATE INDEX IF NOT EXISTS events_trace ON events (trace_id);
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY,
    received REAL NOT NULL,
    timestamp REAL,
    level TEXT NOT NULL,
    body TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS check_ins (
    id INTEGER PRIMARY KEY,
    received REAL NOT NULL,
    monitor_slug TEXT NOT NULL,
    status TEXT NOT NULL,
    duration REAL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS attachments (
    id INTEGER PRIMARY KEY,
    received REAL NOT NULL,
    event_id TEXT NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS attachments_event ON attachments (event_id);
CREATE TABLE IF NOT EXISTS spans (
    id INTEGER PRIMARY KEY,
    received REAL NOT NULL,
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    is_segment INTEGER NOT NULL,
    name TEXT NOT NULL,
    request TEXT NOT NULL,
    status TEXT NOT NULL,
    duration_ms REAL,
    data TEXT NOT NULL,
    UNIQUE (trace_id, span_id)
);
CREATE INDEX IF NOT EXISTS spans_segments ON spans (is_segment, received);
CREATE TABLE IF NOT EXISTS envelopes (
    digest BLOB PRIMARY KEY,
    received REAL NOT NULL
) WITHOUT ROWID;
"""

_BUSY_TIMEOUT = 10.0
"""Seconds to wait for another inbox process that holds the file's lock."""

# Columns added after a table's first release: (table, column, definition). A database file made
# before gets them when it is opened; one made after has them from its CREATE TABLE.
_ADDED_COLUMNS = [("events", "status", "TEXT NOT NULL DEFAULT ''")]


@dataclass
class Received:
    """What one envelope added, for the console and the HTTP answer."""

    event_id: str = ""
    summaries: list[Summary] = field(default_factory=list)
    logs: int = 0
    check_ins: int = 0
    attachments: int = 0
    ignored: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Issue:
    """Events grouped by fingerprint: the latest one's title, how many, and when last seen."""

    fingerprint: str
    title: str
    culprit: str
    level: str
    count: int
    last_seen: float
    last_event_id: str


class Store:
    """The inbox database; safe to share between threads (one connection behind a lock)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = _open(path)
        except sqlite3.Error as exc:  # sqlite says what is wrong, never with which file
            msg = f"cannot open the database {path}: {exc}"
            raise type(exc)(msg) from exc

    def close(self) -> None:
        """Close the connection; the WAL is folded back into the database file."""
        with self._lock:
            self._db.close()

    def add(self, envelope: Envelope) -> Received:
        """Store every item the inbox can show, all or nothing; skip the other item types."""
        now = time.time()
        received = Received(event_id=str(envelope.headers.get("event_id") or ""))
        rows = [_rows(item, received, now) for item in envelope.items]  # may raise: nothing written
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if self._first_time(envelope, now):
                    self._insert([row for item_rows in rows for row in item_rows], received)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return received

    def _first_time(self, envelope: Envelope, now: float) -> bool:
        """Record the envelope; tell whether it is new, or the very same one sent again.

        sentry_sdk sends each envelope to its DSN and to Spotlight: when both name this inbox,
        the second copy (logs and check-ins included, which have no id to tell) adds nothing.
        """
        if not envelope.digest:
            return True
        sql = "INSERT OR IGNORE INTO envelopes (digest, received) VALUES (?, ?)"
        return self._db.execute(sql, (envelope.digest, now)).rowcount > 0

    def _insert(self, rows: list[_Row], received: Received) -> None:
        """Insert the rows, and report the events and segments that are new.

        An envelope whose event is stored already was sent again (a retry, or a DSN and
        Spotlight both naming this inbox): its attachments are stored too, and nothing is news.
        """
        resent = False
        for sql, params, summary in sorted(rows, key=lambda row: row[0] == _INSERT_ATTACHMENT):
            if sql == _INSERT_ATTACHMENT and resent:
                continue
            added = self._db.execute(sql, params).rowcount > 0
            resent = resent or (sql == _INSERT_EVENT and not added)
            if added and summary is not None:
                received.summaries.append(summary)

    def latest(self) -> int:
        """Return a number that grows whenever anything is stored: the pages poll it."""
        row = self._one(
            "SELECT (SELECT IFNULL(MAX(id), 0) FROM events) + (SELECT IFNULL(MAX(id), 0) FROM logs)"
            " + (SELECT IFNULL(MAX(id), 0) FROM check_ins) + (SELECT IFNULL(MAX(id), 0) FROM spans)"
            " AS n",
        )
        return int(row["n"]) if row else 0

    def issues(self, limit: int = 200) -> list[Issue]:
        """Error groups, most recently seen first."""
        rows = self._all(
            "SELECT e.fingerprint, e.title, e.culprit, e.level, g.n, g.last_seen, e.event_id"
            " FROM (SELECT fingerprint, COUNT(*) AS n, MAX(received) AS last_seen, MAX(id) AS id"
            "       FROM events WHERE kind = 'error' GROUP BY fingerprint) AS g"
            " JOIN events AS e ON e.id = g.id ORDER BY g.id DESC LIMIT ?",
            (limit,),
        )
        return [Issue(*row) for row in rows]

    def events(
        self,
        *,
        kind: str | None = None,
        fingerprint: str | None = None,
        trace_id: str | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        """Summary rows (no payload), newest first, optionally filtered."""
        where, params = _where(kind=kind, fingerprint=fingerprint, trace_id=trace_id)
        sql = f"{_SELECT_SUMMARIES}{where} ORDER BY id DESC LIMIT ?"
        return [dict(row) for row in self._all(sql, (*params, limit))]

    def event(self, event_id: str) -> dict[str, Any] | None:
        """Return the full payload of one event or transaction, as it was sent."""
        row = self._one("SELECT data FROM events WHERE event_id = ?", (event_id,))
        return dict(json.loads(row["data"])) if row else None

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        """Every event and transaction of one trace, with payload, oldest first."""
        rows = self._all("SELECT data FROM events WHERE trace_id = ? ORDER BY id", (trace_id,))
        return [dict(json.loads(row["data"])) for row in rows]

    def trace_spans(self, trace_id: str) -> list[dict[str, Any]]:
        """Every streamed span of one trace, as sent, in the order they arrived."""
        rows = self._all("SELECT data FROM spans WHERE trace_id = ? ORDER BY id", (trace_id,))
        return [dict(json.loads(row["data"])) for row in rows]

    def traces(self, limit: int = 200) -> list[dict[str, Any]]:
        """Transactions and segment spans, the roots of what traces show, newest first."""
        rows = self._all(
            "SELECT trace_id, title, request, status, duration_ms, received FROM ("
            " SELECT trace_id, title, request, status, duration_ms, received"
            " FROM events WHERE kind = 'transaction'"
            " UNION ALL"
            " SELECT trace_id, name, request, status, duration_ms, received FROM spans"
            " WHERE is_segment = 1"
            ") ORDER BY received DESC LIMIT ?",
            (limit,),
        )
        return [dict(row) for row in rows]

    def logs(self, limit: int = 200) -> list[dict[str, Any]]:
        """Log records, newest first."""
        rows = self._all(
            "SELECT timestamp, level, body, trace_id FROM logs ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [dict(row) for row in rows]

    def check_ins(self, limit: int = 200) -> list[dict[str, Any]]:
        """Cron check-ins, newest first."""
        rows = self._all(
            "SELECT received, monitor_slug, status, duration FROM check_ins"
            " ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [dict(row) for row in rows]

    def attachments(self, event_id: str) -> list[dict[str, Any]]:
        """Name, type and size of the files sent with one event."""
        rows = self._all(
            "SELECT id, filename, content_type, size FROM attachments"
            " WHERE event_id = ? ORDER BY id",
            (event_id,),
        )
        return [dict(row) for row in rows]

    def attachment(self, attachment_id: int) -> dict[str, Any] | None:
        """One attachment with its bytes."""
        row = self._one(
            "SELECT filename, content_type, data FROM attachments WHERE id = ?", (attachment_id,)
        )
        return dict(row) if row else None

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._db.execute(sql, params))

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._db.execute(sql, params).fetchone()
            return row


def _open(path: str) -> sqlite3.Connection:
    """Connect and bring the file to this schema; a file that cannot be used is left closed.

    A file that is not a database, or holds a table of the same name with another shape, fails
    after the connection is made: kept open, it would live as long as the error's traceback.
    """
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    try:
        db.row_factory = sqlite3.Row
        # other inbox processes on the same file
        db.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT * 1000)}")
        _refuse_another_programs(db)
        if path != ":memory:":
            _use_wal(db)
            db.execute("PRAGMA synchronous = NORMAL")  # WAL keeps it crash-safe
        db.executescript(_SCHEMA)
        _add_missing_columns(db)
    except BaseException:
        db.close()
        raise
    return db


def _refuse_another_programs(db: sqlite3.Connection) -> None:
    """Refuse a file another program made (``--db app.sqlite3``) before changing a thing in it.

    Its tables would gain the inbox's beside them, and the file WAL mode; a table of the same
    name with another shape would fail the inbox's first write, not its start.
    """
    expected = _inbox_columns()
    tables = {name for name in _tables(db) if not name.startswith("sqlite_")}  # SQLite's own
    foreign = ", ".join(sorted(tables - expected.keys()))
    if foreign:
        msg = f"not an inbox database: it holds tables the inbox does not make ({foreign})"
        raise sqlite3.DatabaseError(msg)
    for table in sorted(tables):
        added = {column for name, column, _ in _ADDED_COLUMNS if name == table}
        missing = expected[table] - added - _columns(db, table)
        if missing:
            msg = f"not an inbox database: its table {table} has no {', '.join(sorted(missing))}"
            raise sqlite3.DatabaseError(msg)


@functools.cache
def _inbox_columns() -> dict[str, frozenset[str]]:
    """Each table of this schema and its columns, as SQLite reads them from ``_SCHEMA``."""
    with contextlib.closing(sqlite3.connect(":memory:")) as db:
        db.executescript(_SCHEMA)
        return {name: frozenset(_columns(db, name)) for name in _tables(db)}


def _use_wal(db: sqlite3.Connection) -> None:
    """Switch the file to WAL, waiting for another inbox that is creating it at this moment.

    SQLite refuses a journal mode change it cannot lock for at once ("database is locked"),
    without the busy timeout's wait: two inboxes started together on a new file collide here.
    """
    deadline = time.monotonic() + _BUSY_TIMEOUT
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
        else:
            return


def _add_missing_columns(db: sqlite3.Connection) -> None:
    """Bring a database made by an earlier version up to this schema, keeping its rows."""
    for table, column, definition in _ADDED_COLUMNS:
        if column in _columns(db, table):
            continue
        try:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
        except sqlite3.OperationalError:
            if column not in _columns(db, table):  # not another inbox adding it meanwhile
                raise


def _tables(db: sqlite3.Connection) -> list[str]:
    return [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


_SELECT_SUMMARIES = (
    "SELECT id, event_id, kind, received, level, title, culprit, fingerprint, trace_id,"
    " transaction_name, request, duration_ms, status FROM events"
)
_INSERT_EVENT = (
    "INSERT OR IGNORE INTO events (event_id, kind, received, level, title, culprit, fingerprint,"
    " trace_id, transaction_name, request, duration_ms, data, status)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_SPAN = (
    "INSERT OR IGNORE INTO spans (received, trace_id, span_id, is_segment, name, request, status,"
    " duration_ms, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_LOG = (
    "INSERT INTO logs (received, timestamp, level, body, trace_id, data) VALUES (?, ?, ?, ?, ?, ?)"
)
_INSERT_CHECK_IN = (
    "INSERT INTO check_ins (received, monitor_slug, status, duration, data) VALUES (?, ?, ?, ?, ?)"
)
_INSERT_ATTACHMENT = (
    "INSERT INTO attachments (received, event_id, filename, content_type, size, data)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)

_Row = tuple[str, tuple[Any, ...], "Summary | None"]
"""An INSERT, its parameters, and what to report once it adds a row (an event or a segment)."""


def _rows(item: Item, received: Received, now: float) -> list[_Row]:
    """Build the INSERTs for one item; raise `EnvelopeError` for a payload that cannot be shown."""
    if item.type in ("event", "transaction"):
        return [_event_row(item, received, now)]
    if item.type == "log":
        return _log_rows(item, received, now)
    if item.type == "span":
        return _span_rows(item, now)
    if item.type == "check_in":
        payload = item.json()
        received.check_ins += 1
        slug, status = str(payload.get("monitor_slug") or ""), str(payload.get("status") or "")
        duration = number(payload.get("duration"))
        return [(_INSERT_CHECK_IN, (now, slug, status, duration, json.dumps(payload)), None)]
    if item.type == "attachment":
        received.attachments += 1
        filename = str(item.headers.get("filename") or "attachment")
        content_type = str(item.headers.get("content_type") or "application/octet-stream")
        params = (now, received.event_id, filename, content_type, len(item.payload), item.payload)
        return [(_INSERT_ATTACHMENT, params, None)]
    received.ignored.append(item.type)
    return []


def _event_row(item: Item, received: Received, now: float) -> _Row:
    payload = item.json()
    if item.type == "transaction":  # the item says what it is; the payload may leave it out
        payload["type"] = "transaction"
    summary = summarize(item.type, payload, received.event_id or uuid.uuid4().hex)
    received.event_id = received.event_id or summary.event_id
    params = (
        summary.event_id,
        summary.kind,
        now,
        summary.level,
        summary.title,
        summary.culprit,
        summary.fingerprint,
        summary.trace_id,
        summary.transaction,
        summary.request,
        summary.duration_ms,
        json.dumps(payload),
        summary.status,
    )
    return (_INSERT_EVENT, params, summary)


def _span_rows(item: Item, now: float) -> list[_Row]:
    rows = []
    for span in spans(item):
        summary = summarize_span(span)
        segment = is_segment(span)
        params = (
            now,
            summary.trace_id,
            summary.event_id,
            segment,
            summary.transaction,
            summary.request,
            summary.status,
            summary.duration_ms,
            json.dumps(span),
        )
        rows.append((_INSERT_SPAN, params, summary if segment else None))
    return rows


def _log_rows(item: Item, received: Received, now: float) -> list[_Row]:
    records = item.json().get("items")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        msg = "log payload has no list of items"
        raise EnvelopeError(msg)
    received.logs += len(records)
    return [
        (
            _INSERT_LOG,
            (
                now,
                timestamp(record.get("timestamp")),
                str(record.get("level") or "info"),
                str(record.get("body") or ""),
                str(record.get("trace_id") or ""),
                json.dumps(record),
            ),
            None,
        )
        for record in records
    ]


def _where(**filters: str | None) -> tuple[str, tuple[str, ...]]:
    """Build a WHERE clause over the given column names (fixed by the caller), skipping ``None``."""
    given = {column: value for column, value in filters.items() if value is not None}
    if not given:
        return "", ()
    return " WHERE " + " AND ".join(f"{column} = ?" for column in given), tuple(given.values())
