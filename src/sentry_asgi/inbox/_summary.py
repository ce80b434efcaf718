"""What a person needs from an event at a glance: title, culprit, group key, request, timing.

Events come from many SDK versions and hand-written senders, so every field is optional and every
lookup tolerates the wrong shape: a summary is never the reason an event is refused.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Summary:
    """The columns the inbox lists and prints for one event or transaction."""

    event_id: str
    kind: str  # "error" for event items, "transaction" for transaction items, "segment" for spans
    level: str
    title: str
    culprit: str
    fingerprint: str
    trace_id: str
    transaction: str
    request: str  # "GET http://host/path", or ""
    duration_ms: float | None
    status: str = ""  # a transaction's or segment's: "ok", "internal_error", "error", ...


def summarize(kind: str, event: dict[str, Any], fallback_id: str = "") -> Summary:
    """Summarise an event or transaction payload (``kind`` is the envelope item type)."""
    is_transaction = kind == "transaction"
    exc_type, exc_value, frame = _main_exception(event)
    trace = _dict(_dict(event.get("contexts")).get("trace"))
    message = _message(event)
    # without a stack (a logged message), the logger's name says best where it came from
    culprit = _culprit(frame) or text(event.get("culprit")) or text(event.get("logger"))
    transaction = text(event.get("transaction"))
    if is_transaction:
        title = transaction or "(unnamed transaction)"
    elif exc_type:
        title = f"{exc_type}: {exc_value}" if exc_value else exc_type
    else:
        title = message or "(no message)"
    if is_transaction:
        group = ["transaction", transaction]
    elif isinstance(event.get("fingerprint"), list) and event["fingerprint"] != ["{{ default }}"]:
        group = ["fingerprint", *map(str, event["fingerprint"])]
    elif exc_type:
        group = ["exception", exc_type, culprit]
    else:
        group = ["message", _message_template(event) or message, culprit]
    return Summary(
        event_id=text(event.get("event_id")) or fallback_id,
        kind="transaction" if is_transaction else "error",
        level=text(event.get("level")) or ("info" if is_transaction else "error"),
        title=title,
        culprit=culprit,
        fingerprint=hashlib.sha1("\0".join(group).encode(), usedforsecurity=False).hexdigest(),
        trace_id=text(trace.get("trace_id")),
        transaction=transaction,
        request=_request_line(event),
        duration_ms=_duration_ms(event) if is_transaction else None,
        status=text(trace.get("status")) if is_transaction else "",
    )


def exceptions(event: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the exception chain, oldest first, as the protocol orders it; ``[]`` when absent."""
    exc = event.get("exception")
    values = exc.get("values") if isinstance(exc, dict) else exc
    return (
        [value for value in values if isinstance(value, dict)] if isinstance(values, list) else []
    )


def frames(exception: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the frames of one exception, outermost first (the raising frame is last)."""
    raw = _dict(exception.get("stacktrace")).get("frames")
    return [frame for frame in raw if isinstance(frame, dict)] if isinstance(raw, list) else []


def timestamp(value: object) -> float | None:
    """Read a protocol timestamp (seconds since the epoch, or an RFC 3339 string) as a float."""
    if isinstance(value, str):
        try:
            return number(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
        except (OverflowError, ValueError):
            return None
    return number(value)


def number(value: object) -> float | None:
    """Read a JSON number as a float; ``None`` for anything else.

    JSON holds numbers no float can (``1e400``, an integer of 400 digits) and Python's reader
    takes ``Infinity`` and ``NaN``: none of them a duration or a moment in time.
    """
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        result = float(value)
    except OverflowError:
        return None
    return result if math.isfinite(result) else None


def _main_exception(event: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """Type, value and culprit frame of the exception that was raised last."""
    chain = exceptions(event)
    if not chain:
        return "", "", {}
    main = chain[-1]
    stack = frames(main)
    in_app = [frame for frame in stack if frame.get("in_app")]
    frame = (in_app or stack or [{}])[-1]
    return text(main.get("type")), text(main.get("value")), frame


def _culprit(frame: dict[str, Any]) -> str:
    where = text(frame.get("module")) or text(frame.get("filename"))
    function = text(frame.get("function"))
    if where and function:
        return f"{where} in {function}"
    return where or function


def _message(event: dict[str, Any]) -> str:
    logentry = _dict(event.get("logentry"))
    message = event.get("message")
    return (
        text(logentry.get("formatted"))
        or text(logentry.get("message"))
        or (text(message) if isinstance(message, str) else "")
        or text(_dict(message).get("formatted"))
    )


def _message_template(event: dict[str, Any]) -> str:
    """Return the message before formatting, so ``"user %s"`` groups all users together."""
    return text(_dict(event.get("logentry")).get("message"))


def _request_line(event: dict[str, Any]) -> str:
    request = _dict(event.get("request"))
    method, url = text(request.get("method")), text(request.get("url"))
    return f"{method} {url}".strip()


def _duration_ms(event: dict[str, Any]) -> float | None:
    start, end = timestamp(event.get("start_timestamp")), timestamp(event.get("timestamp"))
    if start is None or end is None:
        return None
    return round((end - start) * 1000, 3)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def text(value: object) -> str:
    """Show a scalar as text; containers and None become ``""``."""
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value)
