"""Incoming trace headers: ``sentry-trace`` + ``baggage``, or W3C ``traceparent`` translated.

sentry_sdk's ``continue_trace`` reads only Sentry's own headers; a request from a service
instrumented with OpenTelemetry carries ``traceparent`` instead. The trace id, the parent
span id and the sampled flag are translated into a ``sentry-trace`` value, so both kinds of
upstream land in one trace. Garbage never raises: it starts a fresh trace.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sentry_asgi._asgi import scope_headers

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sentry_asgi._asgi import Scope

_SENTRY_TRACE = b"sentry-trace"
_BAGGAGE = b"baggage"
_TRACEPARENT = b"traceparent"
_WANTED = frozenset({_SENTRY_TRACE, _BAGGAGE, _TRACEPARENT})

# version-traceid-parentid-flags; version ff is invalid, all-zero ids are invalid (in both formats).
_W3C = re.compile(r"^\s*([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?\s*$")
_SENTRY = re.compile(r"^\s*([0-9a-f]{32})-([0-9a-f]{16})(?:-([01]))?\s*$")


def from_traceparent(value: str) -> str | None:
    """Translate a W3C ``traceparent`` into a ``sentry-trace`` value, or None if invalid."""
    match = _W3C.match(value.lower())
    if match is None:
        return None
    version, trace_id, span_id, flags = match.groups()
    if version == "ff" or not _real_ids(trace_id, span_id):
        return None
    sampled = "1" if int(flags, 16) & 1 else "0"
    return f"{trace_id}-{span_id}-{sampled}"


def incoming_trace(scope: Scope) -> dict[str, str] | None:
    """The trace headers to continue, or None when the request starts a new trace."""
    headers = scope.get("headers") or ()
    if type(headers) is not list:
        headers = scope_headers(scope)
    try:
        found = _trace_headers(headers)
    except (TypeError, ValueError, AttributeError):  # a malformed pair: look again, one by one
        found = _trace_headers(pair for pair in headers if _well_formed(pair))
    if not found:
        return None
    sentry_trace = found.get(_SENTRY_TRACE)
    if sentry_trace is not None and not _usable_sentry_trace(sentry_trace):
        sentry_trace = None  # unusable: fall back to traceparent, or start fresh
    if sentry_trace is None and _TRACEPARENT in found:
        sentry_trace = from_traceparent(found[_TRACEPARENT])
    if sentry_trace is None:
        return None
    continued = {"sentry-trace": sentry_trace.strip().lower()}
    baggage = found.get(_BAGGAGE)
    if baggage is not None:
        continued["baggage"] = baggage
    return continued


def _usable_sentry_trace(value: str) -> bool:
    """Tell whether a ``sentry-trace`` value names a real trace and span."""
    match = _SENTRY.match(value.lower())
    return match is not None and _real_ids(match[1], match[2])


def _real_ids(trace_id: str, span_id: str) -> bool:
    """All-zero ids mean "none" (W3C), and Sentry rejects an event whose parent span is one."""
    return trace_id.strip("0") != "" and span_id.strip("0") != ""


def _trace_headers(headers: Iterable[Any]) -> dict[bytes, str]:
    """The trace headers among the request's, repeated ones joined as one list."""
    found: dict[bytes, str] = {}
    for name, value in headers:
        if name in _WANTED:
            text = value.decode("latin-1")
            found[name] = f"{found[name]},{text}" if name in found else text
    return found


def _well_formed(pair: Any) -> bool:
    """Tell whether a header is a (bytes name, bytes value) pair, as ASGI says it must be."""
    return (
        isinstance(pair, (tuple, list))
        and len(pair) == 2
        and isinstance(pair[0], bytes)
        and isinstance(pair[1], (bytes, bytearray))
    )
