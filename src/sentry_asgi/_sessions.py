"""Release health: each HTTP request counted as a request-mode session, at a fraction of the cost.

sentry_sdk records a request-mode session by building a ``Session`` object (a uuid, timestamps,
an update) per request and then folding it into per-minute counts. Only the counts are ever sent,
so the middleware keeps just those: one increment per request, sent as the same ``sessions``
aggregate envelope item sentry_sdk sends, every minute, on shutdown, and at exit.

Counts go out through the client they were counted under, as sentry_sdk's own do: after a second
``sentry_sdk.init`` (another DSN, another release), the new client's transport does not receive
the old one's. And they go out whenever that client flushes its own sessions: the client's
``session_flusher`` has its ``flush`` wrapped (on that object only), so that ``sentry_sdk.flush()``,
``client.close()`` and an integration's flush at the end of a serverless invocation, whose
process may be frozen before the next minute, send them too.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import time
from datetime import datetime, timezone
from typing import Any

import sentry_sdk
from sentry_sdk.envelope import Envelope

from sentry_asgi._guard import contained

EXITED, ERRORED, CRASHED = 0, 1, 2
_NAMES = ("exited", "errored", "crashed")
FLUSH_INTERVAL = 60.0

# (client, release, environment, minute) -> [exited, errored, crashed]; the client is None where
# the one counted under was no longer the active one (counted as the request ended, after another
# ``init``): the active client then sends them.
_counts: dict[tuple[Any, str, str | None, int], list[int]] = {}
# The counts of the last client options and minute seen: nearly every request lands there.
_last: tuple[dict[str, Any], int, list[int] | None] | None = None
_lock = threading.Lock()
_flushing = False  # whether this process runs its flusher thread yet


def _forked() -> None:
    """A forked worker inherits the counts' lock and flag, but not the flusher thread."""
    global _flushing, _lock, _counts, _last
    _flushing, _lock, _counts, _last = False, threading.Lock(), {}, None


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_forked)


def enabled(options: dict[str, Any]) -> bool:
    """Tell whether sentry_sdk would track request sessions: the option on, and a release."""
    return bool(options.get("release")) and bool(options.get("auto_session_tracking", True))


def record(options: dict[str, Any], outcome: int) -> None:
    """Count one finished request in its minute, if the client tracks sessions."""
    global _last  # noqa: PLW0603 - the one-slot cache of the counts in use
    minute = int(time.time()) // 60
    lock = _lock
    lock.acquire()  # not ``with``: a tenth of a microsecond less, on every request
    try:
        last = _last
        if last is None or last[0] is not options or last[1] != minute:
            last = _last = (options, minute, _bucket(options, minute))
        counts = last[2]
        if counts is None:
            return
        counts[outcome] += 1
    finally:
        lock.release()
    if not _flushing:
        _start_flushing()


def _bucket(options: dict[str, Any], minute: int) -> list[int] | None:
    """The counts of one client, release, environment and minute; None when sessions are off.

    Looked up once a minute per client (the counts in use are cached): the client is found then.
    """
    if not enabled(options):
        return None
    client = sentry_sdk.get_client()
    owner = client if client.options is options else None
    if owner is not None:
        _flushed_by(owner)
    key = (owner, str(options["release"]), options.get("environment"), minute)
    counts = _counts.get(key)
    if counts is None:
        counts = _counts[key] = [0, 0, 0]
    return counts


def flush() -> None:
    """Send every pending count through the transport of the client it was counted under.

    A client closed since (its transport gone) sends nothing: its close sent sentry_sdk's own
    counts, not these.
    """
    global _counts, _last
    with _lock:
        pending, _counts, _last = _counts, {}, None
    by_client: dict[Any, dict[tuple[str, str | None], list[dict[str, Any]]]] = {}
    for (owner, release, environment, minute), counts in pending.items():
        started = datetime.fromtimestamp(minute * 60, timezone.utc)
        bucket: dict[str, Any] = {"started": started.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
        bucket.update((name, n) for name, n in zip(_NAMES, counts, strict=True) if n)
        client = sentry_sdk.get_client() if owner is None else owner
        by_attrs = by_client.setdefault(client, {})
        by_attrs.setdefault((release, environment), []).append(bucket)
    for client, by_attrs in by_client.items():
        _send(client, by_attrs)


def _send(client: Any, by_attrs: dict[tuple[str, str | None], list[dict[str, Any]]]) -> None:
    """Send one client's counts as one envelope of ``sessions`` items, one per release."""
    transport = getattr(client, "transport", None)
    if transport is None:
        return
    envelope = Envelope()
    for (release, environment), buckets in by_attrs.items():
        attrs = {"release": release}
        if environment is not None:
            attrs["environment"] = environment
        envelope.add_sessions({"attrs": attrs, "aggregates": buckets})
    transport.capture_envelope(envelope)


class _FlushingCountsFirst:
    """A session flusher's ``flush`` that sends the middleware's pending counts first."""

    __slots__ = ("flush_sessions",)

    def __init__(self, flush_sessions: Any) -> None:
        self.flush_sessions = flush_sessions

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with contained():  # a fault of ours must not stop sentry_sdk's flush
            flush()
        return self.flush_sessions(*args, **kwargs)


def _flushed_by(client: Any) -> None:
    """Have the client's own session flushes send the pending counts too, once per client."""
    flusher = getattr(client, "session_flusher", None)
    flush_sessions = getattr(flusher, "flush", None)
    if flush_sessions is None or type(flush_sessions) is _FlushingCountsFirst:
        return
    # A flusher built otherwise (its attribute read-only) is left alone: counts go out each minute.
    with contextlib.suppress(AttributeError, TypeError):
        flusher.flush = _FlushingCountsFirst(flush_sessions)  # type: ignore[union-attr]


def _start_flushing() -> None:
    """Flush every minute from a daemon thread, and once more at exit (before sentry_sdk closes)."""
    global _flushing  # noqa: PLW0603 - one flusher per process, restarted after a fork
    with _lock:
        if _flushing:
            return
        _flushing = True

    def every_minute() -> None:
        while True:
            time.sleep(FLUSH_INTERVAL)
            flush()

    threading.Thread(target=every_minute, name="sentry-asgi sessions", daemon=True).start()
    # Registered after sentry_sdk.init, so it runs before sentry_sdk's own exit handler.
    atexit.register(flush)
