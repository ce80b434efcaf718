"""``SentryMiddleware``: wrap any ASGI app, and its errors, requests and traces reach Sentry."""

from __future__ import annotations

import sys
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar, cast

import sentry_sdk

from sentry_asgi._asgi import ASGIApp, Receive, Scope, Send, as_asgi3
from sentry_asgi._errors import install_repeat_filter, repeats_a_report
from sentry_asgi._exchange import Exchange
from sentry_asgi._guard import contained, log_fault
from sentry_asgi._lifespan import process_event as lifespan_process_event
from sentry_asgi._lifespan import run_lifespan
from sentry_asgi._options import (
    DEFAULT_FAILED_REQUEST_STATUS_CODES,
    DEFAULT_HTTP_METHODS_TO_CAPTURE,
    TrustedProxy,
    build_options,
)
from sentry_asgi._privacy import policy_for
from sentry_asgi._propagation import incoming_trace
from sentry_asgi._request import filtered_by_name, name_filtered, span_filtered_by_name
from sentry_asgi._sdk import (
    add_event_processor_last,
    enter_isolation_scope,
    forget_inherited_name,
    fresh_scopes,
    leave_isolation_scope,
    request_session,
    restore_builtin_asgi_middleware,
    silence_builtin_asgi_middleware,
)
from sentry_asgi._tracing import STREAMING_AVAILABLE, may_sample, start_trace, streaming_api
from sentry_asgi.frameworks import detect

if TYPE_CHECKING:
    import re
    from collections.abc import Collection

    from sentry_sdk import Scope as SentryScope

    from sentry_asgi._scrub import Secrets
    from sentry_asgi.frameworks import Framework

# The exchange being handled in this context. Set: an outer SentryMiddleware owns the request,
# so an inner one (a mounted sub-app, a second add_middleware) passes it through.
_current: ContextVar[Exchange | None] = ContextVar("sentry_asgi_exchange", default=None)


# The route secrets of the request this middleware just handled, for what sentry_sdk's own
# middleware around it sends once it is done (its transaction, its segment): set as the request
# ends, in the context that middleware awaited it in.
_left_behind: ContextVar[Secrets | None] = ContextVar("sentry_asgi_left_behind", default=None)


def current_exchange() -> Exchange | None:
    """The request the calling code runs in, for framework hooks that report through it."""
    return _current.get()


