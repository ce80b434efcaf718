"""The three pages: the issue list, one event, one trace. Server-rendered, escaped throughout."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sentry_asgi.inbox._layout import clock, esc, href, key_values, level, page
from sentry_asgi.inbox._spans import as_transactions
from sentry_asgi.inbox._summary import exceptions, frames, summarize, timestamp

if TYPE_CHECKING:
    from sentry_asgi.inbox._store import Store


def index(store: Store, send_to: tuple[str, str]) -> str:
    """Issues grouped by fingerprint, then recent transactions, logs and check-ins.

    With no issue yet, it says how to send to this inbox: ``send_to`` is its DSN and the URL
    for Spotlight, on whatever address and port it listens.
    """
    latest = store.latest()
    issues = store.issues()
    rows = "".join(
        f'<tr class="issue"><td>{level(i.level)}</td>'
        f'<td><a class="title" href="{href("events", i.last_event_id)}">{esc(i.title)}</a>'
        f'<div class="culprit">{esc(i.culprit)}</div></td>'
        f'<td class="num count">{i.count}</td><td class="num">{clock(i.last_seen)}</td></tr>'
        for i in issues
    )
    body = "<h1>Issues</h1>" + (
        f'<table id="issues"><tr><th></th><th>Error</th><th class="num">Events</th>'
        f'<th class="num">Last seen</th></tr>{rows}</table>'
        if issues
        else '<p class="empty" id="issues">No errors yet. Point an SDK at this inbox: '
        f"<code>SENTRY_DSN={esc(send_to[0])}</code>, or "
        f'<code>spotlight="{esc(send_to[1])}"</code>.</p>'
    )
    body += _transactions(store) + _logs(store) + _check_ins(store)
    return page("Issues", body, live=latest)


def _section(heading: str, rows: list[str], table_id: str = "", head: str = "") -> str:
    """A heading and its table, or nothing at all when there are no rows to show."""
    if not rows:
        return ""
    table = f'<table id="{table_id}">' if table_id else "<table>"
    return f"<h2>{heading}</h2>{table}{head}{''.join(rows)}</table>"


def _transactions(store: Store) -> str:
    """Transactions, and the segments of streamed traces, which take their place."""
    rows = [
        f'<tr><td><a href="{href("traces", t["trace_id"])}">{esc(t["title"])}</a></td>'
        f'<td>{esc(t["request"])}</td><td class="status">{esc(t["status"])}</td>'
        f'<td class="num">{_ms(t["duration_ms"])}</td>'
        f'<td class="num">{clock(t["received"])}</td></tr>'
        for t in store.traces(limit=50)
    ]
    head = (
        '<tr><th>Transaction</th><th>Request</th><th>Status</th><th class="num">Duration</th>'
        '<th class="num">Received</th></tr>'
    )
    return _section("Transactions", rows, "transactions", head)


def _logs(store: Store) -> str:
    rows = [
        f"<tr><td>{level(r['level'])}</td><td>{esc(r['body'])}</td>"
        f'<td class="num">{clock(r["timestamp"])}</td></tr>'
        for r in store.logs(limit=50)
    ]
    return _section("Logs", rows, "logs")


def _check_ins(store: Store) -> str:
    rows = [
        f"<tr><td>{esc(c['monitor_slug'])}</td><td>{esc(c['status'])}</td>"
        f'<td class="num">{_ms(c["duration"] * 1000 if c["duration"] is not None else None)}</td>'
        f'<td class="num">{clock(c["received"])}</td></tr>'
        for c in store.check_ins(limit=50)
    ]
    return _section("Check-ins", rows, "check-ins")


def event(store: Store, event_id: str) -> str | None:
    """One event: exception chain with source, request, user, tags, breadcrumbs, attachments."""
    data = store.event(event_id)
    if data is None:
        return None
    if data.get("type") == "transaction":
        summary = summarize("transaction", data)
        return trace(store, summary.trace_id) if summary.trace_id else None
    summary = summarize("event", data)
    meta = [level(summary.level), clock(timestamp(data.get("timestamp")))]
    meta += [
        f"{esc(k)} <code>{esc(data[k])}</code>" for k in ("environment", "release") if data.get(k)
    ]
    if summary.trace_id:
        meta.append(
            f'trace <a href="{href("traces", summary.trace_id)}">{esc(summary.trace_id)}</a>'
        )
    spans = "".join(f"<span>{m}</span>" for m in meta)
    body = f'<h1>{esc(summary.title)}</h1><div class="meta">{spans}</div>'
    if summary.transaction:
        body += f'<p class="culprit">in {esc(summary.transaction)}</p>'
    body += _exception_chain(data)
    request = data.get("request") if isinstance(data.get("request"), dict) else {}
    body += "<h2>Request</h2>" + (
        f"<p><code>{esc(summary.request)}</code></p>{key_values(request.get('headers'))}"
        if request
        else '<p class="empty">none</p>'
    )
    body += "<h2>User</h2>" + key_values(data.get("user"))
    body += "<h2>Tags</h2>" + key_values(data.get("tags"))
    body += "<h2>Breadcrumbs</h2>" + _breadcrumbs(data)
    body += _attachments(store, event_id) + _siblings(store, summary.fingerprint, event_id)
    return page(summary.title, body)


def _exception_chain(data: dict[str, Any]) -> str:
    chain = exceptions(data)
    if not chain:
        return ""
    out = "<h2>Exception</h2>"
    for exc in reversed(chain):  # the one raised last first, then what caused it
        mechanism = exc.get("mechanism") if isinstance(exc.get("mechanism"), dict) else {}
        handled = "" if mechanism.get("handled", True) else ' <span class="level">unhandled</span>'
        stack = "".join(_frame(f) for f in frames(exc))
        out += (
            f'<div class="exception"><h3>{esc(exc.get("type"))}: {esc(exc.get("value"))}'
            f"{handled}</h3>"
            f"{stack or '<p class=empty>no stack trace</p>'}</div>"
        )
    return out


def _frame(frame: dict[str, Any]) -> str:
    in_app = bool(frame.get("in_app"))
    where = f"{frame.get('filename') or frame.get('module') or '?'}:{frame.get('lineno') or '?'}"
    if isinstance(frame.get("colno"), int):  # a browser's frame: its script's line and column
        where += f":{frame['colno']}"
    summary = f"{esc(where)} in <b>{esc(frame.get('function') or '?')}</b>"
    lineno = frame["lineno"] if isinstance(frame.get("lineno"), int) else 0
    pre, post = frame.get("pre_context") or [], frame.get("post_context") or []
    lines: list[str] = []
    if frame.get("context_line") is not None and isinstance(pre, list) and isinstance(post, list):
        start = lineno - len(pre)
        source = [*pre, frame["context_line"], *post]
        lines = [
            f"<span{' class=current' if n == lineno else ''}><i>{n}</i>{esc(text)}</span>"
            for n, text in enumerate(source, start=start)
        ]
    source_html = f'<pre class="source">{"".join(lines)}</pre>' if lines else ""
    local_vars = frame.get("vars")
    vars_html = key_values(local_vars) if isinstance(local_vars, dict) and local_vars else ""
    opened = " open" if in_app else ""
    css = "frame in-app" if in_app else "frame"
    return (
        f'<details class="{css}"{opened}><summary>{summary}</summary>'
        f"{source_html}{vars_html}</details>"
    )


def _breadcrumbs(data: dict[str, Any]) -> str:
    crumbs = data.get("breadcrumbs")
    values = crumbs.get("values") if isinstance(crumbs, dict) else crumbs
    if not isinstance(values, list) or not values:
        return '<p class="empty">none</p>'
    rows = "".join(
        f'<tr><td class="num">{clock(timestamp(c.get("timestamp")))}</td>'
        f"<td>{esc(c.get('category') or c.get('type') or '')}</td>"
        f"<td>{esc(c.get('level') or '')}</td>"
        f"<td>{esc(c.get('message') or c.get('data') or '')}</td></tr>"
        for c in values
        if isinstance(c, dict)
    )
    return f'<table id="breadcrumbs">{rows}</table>'


def _attachments(store: Store, event_id: str) -> str:
    rows = [
        f'<tr><td><a href="{href("attachments", str(a["id"]))}" download="{esc(a["filename"])}">'
        f"{esc(a['filename'])}</a></td><td>{esc(a['content_type'])}</td>"
        f'<td class="num">{a["size"]} bytes</td></tr>'
        for a in store.attachments(event_id)
    ]
    return _section("Attachments", rows)


def _siblings(store: Store, fingerprint: str, event_id: str) -> str:
    rows = [
        f'<tr><td><a href="{href("events", e["event_id"])}">{esc(e["event_id"])}</a></td>'
        f'<td>{esc(e["request"])}</td><td class="num">{clock(e["received"])}</td></tr>'
        for e in store.events(fingerprint=fingerprint, limit=20)
        if e["event_id"] != event_id
    ]
    return _section("Other events of this issue", rows)


def trace(store: Store, trace_id: str) -> str | None:
    """Every transaction of a trace in one waterfall, and the errors in it."""
    items = store.trace(trace_id)
    streamed = as_transactions(store.trace_spans(trace_id))
    if not items and not streamed:
        return None
    txns = [i for i in items if i.get("type") == "transaction"] + streamed
    errors = [i for i in items if i.get("type") != "transaction"]
    body = f"<h1>Trace <code>{esc(trace_id)}</code></h1>"
    if txns:
        body += _waterfall([_Part(txn) for txn in txns])
    if errors:
        rows = "".join(
            f'<tr><td>{level(s.level)}</td><td><a href="{href("events", s.event_id)}">'
            f"{esc(s.title)}</a></td></tr>"
            for s in (summarize("event", e) for e in errors)
        )
        body += f'<h2>Errors in this trace</h2><table id="trace-errors">{rows}</table>'
    return page(f"Trace {trace_id}", body)


class _Part:
    """One transaction (or streamed segment) of a trace: its root span and its spans, in order."""

    def __init__(self, txn: dict[str, Any]) -> None:
        self.summary = summarize("transaction", txn)
        self.start = timestamp(txn.get("start_timestamp")) or 0.0
        self.end = max(timestamp(txn.get("timestamp")) or self.start, self.start)
        trace_ctx = (txn.get("contexts") or {}).get("trace") or {}
        self.parent = str(trace_ctx.get("parent_span_id") or "")
        self.root = {
            "span_id": trace_ctx.get("span_id"),
            "op": trace_ctx.get("op") or "transaction",
            "description": self.summary.title,
            "start_timestamp": self.start,
            "timestamp": self.end,
        }
        raw = txn.get("spans")
        spans = [s for s in raw if isinstance(s, dict)] if isinstance(raw, list) else []
        self.depth = _depths(self.root, spans)
        by_start = sorted(spans, key=lambda s: timestamp(s.get("start_timestamp")) or 0.0)
        self.spans = [self.root, *by_start]


def _waterfall(parts: list[_Part]) -> str:
    """All parts on one time axis, each one placed right under the span that called it.

    A browser's page load continues the trace of the server's page, and a request it makes
    continues the page load's: in one waterfall, as Sentry draws a trace. A part whose caller is
    not in the trace (or that bad data makes its own caller) starts at the top, by start time.
    """
    start = min(p.start for p in parts)
    total = max(max(p.end for p in parts) - start, 1e-6)
    by_start = sorted(parts, key=lambda p: p.start)
    called = _called(by_start)
    callees = {id(part) for children in called.values() for part in children}
    rows: list[str] = []
    placed: set[int] = set()
    # The parts nothing in the trace called first; then any that a cycle in bad data left out.
    for top in [p for p in by_start if id(p) not in callees] + by_start:
        if id(top) in placed:
            continue
        placed.add(id(top))
        # Walked with a stack, not recursion: a chain of services is as deep as it is.
        stack = [(top, iter(top.spans), 0)]
        while stack:
            part, spans, base = stack[-1]
            span = next(spans, None)
            if span is None:
                stack.pop()
                continue
            depth = base + part.depth.get(str(span.get("span_id")), 1)
            rows.append(_row(part, span, depth, start, total))
            for child in reversed(called.get(str(span.get("span_id")), [])):
                if id(child) not in placed:
                    placed.add(id(child))
                    stack.append((child, iter(child.spans), depth + 1))
    return (
        '<table class="waterfall"><tr><th>Span</th><th class="num">Duration</th><th></th></tr>'
        f"{''.join(rows)}</table>"
    )


def _called(parts: list[_Part]) -> dict[str, list[_Part]]:
    """The parts each span of another part called (a request it made), by that span's id."""
    owners: dict[str, _Part] = {}
    for part in parts:
        for span in part.spans:
            owners.setdefault(str(span.get("span_id")), part)
    called: dict[str, list[_Part]] = {}
    for part in parts:
        caller = owners.get(part.parent)
        if caller is not None and caller is not part:
            called.setdefault(part.parent, []).append(part)
    return called


