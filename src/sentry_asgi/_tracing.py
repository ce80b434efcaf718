"""One transaction (or streamed segment) per request, with one code path for name and status.

sentry_sdk is moving from transactions to span streaming (``trace_lifecycle="stream"``); the
SDK's own option picks the lifecycle, and both sit behind :class:`Trace`. When the SDK could
never sample the request in, no span object is built at all: the propagation context set on
the isolation scope already links errors to the trace.
"""

from __future__ import annotations

import functools
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import sentry_sdk

try:
    from sentry_sdk import traces as _traces
except ImportError:  # releases before span streaming
    _traces = None  # type: ignore[assignment,unused-ignore]

from sentry_asgi._body import scrub_fields
from sentry_asgi._guard import contained
from sentry_asgi._naming import CUSTOM, URL
from sentry_asgi._request import full_path
from sentry_asgi._sdk import (
    isolation_transaction_name,
    name_before_propagation,
    start_profiling,
    stop_profiling,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sentry_asgi._asgi import Message
    from sentry_asgi._exchange import Exchange

ORIGIN = "auto.http.sentry_asgi"
# The request body as an attribute: sentry_sdk's Starlette and FastAPI integrations put the body
# the app parsed on the segment, as JSON text, whatever the privacy settings.
_BODY = "http.request.body.data"
# The messages that carry a response's body; the one without ``more_body`` is its last. The
# zero-copy extension sends a file's bytes in them too (``http.response.pathsend``, a whole
# file, is the last message by itself).
_BODY_MESSAGES = frozenset(
    {"http.response.body", "http.response.zerocopysend", "websocket.http.response.body"}
)

# Releases before span streaming ignore the lifecycle option, and 2.52 to 2.54 have the module
# but no way to start a streamed span: a transaction per request, as sentry_sdk itself traces
# them there.
STREAMING_AVAILABLE = hasattr(_traces, "start_span")
# The attribute of a segment's name source, which sentry_sdk copies into its events: it was
# ``sentry.span.source`` until sentry-sdk 2.67 renamed it along with ``SegmentNameSource``.
SOURCE = (
    "sentry.segment.name.source" if hasattr(_traces, "SegmentNameSource") else "sentry.span.source"
)


def may_sample(options: Mapping[str, Any], incoming: Mapping[str, str] | None) -> bool:
    """Tell whether the SDK could sample this request in; False means skip all span work."""
    if options.get("traces_sampler") is not None:
        return True
    rate = options.get("traces_sample_rate")
    if rate is None:
        return False
    if rate > 0:
        return True
    # A rate of 0 still honours an upstream that sampled the trace in.
    return incoming is not None and incoming.get("sentry-trace", "").endswith("-1")


def streaming_api() -> Any:
    """sentry_sdk's span-streaming module, used only by releases and clients that stream."""
    return _traces


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Trace:
    """The request's root span in either lifecycle: status, timing and name in one place."""

    __slots__ = (
        "_close_code",
        "_closed",
        "_ended_at",
        "_handshake",
        "_opened_at",
        "_outcome",
        "given",
        "isolation_given",
        "kind",
        "propagated",
        "span",
        "streamed",
    )

    def __init__(self, span: Any, *, streamed: bool, kind: str, given: tuple[str, str]) -> None:
        self.span = span
        self.streamed = streamed
        self.kind = kind
        # The name and source the middleware gave the span (and, through it, the scope): anything
        # else at the end was set by the app or a framework, and is theirs to keep.
        self.given = given
        # The isolation scope's name at the start: a different one at the end is the app's.
        self.isolation_given = isolation_transaction_name()
        # The name the middleware gave the span as the trace was first propagated, if any.
        self.propagated: tuple[str, str] | None = None
        self._outcome: str | None = None
        self._ended_at: datetime | None = None
        self._opened_at = _now()
        self._close_code: int | None = None
        self._closed = False
        self._handshake: Any = None
        if kind == "websocket":
            self._handshake = self._child("websocket.handshake", "handshake")

    def _child(self, op: str, name: str) -> Any:
        """A span of the middleware's own under the root, never the parent of the app's spans."""
        if self.streamed:
            return streaming_api().start_span(
                name=name, attributes={"sentry.op": op, "sentry.origin": ORIGIN}, active=False
            )
        return self.span.start_child(op=op, name=name, origin=ORIGIN)

    def _set(self, key: str, value: Any) -> None:
        if self.streamed:
            self.span.set_attribute(key, value)
        else:
            self.span.set_data(key, value)

    def final_name(self, exchange: Exchange) -> tuple[str, str]:
        """The name the app set on the isolation scope during the request, else the middleware's.

        A name set without a source is the app's own choice: ``custom``.
        """
        name, source = isolation_transaction_name()
        if name and (name, source) != self.isolation_given:
            return name, source or CUSTOM
        return exchange.name()

    def source_of(self, name: object, source: Any) -> Any:
        """The source of a name the app set since: ``custom`` where it gave none over a raw path.

        sentry_sdk leaves the source as it was when a name comes without one, and Sentry would
        rewrite the app's own name as a path (``/orders/*/checkout``) were it left ``url``.
        """
        given_name, given_source = self.given
        renamed = name != given_name and source == given_source == URL
        return CUSTOM if renamed else source

    def before_propagation(self, exchange: Exchange, span: Any) -> None:
        """Name the transaction as the request stands, before sentry_sdk fixes its sampling context.

        That context (``sentry-transaction``) is fixed as the trace is first propagated, often
        in the view (a template's meta tags, an outgoing request), after the framework routed
        the request: named then, every service of the trace samples by its route. Only a name
        better than a raw path replaces one the middleware gave; it stays the middleware's, and
        the end of the request may name it again.
        """
        if span is not self.span or not self._named_by_us():
            return
        name, source = self.final_name(exchange)
        if source == URL:
            return
        self.propagated = (name, source)
        if self.streamed:
            span.name = name
            span.set_attribute(SOURCE, source)
        else:
            span.name, span.source = name, source

    def _named_by_us(self) -> bool:
        """Tell whether the span still has a name the middleware gave it: no one renamed it."""
        span = self.span
        source = span.get_attributes().get(SOURCE) if self.streamed else span.source
        return (span.name, source) in (self.given, self.propagated)

    def name_child(self, child: dict[str, Any], exchange: Exchange) -> None:
        """Give a streamed child span of this segment the name the segment is getting.

        sentry_sdk copies the segment's name onto a child when the child ends, before the request
        is named at its end: the raw path (``/items/1``), one value per item. The child ends after
        routing has run (in the view, or around it), and the name is resolved as it stands then,
        with a raw path's secrets filtered as in the segment's own name (``;jsessionid=``).
        """
        attributes = child.get("attributes")
        span = self.span
        if (
            child.get("is_segment")
            or not isinstance(attributes, dict)
            or attributes.get("sentry.segment.id") != span.span_id
            or span.end_timestamp is not None  # named already, and copied as it is
            or not self._named_by_us()
        ):
            return
        attributes["sentry.segment.name"] = _filtered(self.final_name(exchange)[0], exchange)

    def _end_handshake(self) -> None:
        if self._handshake is not None:
            handshake, self._handshake = self._handshake, None
            if self.streamed:
                handshake.end()
            else:
                handshake.finish()

    def observe_send(self, message: Message) -> None:
        """Follow the response: status at its start, end time at its last body chunk."""
        kind = message.get("type")
        if kind == "http.response.start":
            self.set_http_status(message.get("status"))
        elif kind in _BODY_MESSAGES:
            if not message.get("more_body", False):
                self._ended_at = _now()  # a streaming response ends here, not at its headers
        elif kind == "http.response.pathsend":  # the server sends the file: the response ends
            self._ended_at = _now()
        elif kind == "websocket.accept":
            self._end_handshake()
            self.set_http_status(101)
        elif kind == "websocket.close":
            if self._handshake is not None:  # closed before accepting: the server answers 403
                self.set_http_status(403)
            self._end_handshake()
            self.closed(message.get("code", 1000))
        elif kind == "websocket.http.response.start":  # handshake denied with a response
            self._end_handshake()
            self.set_http_status(message.get("status"))

    def closed(self, code: object) -> None:
        """Note a websocket close, the app's or the client's: the first one is the connection's.

        A server may take the app's close after the client went away (hypercorn, granian and
        daphne do): the connection had ended with the client's code.
        """
        if not self._closed:
            self._closed = True
            self._close_code = code if isinstance(code, int) else None

    def set_http_status(self, code: object) -> None:
        """Record the response status code and the span status it implies."""
        if not isinstance(code, int):
            return
        if self.streamed:
            self.span.set_attribute("http.response.status_code", code)
            self.span.status = "error" if code >= 500 else "ok"
        else:
            self.span.set_http_status(code)

    def cut_short(self) -> None:
        """The client left, or the server cancelled the app: ``cancelled``, unless answered.

        A websocket that had closed or been denied was answered: the app's cleanup after it is no
        part of it.
        """
        if self._ended_at is None and self._outcome is None and not self._closed:
            self._outcome = "cancelled"

    def departed(self) -> None:
        """The app failed as its client went away: ``cancelled``, unless its websocket had closed.

        A chat's next ``receive()`` raises once the client closed it (Starlette's
        ``WebSocketDisconnect``, BlackSheep's ``WebSocketDisconnectError``): the connection had
        ended, as clients end them.
        """
        if not self._closed:
            self._outcome = "cancelled"

    def failed(self) -> None:
        """The app failed: ``internal_error``."""
        self._outcome = "internal_error"

    def unrouted(self) -> None:
        """No route of the app serves the request: ``not_found``."""
        self._outcome = "not_found"

    def _describe_websocket(self) -> None:
        self._set("websocket.duration_seconds", (_now() - self._opened_at).total_seconds())
        code = self._close_code
        if code is not None:
            self._set("websocket.close_code", code)

    def finish(self, exchange: Exchange) -> None:
        """Name the span after routing has run, set the outcome, and end it."""
        name_before_propagation(self.span, None)
        self._end_handshake()
        span = self.span
        if self.streamed:
            current = span.get_attributes().get(SOURCE)
            if self._named_by_us():
                span.name, source = self.final_name(exchange)
            else:
                source = self.source_of(span.name, current)
            span.set_attribute(SOURCE, source)
            if self._outcome == "internal_error":  # streamed spans know only ok and error
                span.status = "error"  # a client that left is not the app's failure
            if span.sampled:
                with contained():  # the segment is sent regardless
                    _describe_request(span, exchange)
        else:
            if self._named_by_us():
                span.name, span.source = self.final_name(exchange)
            else:
                span.source = self.source_of(span.name, span.source)
            if self._outcome is not None:
                span.set_status(self._outcome)
        if self.kind == "websocket":
            self._describe_websocket()
        if self.streamed:
            span.end(self._ended_at)
        else:
            stop_profiling(span)
            span.finish(end_timestamp=self._ended_at)


def _filtered(name: str, exchange: Exchange) -> str:
    """A name without the request's secrets: one named after its raw path holds what it holds."""
    _, secrets = exchange.request_data(body=False)
    return secrets.scrub(name) if secrets else name


def _describe_request(span: Any, exchange: Exchange) -> None:
    """Give a streamed segment the request, as attributes: what a transaction gets as ``request``.

    Built from the same filtered request data as events (secrets filtered, the client address
    only with consent); attributes the app set itself are kept.
    """
    data, _ = exchange.request_data(body=False)
    span.name = _filtered(span.name, exchange)
    headers: dict[str, str] = data.get("headers") or {}
    query = data.get("query_string")
    described: dict[str, Any] = {
        f"http.request.header.{name}": value for name, value in headers.items()
    }
    if "method" in data:
        described["http.request.method"] = data["method"]
    described["url.full"] = f"{data['url']}?{query}" if query else data["url"]
    described["url.path"] = _filtered(exchange.path(), exchange)
    route = exchange.route_template()
    if route is not None:
        described["http.route"] = route
    if query:
        described["http.query"] = query
    if "user-agent" in headers:
        described["user_agent.original"] = headers["user-agent"]
    version = exchange.scope.get("http_version")
    # A websocket's segment names its protocol websocket: HTTP's version is only its handshake's.
    if isinstance(version, str) and version and exchange.scope.get("type") == "http":
        described["network.protocol.name"] = "http"
        described["network.protocol.version"] = version
    address = (data.get("env") or {}).get("REMOTE_ADDR")
    if address:
        described["user.ip_address"] = address
    existing = span.get_attributes()
    span.set_attributes({k: v for k, v in described.items() if k not in existing})
    body = existing.get(_BODY)
    if isinstance(body, str):
        span.set_attribute(_BODY, _filtered_body(body, exchange))


def _filtered_body(body: str, exchange: Exchange) -> str:
    """A copy of the body, filtered as the body is in events: secret fields ``[Filtered]``."""
    _, secrets = exchange.request_data()  # the body as the app read it: its secrets learned
    return secrets.scrub(scrub_fields(body, secrets))


def _unnamed_if_unsent(span: Any, source: str) -> None:
    """Keep a raw path out of the trace's sampling context when the segment is never sent.

    sentry_sdk names the trace after its segment in the baggage of every outgoing request
    (``sentry-transaction``), leaving out a raw path's name by its source, which a no-op span
    does not keep: ``/cart;jsessionid=...`` would reach every service the app calls. A
    transaction's name is left out alike.
    """
    if source == URL and not span.sampled:
        span.name = None


def _untraced(exchange: Exchange, kind: str) -> Trace | None:
    """An excluded request's segment that records nothing: the app's spans are no segments.

    Streamed, a span started with no active span is a segment of its own, sampled and sent: a
    health check's database ping would be one, every time. As children of this one, they record
    nothing; outgoing requests carry the trace and, as without streaming, no sampling decision.
    A sentry_sdk release whose no-op span is built otherwise leaves the request without one.
    """
    scope = sentry_sdk.get_current_scope()
    context = scope.get_active_propagation_context()
    name, source = exchange.name()
    try:
        span = streaming_api().NoOpStreamedSpan(
            name=name,
            attributes={SOURCE: source},  # events read name and source
            scope=scope,
            trace_id=context.trace_id,
            parent_span_id=context.parent_span_id,
            parent_sampled=context.parent_sampled,
            baggage=context.baggage,
            sampled=None,
        )
    except (AttributeError, TypeError):  # pragma: no cover - a sentry_sdk without that class
        return None
    _unnamed_if_unsent(span, source)
    return Trace(span, streamed=True, kind=kind, given=(name, source))


def start_trace(
    exchange: Exchange, incoming: Mapping[str, str] | None, *, streamed: bool
) -> Trace | None:
    """Start the request's transaction or segment, or None when the request is not traced."""
    scope = exchange.scope
    kind = str(scope.get("type"))
    options = exchange.options
    path = full_path(scope)
    excluded = (
        kind == "http"
        and str(scope.get("method") or "").upper() not in options.http_methods_to_capture
    ) or any(pattern.fullmatch(path) for pattern in options.exclude_paths)
    if excluded:
        return _untraced(exchange, kind) if streamed else None
    name, source = exchange.name()
    op = f"{kind}.server"
    sampling_context = {"asgi_scope": scope, "http.method": scope.get("method"), "url.path": path}
    route = exchange.route_template()
    if route is not None:
        sampling_context["http.route"] = route
    if streamed:
        # On the scope itself: a classmethod from sentry-sdk 2.60, a method of the scope before.
        sentry_sdk.get_current_scope().set_custom_sampling_context(sampling_context)
        span = streaming_api().start_span(
            name=name,
            attributes={
                "sentry.op": op,
                "sentry.origin": ORIGIN,
                SOURCE: source,
                "network.protocol.name": kind,
            },
            parent_span=None,
        )
        _unnamed_if_unsent(span, source)
        trace = Trace(span, streamed=True, kind=kind, given=(name, source))
        if source == URL and span.sampled:  # as a transaction's, below
            hook = functools.partial(trace.before_propagation, exchange)
            name_before_propagation(span, hook, source_key=SOURCE)
    else:
        continued = sentry_sdk.continue_trace(dict(incoming or {}), op=op, name=name, source=source)
        continued.origin = ORIGIN  # not a continue_trace() argument in older sentry_sdk releases
        span = sentry_sdk.start_transaction(continued, custom_sampling_context=sampling_context)
        sentry_sdk.get_current_scope().span = span
        start_profiling(span)
        trace = Trace(span, streamed=False, kind=kind, given=(name, source))
        if source == URL:  # its raw path until routing has run: named again before propagating
            name_before_propagation(span, functools.partial(trace.before_propagation, exchange))
    return trace
