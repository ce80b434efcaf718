"""One readable line per event, transaction or segment, for the terminal the inbox runs in."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sentry_asgi.inbox._layout import inbox_path

if TYPE_CHECKING:
    from sentry_asgi.inbox._summary import Summary

_LABELS = {"transaction": "TXN", "segment": "SEGMENT"}  # each the root of a trace
_COLOURS = {"fatal": "31;1", "error": "31", "warning": "33", "info": "36", "debug": "2"}


def line(summary: Summary, base_url: str = "", *, colour: bool = False) -> str:
    """Format ``summary`` as ``HH:MM:SS LEVEL title  request  duration  trace <id>  <link>``."""
    label = _LABELS.get(summary.kind) or summary.level.upper()
    if colour:
        code = "32" if summary.kind in _LABELS else _COLOURS.get(summary.level, "0")
        label = f"\x1b[{code}m{label:<7}\x1b[0m"
    else:
        label = f"{label:<7}"
    parts = [f"{time.strftime('%H:%M:%S')} {label} {_one_line(summary.title)}"]
    if summary.request:
        parts.append(_one_line(summary.request))
    if summary.duration_ms is not None:
        parts.append(f"{summary.duration_ms:.1f} ms")
    if summary.trace_id:
        parts.append(f"trace {_one_line(summary.trace_id)}")
    if base_url:
        parts.append(f"{base_url}{page_path(summary)}")
    return "  ".join(parts)


def page_path(summary: Summary) -> str:
    """Where the inbox shows ``summary``: its trace for a transaction or segment, else its event."""
    if summary.kind in _LABELS and summary.trace_id:
        return inbox_path("traces", summary.trace_id)
    return inbox_path("events", summary.event_id)


def _one_line(text: str, limit: int = 200) -> str:
    """Keep one event on one line and terminal escapes out of the terminal."""
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