def _row(part: _Part, span: dict[str, Any], depth: int, start: float, total: float) -> str:
    s_start = timestamp(span.get("start_timestamp")) or part.start
    s_end = max(timestamp(span.get("timestamp")) or s_start, s_start)
    left = max(0.0, min(100.0, (s_start - start) / total * 100))
    width = max(0.0, min(100.0 - left, (s_end - s_start) / total * 100))
    indent = 0.6 + depth * 1.2
    label = f"<code>{esc(span.get('op'))}</code> {esc(span.get('description') or '')}"
    if span is part.root:  # a transaction starts here: what it answered, and how
        label += (
            f'<div class="meta"><code>{esc(part.summary.request)}</code> '
            f'<span class="status">{esc(part.summary.status)}</span></div>'
        )
    css = "span root" if span is part.root else "span"
    cell = "txn" if span is part.root else "op"
    return (
        f'<tr class="span-row"><td class="{cell}" style="padding-left:{indent:.1f}em">{label}</td>'
        f'<td class="num">{_ms((s_end - s_start) * 1000)}</td>'
        f'<td class="bar"><div class="track"><div class="{css}" '
        f'style="left:{left:.2f}%;width:{width:.2f}%"></div></div></td></tr>'
    )


def _depths(root: dict[str, Any], spans: list[dict[str, Any]]) -> dict[str, int]:
    """Nesting depth of each span id under the transaction's root span (which is depth 0).

    Walked without recursion: a sender that lists spans as they end puts children before their
    parents, and a recursive walk of a thousand nested spans would exhaust Python's stack.
    """
    parents = {str(s.get("span_id")): str(s.get("parent_span_id")) for s in spans}
    depths = {str(root.get("span_id")): 0}
    for span_id in parents:
        chain: dict[str, None] = {}  # the ancestors not yet placed, in order
        node = span_id
        while node not in depths and node in parents and node not in chain:
            chain[node] = None
            node = parents[node]
        depth = depths.get(node, 1)  # an unknown parent, or a cycle in bad data
        for link in reversed(chain):
            depth += 1
            depths[link] = depth
    return depths


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f} ms"