def _process_event(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
    """Hand an event to the request it was captured in, if any.

    One processor for the whole process, on sentry_sdk's global scope, finds the request through
    the context: the same reach as one added to each request's isolation scope (tasks the app
    spawns inherit both), without a per-request registration.
    """
    exchange = _current.get()
    if exchange is None:
        return None if repeats_a_report(event, hint) else _filtered_by_name(event)
    if exchange.scope.get("type") == "lifespan":
        return lifespan_process_event(event, hint)
    return exchange.process_event(event, hint)


def _filtered_by_name(event: dict[str, Any]) -> dict[str, Any]:
    """An event captured outside any request, its request data's secrets filtered by name.

    Again after the isolation scope's processors, which sentry_sdk runs after this one: there,
    its ASGI middleware around ours attaches the request data of the transaction it sends.
    """
    with contained():
        add_event_processor_last(sentry_sdk.get_isolation_scope(), _filter_last)
    return _filter_last(event, {})


def _filter_last(
    event: dict[str, Any],
    hint: dict[str, Any],  # noqa: ARG001 - the event processor signature
) -> dict[str, Any]:
    request = event.get("request")
    if isinstance(request, dict) and _current.get() is None:
        with contained():
            policy = policy_for(sentry_sdk.get_client().options)
            event["request"] = filtered_by_name(request, policy)
            name = event.get("transaction")
            if isinstance(name, str):
                event["transaction"] = name_filtered(name, policy)
            left = _left_behind.get()
            if left is not None:
                left.scrub_tree(event)
    return event


Item = TypeVar("Item")


def without_request_secrets(item: Item, *, issued: bool = False) -> Item:
    """``item`` (a log, a streamed span) without the current request's secrets.

    ``issued``: also without the tokens the response issued (a log a background task writes
    after it). Outside a request there are none: the very same item comes back.
    """
    exchange = _current.get()
    if exchange is None or exchange.scope.get("type") == "lifespan" or not exchange.client_options:
        return item
    with contained():
        _, secrets = exchange.request_data()
        if issued:
            exchange.learn_issued_tokens(secrets)
        if type(item) is dict and not secrets.held_by(item):  # as most items: nothing to do
            return item
        return secrets.scrub_tree(item)  # type: ignore[no-any-return]
    return item


class _NamingChildSpans:
    """A ``before_send_span`` giving a request's spans its name and taking its secrets out.

    sentry_sdk offers no other way to see a streamed span before it is sent, nor passes one
    through event processors. Installed on a client's options when the first request runs under
    it; the hook the app set is kept, and sees each span with its name corrected and the
    request's secrets removed. A span sent outside any request (the segment sentry_sdk's own
    middleware around ours streams) is filtered by names alone.
    """

    __slots__ = ("then",)

    def __init__(self, then: Any) -> None:
        self.then = then

    def __call__(self, span: dict[str, Any], hint: dict[str, Any]) -> Any:
        exchange = _current.get()
        trace = exchange.trace if exchange is not None else None
        if trace is not None and trace.streamed:
            with contained():
                trace.name_child(span, cast("Exchange", exchange))
        if exchange is None:  # sentry_sdk's segment around ours, sent once the request is over
            with contained():
                span = span_filtered_by_name(span, policy_for(sentry_sdk.get_client().options))
                left = _left_behind.get()
                if left is not None:
                    span = left.scrub_tree(span)
        span = without_request_secrets(span)
        then = self.then
        return span if then is None else then(span, hint)


class _ScrubbingTelemetry:
    """A ``before_send_log`` or ``before_send_metric`` taking the request's secrets out first.

    Logs and metrics never pass through event processors: a log line that interpolates what the
    request sent (its Authorization header, a password) would go out as written. The hook the
    app set is kept, and sees each item with the request's secrets removed.
    """

    __slots__ = ("then",)

    def __init__(self, then: Any) -> None:
        self.then = then

    def __call__(self, item: dict[str, Any], hint: dict[str, Any]) -> Any:
        item = without_request_secrets(item, issued=True)
        then = self.then
        return item if then is None else then(item, hint)


def _put_in_front(options: dict[str, Any], option: str, hook: type[Any]) -> None:
    """Install ``hook`` as the client's ``option``, around the one set there, once."""
    then = options.get(option)
    if type(then) is not hook:
        # sentry_sdk's own rule: the option when set, else its earlier experimental spelling.
        options[option] = hook(then or (options.get("_experiments") or _NONE).get(option))


def _name_child_spans(options: dict[str, Any]) -> None:
    """Put :class:`_NamingChildSpans` in front of the client's ``before_send_span``, once."""
    _put_in_front(options, "before_send_span", _NamingChildSpans)


# The options of the client whose logs and metrics were last given :class:`_ScrubbingTelemetry`.
_scrubbing_telemetry_of: dict[str, Any] | None = None


def _scrub_telemetry(options: dict[str, Any]) -> None:
    """Have the client's logs, metrics and spans scrubbed once a first request runs under it."""
    global _scrubbing_telemetry_of  # noqa: PLW0603 - one identity check per request
    _scrubbing_telemetry_of = options
    _put_in_front(options, "before_send_log", _ScrubbingTelemetry)
    _put_in_front(options, "before_send_metric", _ScrubbingTelemetry)
    _name_child_spans(options)  # sentry_sdk's middleware around ours may stream the segment


_processor_installed = False


def _install_event_processor() -> None:
    """Register :func:`_process_event` once per process, after the repeat filter."""
    global _processor_installed  # noqa: PLW0603 - a process-wide, idempotent registration
    install_repeat_filter()
    if not _processor_installed:
        sentry_sdk.get_global_scope().add_event_processor(_process_event)  # type: ignore[arg-type]
        _processor_installed = True


class SentryMiddleware:
    """Report an ASGI app's errors, requests and traces to Sentry.

    Configure sentry_sdk with ``sentry_sdk.init(dsn=...)`` as usual; the middleware uses
    whatever client is active when a request arrives, and passes requests straight through
    when there is none.
    """

    def __init__(  # noqa: PLR0913 - one keyword per documented option
        self,
        app: Any,
        *,
        transaction_style: str = "endpoint",
        http_methods_to_capture: Collection[str] = DEFAULT_HTTP_METHODS_TO_CAPTURE,
        failed_request_status_codes: Collection[int] = DEFAULT_FAILED_REQUEST_STATUS_CODES,
        exclude_paths: Collection[str | re.Pattern[str]] = (),
        trusted_proxies: Collection[TrustedProxy] = (),
    ) -> None:
        if not callable(app):
            msg = f"SentryMiddleware needs an ASGI application to wrap; got {app!r}"
            raise TypeError(msg)
        self.app: ASGIApp = as_asgi3(app)
        _install_event_processor()
        # Frameworks that swallow view errors or keep routes out of the scope get hooks once;
        # a framework whose internals moved must still start, only without them.
        self.framework: Framework | None = None
        with contained():
            self.framework = detect(app)
        self.options = build_options(
            transaction_style=transaction_style,
            http_methods_to_capture=http_methods_to_capture,
            failed_request_status_codes=failed_request_status_codes,
            exclude_paths=exclude_paths,
            trusted_proxies=trusted_proxies,
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:  # noqa: C901, PLR0912
        """Handle one ASGI connection: one coroutine, as this runs for every request.

        Typed ``Any`` as each server and framework types ASGI its own way (hypercorn, Quart and
        Litestar with TypedDicts no mapping type accepts): any of them may call it.
        """
        __tracebackhide__ = True  # the app's frames are the story, not the middleware's
        kind = scope.get("type")
        client_options = None
        outer = _current.get()
        if outer is not None and _owns(outer, scope):
            # A wrapped app mounted inside the one the outer middleware wraps: its routes count.
            with contained():
                outer.entered(self.framework, scope)
        elif kind == "http" or kind == "websocket":  # noqa: PLR1714 - the hot path
            client = sentry_sdk.Scope.get_client()
            if client.is_active():
                client_options = client.options
        elif kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if client_options is None:  # not ours to handle: pass straight through
            await self.app(scope, receive, send)
            return
        if outer is not None:
            await self._from_clean_state(scope, receive, send, outer)
            return

        exchange = Exchange(self.options, scope, receive, send, client_options, self.framework)
        _current.set(exchange)
        builtin = silence_builtin_asgi_middleware()
        try:
            isolation, sentry_scope = enter_isolation_scope()
            try:
                try:
                    # Set already: sentry_sdk's own ASGI middleware runs around ours.
                    _begin(exchange, sentry_scope, client_options, sdk_outside=builtin is True)
                except Exception:  # noqa: BLE001 - our fault must never become the app's
                    log_fault()
                try:
                    await self.app(scope, exchange.receive, exchange.send)
                except BaseException:
                    # Not bound to a name: sentry_sdk reads this frame's variables, and one
                    # holding the exception, whose traceback holds this frame, is a cycle.
                    with contained():
                        exchange.raised(cast("BaseException", sys.exc_info()[1]))
                    raise
                finally:
                    try:
                        exchange.finished()
                        if builtin is True:  # sentry_sdk's middleware around: it sends next
                            _left_behind.set(exchange.route_secrets())
                    except Exception:  # noqa: BLE001 - likewise
                        log_fault()
            finally:
                leave_isolation_scope(isolation)
        finally:
            # Set back, not reset: a Token would hold the request's context, where sentry_sdk's
            # dedupe keeps the last exception, whose traceback holds this frame (a cycle).
            # (The exchange was only set when none was.)
            restore_builtin_asgi_middleware(builtin)
            _current.set(None)

    async def _from_clean_state(
        self, scope: Scope, receive: Receive, send: Send, outer: Exchange
    ) -> None:
        """Handle a request that starts in another request's context, from fresh scopes.

        On asyncio, uvicorn starts a request from a context the previous request on the same
        connection left behind (after a large body paused reading, or a pipelined request:
        CPython's gh-140947). That context holds the previous request's exchange, its
        isolation scope (user, tags), its span and the flag that silences sentry_sdk's own ASGI
        middleware: none of them is this request's. A request the app sends to a wrapped app
        in process runs in the sending request's own context: all of it is set back afterwards
        (the exchange only while its request is still being handled: not a leftover one).
        """
        __tracebackhide__ = True
        builtin = silence_builtin_asgi_middleware()  # the flag's value, to set back
        restore_builtin_asgi_middleware(None)
        _current.set(None)
        try:
            with fresh_scopes():
                await self(scope, receive, send)
        finally:
            restore_builtin_asgi_middleware(builtin)
            _current.set(None if outer.done else outer)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        __tracebackhide__ = True
        _current.set(Exchange(self.options, scope, receive, send, {}, self.framework))
        builtin = silence_builtin_asgi_middleware()
        try:
            await run_lifespan(self.app, scope, receive, send)
        finally:
            restore_builtin_asgi_middleware(builtin)
            _current.set(None)


_NONE: dict[str, Any] = {}


# Mutable parts of a scope that a copy (``{**scope, "headers": [...]}``) still shares with it.
_SHARED_BY_COPIES = ("headers", "asgi", "state", "extensions")


def _owns(outer: Exchange, scope: Scope) -> bool:
    """Tell whether an outer SentryMiddleware handles this request, not another one.

    Its scope is this one, or a copy a framework or middleware made on the way in (Litestar's
    ``copy_scope``, a middleware replacing ``headers``), sharing the rest, while the outer
    connection is still under way, its response not begun. A request the app sends itself (to an
    app in the same process) shares nothing. A server starts the next request on a connection
    only once the previous one's response began (or, with none sent, once it finished): such an
    exchange leaked into this context (see :meth:`SentryMiddleware._from_clean_state`).
    """
    if outer.scope is scope:
        return True
    original = outer.scope
    return (
        outer.status is None
        and not outer.done
        and original.get("type") == scope.get("type")
        and any(
            (part := scope.get(key)) is not None and original.get(key) is part
            for key in _SHARED_BY_COPIES
        )
    )


def _begin(
    exchange: Exchange, sentry_scope: SentryScope, options: dict[str, Any], *, sdk_outside: bool
) -> None:
    """Set the request's scope up: trace continuation, span, session."""
    if options is not _scrubbing_telemetry_of:
        _scrub_telemetry(options)
    sentry_scope.clear_breadcrumbs()  # crumbs from start-up or import time are not this request's
    if sdk_outside:  # its middleware tracks the request's session: counting it here is a second
        exchange.sdk_session = request_session()
    else:  # nor is a name set then (outside, sentry_sdk's middleware set the request's own)
        forget_inherited_name(sentry_scope)
    incoming = incoming_trace(exchange.scope)
    # sentry_sdk's own rule: the option when set, else its earlier experimental spelling.
    lifecycle = options.get("trace_lifecycle") or (options.get("_experiments") or _NONE).get(
        "trace_lifecycle"
    )
    streamed = lifecycle == "stream" and STREAMING_AVAILABLE
    if streamed and not sdk_outside:  # outside, it continued the trace and runs the segment
        traces = streaming_api()
        if incoming:
            traces.continue_trace(incoming)
        else:
            traces.new_trace()
    if may_sample(options, incoming) and not sdk_outside and not _inside_server_span():
        # A transaction continues the trace on the scope itself (sentry_sdk.continue_trace).
        exchange.trace = start_trace(exchange, incoming, streamed=streamed)
        if streamed and exchange.trace is not None:
            _name_child_spans(options)
    if streamed or exchange.trace is not None:
        return
    if incoming:
        sentry_scope.generate_propagation_context(incoming)
    else:
        sentry_scope.set_new_propagation_context()


def _inside_server_span() -> bool:
    """Tell whether another ASGI middleware (sentry_sdk's, outside ours) already traces this."""
    span = sentry_sdk.get_current_span()
    op = getattr(span, "op", None) if span is not None else None
    return op in ("http.server", "websocket.server")
