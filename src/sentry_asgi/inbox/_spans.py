"""Streamed spans (``trace_lifecycle="stream"``): read them, and show a segment as a transaction.

An SDK that streams sends each span as it ends, in ``span`` items of up to a thousand, and a
span's segment (its request, say) may arrive in a later envelope than its children. Spans are
stored one by one and put back together when a trace is shown.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sentry_asgi.inbox._envelope import EnvelopeError
from sentry_asgi.inbox._summary import Summary, summarize, text, timestamp

if TYPE_CHECKING:
    from sentry_asgi.inbox._envelope import Item

NO_SEGMENT = "(segment not received)"


def spans(item: Item) -> list[dict[str, Any]]:
    """The spans of a ``span`` item; raise `EnvelopeError` for one the inbox cannot place."""
    records = item.json().get("items")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        msg = f"item {item.index} (span) payload has no list of items"
        raise EnvelopeError(msg)
    for number, record in enumerate(records):
        for key in ("trace_id", "span_id"):
            if not text(record.get(key)):
                msg = f"item {item.index} (span) span {number} has no {key}"
                raise EnvelopeError(msg)
    return records


def is_segment(span: dict[str, Any]) -> bool:
    """Tell a segment (the root of what one service did) from a span inside one."""
    flag = span.get("is_segment")
    return flag if isinstance(flag, bool) else not text(span.get("parent_span_id"))


def summarize_span(span: dict[str, Any]) -> Summary:
    """Summarise a segment span as `summarize` does the transaction it stands for."""
    shaped = summarize("transaction", _transaction(span, []))
    return replace(shaped, event_id=text(span.get("span_id")), kind="segment", fingerprint="")


def as_transactions(trace: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each segment of a trace with its spans, shaped as a transaction for the waterfall.

    Spans whose segment has not arrived (yet) are gathered under a stand-in root.
    """
    segments = {text(s.get("span_id")): s for s in trace if is_segment(s)}
    children: dict[str, list[dict[str, Any]]] = {span_id: [] for span_id in segments}
    owners = _segment_ids(trace, segments)
    for span in trace:
        span_id = text(span.get("span_id"))
        if span_id not in segments:
            children.setdefault(owners.get(span_id, ""), []).append(span)
    transactions = [
        _transaction(segment, children[span_id]) for span_id, segment in segments.items()
    ]
    if children.get(""):
        transactions.append(_transaction({"name": NO_SEGMENT}, children[""]))
    return transactions


def _segment_ids(trace: list[dict[str, Any]], segments: dict[str, Any]) -> dict[str, str]:
    """The segment each span belongs to: the one it names, else the nearest segment above it.

    Walked without recursion and with a memo: a chain of a thousand spans, or a cycle in bad
    data, costs one pass.
    """
    parents = {text(s.get("span_id")): text(s.get("parent_span_id")) for s in trace}
    owners = {span_id: span_id for span_id in segments}
    for span in trace:
        named = text(attribute(span, "sentry.segment.id"))
        if named in segments:
            owners.setdefault(text(span.get("span_id")), named)
    for span_id in parents:
        chain: dict[str, None] = {}
        node = span_id
        while node not in owners and node in parents and node not in chain:
            chain[node] = None
            node = parents[node]
        owner = owners.get(node, "")
        for link in chain:
            owners[link] = owner
    return owners


def _transaction(segment: dict[str, Any], children: list[dict[str, Any]]) -> dict[str, Any]:
    if not text(segment.get("span_id")):  # the stand-in: as long as the spans it gathers
        starts = [timestamp(s.get("start_timestamp")) for s in children]
        ends = [timestamp(s.get("end_timestamp")) for s in children]
        segment = {
            **segment,
            "start_timestamp": min((t for t in starts if t is not None), default=None),
            "end_timestamp": max((t for t in ends if t is not None), default=None),
        }
    return {
        "type": "transaction",
        "transaction": text(segment.get("name")) or "(unnamed span)",
        "start_timestamp": segment.get("start_timestamp"),
        "timestamp": segment.get("end_timestamp"),
        "contexts": {
            "trace": {
                "trace_id": text(segment.get("trace_id")),
                "span_id": segment.get("span_id"),
                "parent_span_id": segment.get("parent_span_id"),
                "op": text(attribute(segment, "sentry.op")) or "segment",
                "status": text(segment.get("status")),
            }
        },
        "request": _request(segment),
        "spans": [_span(child) for child in children],
    }


def _span(span: dict[str, Any]) -> dict[str, Any]:
    return {
        "span_id": span.get("span_id"),
        "parent_span_id": span.get("parent_span_id"),
        "op": text(attribute(span, "sentry.op")),
        "description": text(span.get("name")),
        "start_timestamp": span.get("start_timestamp"),
        "timestamp": span.get("end_timestamp"),
    }


def attribute(span: dict[str, Any], key: str) -> object:
    """An attribute's value: sent as ``{"value": ..., "type": ...}``, or as the bare value."""
    attributes = span.get("attributes")
    value = attributes.get(key) if isinstance(attributes, dict) else None
    return value.get("value") if isinstance(value, dict) else value


def _request(span: dict[str, Any]) -> dict[str, str]:
    """The request a segment served, from its attributes, as a transaction's ``request``."""
    method = text(attribute(span, "http.request.method"))
    url = text(attribute(span, "url.full")) or text(attribute(span, "url.path"))
    return {"method": method, "url": url} if method or url else {}
