"""One HTTP request or websocket connection: the per-request state, kept off the middleware.

The hot path only observes: it wraps ``receive`` and ``send`` to see the messages go by and
never changes, delays or reads ahead of one. Everything expensive (decoding headers, naming,
filtering secrets) waits until an event is actually built.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from functools import cache
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import sentry_sdk

from sentry_asgi import _sessions as sessions
from sentry_asgi._body import (
    BodyRecorder,
    inflated,
    learn_from_variables,
    learn_response_body,
    parse_body,
    scrub_fields,
)
from sentry_asgi._errors import (
    MECHANISM,
    answered_by,
    app_exception,
    capture_exception,
    describe_as,
    expect_denial_log,
    holds_error,
    is_cancellation,
    is_disconnect,
    is_os_error,
    is_refused_answer,
    is_unhandled,
    mark_dealt_with,
    note_refused_answer,
    retitle_exception_group,
)
from sentry_asgi._guard import contained, log_fault
from sentry_asgi._naming import ROUTE, URL, named_root, resolve_name
from sentry_asgi._privacy import LEARN_BODY_CAP, policy_for
from sentry_asgi._request import (
    build_request_data,
    decode_headers,
    filter_route_parameters,
    full_path,
    header_value,
    learn_response_headers,
    requested_path,
)
from sentry_asgi._scrub import FILTERED, Secrets, scrub_attachments
from sentry_asgi._sdk import (
    add_event_processor_once,
    attach_stacktrace_now,
    mark_session_errored,
    may_be_sent,
    over_size_limit,
)
from sentry_asgi.frameworks import mounted_framework, unrouted

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from sentry_asgi._asgi import Message, Receive, Scope, Send
    from sentry_asgi._options import Options, TransactionStyle
    from sentry_asgi._tracing import Trace
    from sentry_asgi.frameworks import Framework, Match

_ERROR_LEVELS = frozenset({"error", "fatal"})
# The request data built here holds filtered values only: no need to search it for secrets.
_REQUEST_IS_CLEAN = frozenset({"request"})


class Exchange:
    """State and hooks for one connection, created per request."""

    __slots__ = (
        "_body",
        "_body_done",
        "_denial_sent",
        "_earlier_starts",
        "_entry_endpoint",
        "_matched",
        "_matched_ahead",
        "_mount",
        "_params_learned",
        "_receive",
        "_reported",
        "_request_data",
        "_response_body",
        "_response_start",
        "_routed",
        "_secrets",
        "_send",
        "_tail_scope",
        "abandoned",
        "captured",
        "client_options",
        "crashed",
        "disconnected",
        "done",
        "error_seen",
        "errored",
        "framework",
        "options",
        "pending",
        "scope",
        "sdk_session",
        "send_failed",
        "status",
        "trace",
    )
    # The app's response start, set when it is sent and never initialised: no cost per request.
    _response_start: Message | None
    # The body of the app's last non-empty response body message, set likewise: a token it issued.
    _response_body: object
    # Response starts sent before another one (which the server refuses): only a faulty app has any.
    _earlier_starts: tuple[Message, ...]
    # Set, likewise, once a websocket denial's whole response went out.
    _denial_sent: bool
    # The route parameters whose secrets the request data has filtered (the last), set likewise.
    _params_learned: Mapping[str, object]
    # Where Starlette's router had not routed the request yet (its app, the endpoint in the scope),
    # and the parameters of the route it will match there: set, likewise, by the first event.
    _matched_ahead: tuple[object, object, Mapping[str, object] | None]

    def __init__(  # noqa: PLR0913, PLR0917 - the connection and everything it runs under
        self,
        options: Options,
        scope: Scope,
        receive: Receive,
        send: Send,
        client_options: dict[str, Any],
        framework: Framework | None = None,
    ) -> None:
        self.options = options
        self.client_options = client_options
        self.framework = framework  # the wrapped app's framework adapter, if it has one
        self.scope = scope
        self._routed = scope  # the scope the innermost wrapped app routes, where names are
        # Set by a router the app is mounted under (Starlette's Mount: the mounted app itself).
        self._entry_endpoint = scope.get("endpoint")
        self._receive = receive
        self._send = send
        self.status: int | None = None
        self.disconnected = False
        self.send_failed = False
        self.abandoned = False  # the app raised because the client went away
        self.error_seen = False
        self.errored = False  # an exception was reported: release health's "errored"
        self.crashed = False
        self.done = False  # finished: a request started in its context is another one
        self.captured: BaseException | None = None
        self.trace: Trace | None = None
        # The session sentry_sdk's own ASGI middleware, running around ours, counts this request in.
        self.sdk_session: Any = None
        # A recorder, or a body that came whole in one message (see :meth:`receive`).
        self._body: BodyRecorder | bytes | None = None
        self._body_done = False
        self._request_data: dict[str, Any] | None = None
        self._secrets: Secrets | None = None
        self._tail_scope: int | None = None
        self._matched: Match | None = None
        # The path of mounts passed through that keep it out of root_path (None: none was).
        self._mount: str | None = None
        self._reported: BaseException | None = None
        # An exception a framework's handler is answering: a failure only if it answers 5xx.
        self.pending: tuple[Exception, str] | None = None

    # -- the app's view of the connection ------------------------------------------------

    async def receive(self) -> Message:
        """Pass the server's message to the app, noting a client that went away."""
        message = await self._receive()
        try:
            kind = message.get("type")
        except AttributeError:  # not a mapping: the app finds out from the message, not from us
            return message
        if kind == "http.request":
            body = message.get("body")
            if (
                self._body is None
                and type(body) is bytes
                and len(body) <= LEARN_BODY_CAP
                and not message.get("more_body", False)
            ):
                # Most bodies come whole, in one message, and most requests have no event: the
                # bytes themselves are kept (nothing can change them), a recorder built only if
                # an event needs one.
                self._body = body or None
            elif body or self._body is not None:
                self._record(message)
        elif kind == "http.disconnect":
            self.disconnected = True
            if self.trace is not None:
                self.trace.cut_short()
        elif kind == "websocket.disconnect":
            self.disconnected = True
            if self.trace is not None:
                self.trace.closed(message.get("code", 1005))
        return message

    async def send(self, message: Message) -> None:  # noqa: C901 - every message: kept inline
        """Pass the app's message to the server, noting the response status.

        A websocket handshake denied with a response (``websocket.http.response.start``) has one.
        """
        again = False
        try:
            kind = message.get("type")
            if kind == "http.response.body":
                body = message.get("body")
                if body:  # Quart ends each response with an empty one
                    self._response_body = body  # a reference: read only for an event
            elif kind == "http.response.start" or kind == "websocket.http.response.start":  # noqa: PLR1714 - the hot path
                if self.status is not None:  # a second start: the app's frames hold both
                    again = True
                    self._keep_earlier_start()
                self._response_start = message
                status = message.get("status")
                if isinstance(status, int):
                    self.status = status
            elif kind == "websocket.http.response.body" and not message.get("more_body", False):
                self._denial_sent = True
        except AttributeError:  # not a mapping: the server's to refuse, not ours
            await self._send(message)
            return
        if self.trace is not None:
            try:
                self.trace.observe_send(message)
            except Exception:  # noqa: BLE001 - never the app's problem
                log_fault()
        try:
            await self._send(message)
        except Exception as refused:
            self._refused(refused, again=again)
            raise

    def _refused(self, refused: Exception, *, again: bool) -> None:
        """Note why the server refused a message: the client left, or it was a second start."""
        if isinstance(refused, OSError):
            self.send_failed = True  # the server could not write: the client is gone
        elif again:  # the app answered, after its response started, what it was handling
            note_refused_answer(refused)

    def _keep_earlier_start(self) -> None:
        earlier: Message | None = getattr(self, "_response_start", None)
        if earlier is not None:
            self._earlier_starts = (*getattr(self, "_earlier_starts", ()), earlier)

    def _record(self, message: Message) -> None:
        """Record a body that comes in parts, or another message after a whole one."""
        try:
            self._recorder().record(message)
        except Exception:  # noqa: BLE001 - never the app's problem
            log_fault()

    def _recorder(self) -> BodyRecorder:
        """The body's recorder, built now around a whole body kept as it came."""
        body = self._body
        if type(body) is BodyRecorder:
            return body
        policy = policy_for(self.client_options)
        recorder = BodyRecorder(policy.record_cap, policy.body_cap)
        if body:
            recorder.record({"body": body})
        self._body = recorder
        return recorder

    # -- outcomes ----------------------------------------------------------------------------

    def failed(self, exc: BaseException, mechanism: str = MECHANISM) -> None:
        """Report the app's (or a framework hook's) exception unless the client went away."""
        own = app_exception(exc)
        if own is not exc:
            mark_dealt_with(exc)  # what the server logs: the framework's wrapper
            exc = own
        if self.captured is exc:
            return
        gone = self._client_left(exc)
        if self.trace is not None:
            if gone:
                self.trace.departed()
            else:
                self.trace.failed()
        if gone:
            self.abandoned = True  # whatever the app answered, nobody received it
            mark_dealt_with(exc)
            return
        self.captured = exc
        capture_exception(exc, mechanism)

    def raised(self, exc: BaseException) -> None:
        """The app raised: report its exception, or note a cancellation.

        A server cancels the app when it stops (hypercorn does, on asyncio and trio): the request
        was cut short. An interruption (``KeyboardInterrupt``) is no outcome of the request.
        """
        if holds_error(exc):
            if self._unrouted(exc):
                self._not_found(exc)
            else:
                self.failed(exc)
        elif is_cancellation(exc):
            if self._answering_a_departure(exc):
                self.abandoned = True  # its answer to the disconnect reached nobody
            if self.trace is not None:
                self.trace.cut_short()

    def _unrouted(self, exc: BaseException) -> bool:
        """Tell whether the framework raised ``exc`` to say that no route serves the request.

        Also a framework's app mounted as it is (Channels' below a Starlette ``Mount`` or with
        BlackSheep's ``app.mount``). Not once the app answered (the 500 a Starlette app around it
        sends): its answer says what the request met.
        """
        return self.status is None and unrouted(exc)

    def _not_found(self, exc: BaseException) -> None:
        """The framework raised that no route serves the request: a client's miss, no event.

        The exception still leaves the middleware, as the app raised it; the server's log record
        of it is no event either.
        """
        mark_dealt_with(exc)
        if self.trace is not None:
            self.trace.unrouted()

    def _answering_a_departure(self, cancellation: BaseException) -> bool:
        """Tell whether the server cancelled the app while it answered a client that had left.

        hypercorn over HTTP/2 cancels the app once the client resets its stream: the app may be
        sending its error page for the disconnect (FastAPI's 500), which is no failure of its own.
        """
        context = cancellation.__context__
        return context is not None and self._client_left(context)

    def finished(self) -> None:
        """Report a failed status no exception explained, then finish the trace."""
        self.done = True
        status = self.status
        pending = self.pending
        if pending is not None:
            self.pending = None  # its frames hold this exchange: no cycle past the request
            self._report_pending(*pending, status)
        # In this context, not the app's: the app may have denied from a task of its own.
        if (
            status is not None
            and self.scope.get("type") == "websocket"
            and getattr(self, "_denial_sent", False)
        ):
            expect_denial_log()  # the app answered the handshake with a whole response
        # Whatever the app answered a client that went away, nobody received it: no failure.
        failed = status in self.options.failed_request_status_codes and not self.abandoned
        if status is not None and failed and not self.error_seen and self.captured is None:
            self._capture_failed_status(status)
        if self.trace is not None:
            self.trace.finish(self)
        if self.sdk_session is None:
            sessions.record(
                self.client_options,
                sessions.CRASHED
                if self.crashed
                else sessions.ERRORED
                if self.errored or failed
                else sessions.EXITED,
            )
        elif failed:
            mark_session_errored(self.sdk_session)
        # The request is over. Its exception's frames hold this exchange: keeping the exception
        # would make a reference cycle, freed only when the garbage collector runs.
        self.captured = self._reported = None

    def _report_pending(self, exc: Exception, mechanism: str, status: int | None) -> None:
        """Report the exception a framework handler answered, if its answer was a failure."""
        if (status is None or status >= 500) and self.captured is None and not self.abandoned:
            with contained():
                self.failed(exc, mechanism)

    def _capture_failed_status(self, status: int) -> None:
        method = str(self.scope.get("method") or "").upper()
        name, _ = self._resolve("url")
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "HTTP error"
        sentry_sdk.capture_event(
            {
                "level": "error",
                "message": f"{status} {phrase}: {method} {name}".replace("  ", " "),
                "fingerprint": ["http-status", str(status), method, name],
                "contexts": {"response": {"status_code": status}},
                "tags": {"http.status_code": str(status)},
            }
        )

    # -- events --------------------------------------------------------------------------------

    def request_data(self, *, body: bool = True) -> tuple[dict[str, Any], Secrets]:
        """Build the request interface once per request, on the first event that needs it.

        ``body=False`` leaves the body out (span attributes never carry it); a later call adds it.
        """
        if self._request_data is None or self._secrets is None:
            secrets = Secrets()
            policy = policy_for(self.client_options)
            self._request_data = build_request_data(
                self.scope,
                decode_headers(self.scope),
                policy,
                self.options.trusted_proxies,
                secrets,
                path=self._client_path(),
            )
            self._secrets = secrets
        self._learn_route_parameters(self._request_data, self._secrets)
        response_start: Message | None = getattr(self, "_response_start", None)
        if response_start is not None:
            self._response_start = None  # learned once
            starts = (*getattr(self, "_earlier_starts", ()), response_start)
            self._earlier_starts = ()
            for start in starts:
                learn_response_headers(start, policy_for(self.client_options), self._secrets)
        if body and self._body is not None and not self._body_done:
            self._body_done = self._attach_body(self._request_data, self._secrets)
        return self._request_data, self._secrets

    def _learn_route_parameters(self, data: dict[str, Any], secrets: Secrets) -> None:
        """Filter the secret parameters of the route the request matched in its URL, learned.

        Known once the framework routed the request (here, if it is matched now): until then,
        looked for again at each event; again too if a router further in matched more of it.
        """
        params = self._route_parameters()
        if params is None or params is getattr(self, "_params_learned", None):
            return
        self._params_learned = params
        rule = policy_for(self.client_options).query
        if rule.mode != "all":
            data["url"] = filter_route_parameters(
                data["url"], params, rule, secrets, self._raw_path()
            )

    def route_secrets(self) -> Secrets | None:
        """The secrets of the matched route's parameters alone, once the request is over.

        For what sentry_sdk's middleware around this one sends then (its transaction, its
        segment): its URL is the raw path, filtered by names alone. Routes are matched again for
        a request Starlette's router never saw only where that transaction may be sent.
        """
        params = self._route_parameters(worth_matching=may_be_sent)
        rule = policy_for(self.client_options).query
        if params is None or rule.mode == "all":
            return None
        secrets = Secrets()
        filter_route_parameters("", params, rule, secrets, self._raw_path())
        return secrets or None

    def _raw_path(self) -> str:
        raw = self.scope.get("raw_path")
        return bytes(raw).decode("latin-1") if isinstance(raw, (bytes, bytearray)) else ""

    def _route_parameters(
        self, worth_matching: Callable[[], bool] | None = None
    ) -> Mapping[str, object] | None:
        """The values of the matched route's parameters by name, if the request is routed.

        Before Starlette's router ran, those of the route it will match (see :meth:`_ahead`).
        """
        match = self._framework_match()
        params = match.params if match is not None else None
        if params is None and self.framework is None:
            params = self._ahead(worth_matching)
        if params is None:
            params = self._routed.get("path_params")  # Starlette's, FastAPI's, Litestar's
        return params if isinstance(params, Mapping) and params else None

    def _ahead(self, worth_matching: Callable[[], bool] | None) -> Mapping[str, object] | None:
        """The parameters of the route Starlette's router will match, where it has not routed yet.

        Matched once for where the request stands (the app it reached, the endpoint a router
        put in the scope): the same parameters, the same object, filter the URL once.
        """
        if "starlette.routing" not in sys.modules:  # no Starlette app in this process
            return None
        scope = self._routed
        app, endpoint = scope.get("app"), scope.get("endpoint")
        known = cast(
            "tuple[object, object, Mapping[str, object] | None] | None",
            getattr(self, "_matched_ahead", None),
        )
        if known is not None and known[0] is app and known[1] is endpoint:
            return known[2]
        params = _starlette_matcher()(scope, worth_matching)
        if worth_matching is None:  # a "no" from it holds for that one caller only
            self._matched_ahead = (app, endpoint, params)
        return params

    def _attach_body(self, data: dict[str, Any], secrets: Secrets) -> bool:
        """Parse the body once the app has read it all; tell whether that is settled.

        A body that may not be sent is parsed all the same: its secret fields are learned.
        """
        if self._body is None:
            return True
        body = self._recorder()
        if body.too_large:
            if body.sent:
                data["data"] = over_size_limit()
            return True
        if not body.chunks or not body.whole(header_value(self.scope, b"content-length")):
            return False
        raw = b"".join(body.chunks)
        encoding = header_value(self.scope, b"content-encoding")
        if encoding is not None:  # the app reads what it inflates: so are its secrets learned
            decoded = inflated(raw, encoding, body.cap)
            if decoded is None:
                body.unlearned = True
                return True
            raw = decoded
        content_type = header_value(self.scope, b"content-type") or ""
        parsed = parse_body(raw, content_type, secrets)
        if len(raw) <= body.sent:
            data["data"] = parsed
        elif body.sent:
            data["data"] = over_size_limit()
        return True

    def name(self) -> tuple[str, str]:
        """The transaction name and source, resolved now (routing may have run since)."""
        return self._resolve(self.options.transaction_style)

    def entered(self, framework: Framework | None, scope: Scope) -> None:
        """The request reached a wrapped app mounted further in: name it after that app's routes.

        Through a copy of the scope (a middleware between that passes on new headers), that app
        routes the copy: the names are read from it. Not from a copy with another path (Litestar's
        ``copy_scope`` of a mount): that names the request after the wrong place.
        """
        if scope is not self.scope and not _same_target(scope, self.scope):
            return
        outer = self.framework
        mount = outer.mount(scope) if outer is not None and outer.mount is not None else None
        if mount is not None:
            self._mount = (self._mount or "") + mount.rstrip("/")
        self._routed = scope
        self.framework = framework
        self._matched = None
        self._entry_endpoint = scope.get("endpoint")

    def rerouted(self, framework: Framework) -> None:
        """The framework routes this request otherwise than it would be matched up front.

        Django routes with the URLconf a middleware set on the request, known only once Django
        resolves it: the name follows that routing, whatever was matched before.
        """
        self.framework = framework
        self._matched = None

    def _enter_a_mounted_app(self) -> None:
        """Name the request after an app mounted as it is, once the router passed it there.

        Starlette's router puts the app of the Mount it passed the request through in the scope,
        as its endpoint: that app has its framework's hooks, but no SentryMiddleware of its own
        to say so.
        """
        framework = mounted_framework(self._routed.get("endpoint"))
        if framework is not None:
            self.entered(framework, self._routed)

    def _resolve(self, style: TransactionStyle) -> tuple[str, str]:
        """Name the request after the wrapped app's routing, not a router it is mounted under.

        A ``Mount`` outside the app leaves its own ``route`` and ``endpoint`` (the mounted app)
        in the scope; a router inside the app replaces both. Until one does, the endpoint is
        not the app's view, and the mount is the route only of an app with no routes we know.
        """
        if self.framework is None:
            self._enter_a_mounted_app()
        outer = self._entry_endpoint
        inside = outer is None or self._routed.get("endpoint") is not outer
        mount = self._mount or ""  # the app's routes are below a mount that kept its own path
        name, source = resolve_name(
            self._routed,
            style,
            self._route,
            self._endpoint,
            scope_endpoint=inside,
            # Below such a mount, the route of a router outside it is no route of the app's.
            scope_route=inside or (self.framework is None and not mount),
        )
        if source == URL:
            if mount and self.framework is None:  # no routes we can read: the mount's
                return mount, ROUTE
            return self._client_path() or mount + name, URL
        if source == ROUTE:
            return (mount + self._below_the_root(name) if mount else name), ROUTE
        return name, source

    def _below_the_root(self, template: str) -> str:
        """The app's route template without the root path: the mount's path holds it already.

        Litestar passes the path below its mount on with ``root_path`` unchanged, and the app's
        routes are named below ``root_path`` (its template, under a Starlette Mount).
        """
        root = str(named_root(self._routed) or "").rstrip("/")
        return template[len(root) :] if root and template.startswith(root) else template

    def path(self) -> str:
        """The path the client asked for, ``root_path`` included."""
        return self._client_path() or full_path(self.scope)

    def _client_path(self) -> str | None:
        """The path the client asked for, if a mount replaced the scope's with the path below it.

        Litestar's mounts do, in place: the path the client asked for is then only in ``raw_path``.
        Starlette's did before 0.35, moving what they cut off into ``root_path``. None otherwise:
        the scope's path is the client's (or the server gave no ``raw_path``).
        """
        framework = self.framework
        below_a_mount = self._mount is not None or (
            framework is not None
            and framework.mount is not None
            and framework.mount(self._routed) is not None
        )
        if below_a_mount:
            return requested_path(self.scope)
        return _rejoined_below_a_starlette_mount(self.scope)

    def _framework_match(self) -> Match | None:
        framework = self.framework
        if framework is None:
            return None
        if not framework.reroutes:
            return self._ask(framework)
        if self._matched is None:
            match = self._ask(framework)
            if match is None:
                return None  # not routed (yet): ask again next time
            self._matched = match
        return self._matched

    def _ask(self, framework: Framework) -> Match | None:
        """Where the framework routes this request; nowhere if its router fails on it.

        The app's own routing code runs here (a path converter that looks a value up may raise,
        as it did when the app routed the request): its failure is the request's, already
        answered, and must not cost the request its name, transaction or event.
        """
        try:
            return framework.match(self._routed)
        except Exception:  # noqa: BLE001 - the app's router, not the middleware, failed
            return None

    def route_template(self) -> str | None:
        """The matched route template, if known yet (before routing: if the framework can match)."""
        template, source = self._resolve("url")
        return template if source == "route" else None

    def _route(self, _scope: Scope) -> str | None:
        match = self._framework_match()
        return match.template if match is not None else None

    def _endpoint(self, _scope: Scope) -> Any:
        match = self._framework_match()
        return match.endpoint if match is not None else None

    def process_event(self, event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
        """Attach request data and the request's name; keep secrets out of the event."""
        with contained():
            if (
                self._awaits_its_answer(event, hint)
                or self._repeats_an_error(hint)
                or self._reports_a_disconnect(event, hint)
                or self._reports_no_route(hint)
            ):
                return None
            self._process(event, hint)
        return event

    def _awaits_its_answer(self, event: dict[str, Any], hint: dict[str, Any]) -> bool:
        """Tell whether a framework integration reports an exception the framework answers.

        sentry_sdk's Litestar integration reports each exception Litestar handles, under the
        mechanism the middleware uses: a domain error the app's handler answers 404, which the
        middleware reports itself once the answer is a 5xx; and a websocket close the app
        raised, or before sentry-sdk 2.21 a 4xx ``HTTPException``, answered on purpose.
        """
        exc_info = hint.get("exc_info")
        if not exc_info:
            return False
        pending = self.pending
        waiting = pending[1] if pending is not None and exc_info[1] is pending[0] else None
        expected = waiting or answered_by(exc_info[1])
        if expected is None:
            return False
        values = (event.get("exception") or {}).get("values")
        mechanism = values[-1].get("mechanism") if isinstance(values, list) and values else None
        return isinstance(mechanism, dict) and mechanism.get("type") == expected

    def _repeats_an_error(self, hint: dict[str, Any]) -> bool:
        """Tell whether this request already sent an event for the same exception object.

        sentry_sdk's DedupeIntegration remembers the last error per context, so a copy made
        in another thread (a framework's sync hook, its log record) slips past it; the
        request's own record does not. The server's refusal of an answer after the response
        started counts as the exception the app answered.
        """
        exc_info = hint.get("exc_info")
        exc = exc_info[1] if exc_info else None
        if exc is None:
            return False
        if is_refused_answer(exc):
            exc = _unwrapped(exc)
        if exc is self._reported:
            return True
        self._reported = exc
        return False

    def _name_event(self, event: dict[str, Any]) -> None:
        """Name an event now, unless the app or a framework named the request itself.

        The scope carries the name the middleware gave the transaction at its start; a
        different one was set since (``set_transaction_name``) and is kept, ``custom`` if set
        without a source, and so is one set on the isolation scope, which the current scope's
        would hide.
        """
        name = event.get("transaction")
        trace = self.trace
        if name:
            if trace is None:
                return
            info = event.get("transaction_info")
            source = info.get("source") if isinstance(info, dict) else None
            if (name, source) != trace.given:
                if isinstance(info, dict) and source is not None:  # the scope's own: a copy
                    event["transaction_info"] = {**info, "source": trace.source_of(name, source)}
                return
        name, source = self.name() if trace is None else trace.final_name(self)
        event["transaction"] = name
        event["transaction_info"] = {"source": source}

    def _reports_a_disconnect(self, event: dict[str, Any], hint: dict[str, Any]) -> bool:
        """Tell whether an integration caught a client disconnect as if it were the app's bug.

        Also one a framework wrapped (Litestar's wrapper of a failed write mid-stream).
        """
        exc_info = hint.get("exc_info")
        if exc_info is None or exc_info[1] is self.captured:  # ours: known not to be one
            return False
        return self._client_left(_unwrapped(exc_info[1])) and is_unhandled(event)

    def _reports_no_route(self, hint: dict[str, Any]) -> bool:
        """Tell whether an integration reports the framework's way of saying no route serves this.

        sentry_sdk's Starlette integration reports what leaves a Starlette app before the
        middleware sees it: a Channels app's ``No route found`` raised below a ``Mount``.
        """
        exc_info = hint.get("exc_info")
        return exc_info is not None and self._unrouted(exc_info[1])

    def _client_left(self, exc: BaseException) -> bool:
        """Tell whether ``exc`` is a disconnect, or a failed read or write of a client now gone."""
        return is_disconnect(exc) or ((self.disconnected or self.send_failed) and is_os_error(exc))

    def _run_last(self) -> None:
        """Have :meth:`_after_integrations` run after the framework integrations' processors.

        Those sit on the request's isolation scope, whose processors sentry_sdk runs after the
        global scope's, reading the list only once it gets there: one appended now, while the
        global scope's run, still runs for this event, after theirs. (With none there, sentry_sdk
        reads an empty stand-in, and there is nothing to run after.)
        """
        scope = sentry_sdk.get_isolation_scope()
        if self._tail_scope != id(scope):  # an id: the scope holding us back would be a cycle
            add_event_processor_once(scope, self._after_integrations)
            self._tail_scope = id(scope)

    def _after_integrations(
        self,
        event: dict[str, Any],
        hint: dict[str, Any],  # noqa: ARG002 - the event processor signature
    ) -> dict[str, Any] | None:
        """Filter request data that a framework integration wrote after ours, as ours is.

        sentry_sdk's Starlette and FastAPI integrations replace the request interface with
        their own copy, the body as they parsed it included, once the middleware is done; its
        Quart integration edits ours in place, with a client address read from
        X-Forwarded-For, which anyone writes. Request data about another URL (what the app
        passed to ``capture_event`` about an upstream call) is only searched for secrets.
        sentry_sdk's ASGI integration names an event its middleware sees before any router ran
        after the raw URL, once ours is done: that name loses the request's secrets too.
        """
        with contained():
            request = event.get("request")
            if isinstance(request, dict):
                event["request"] = self._refiltered(request)
            name = event.get("transaction")
            if isinstance(name, str) and name:
                _, secrets = self.request_data()
                if secrets:
                    event["transaction"] = secrets.scrub(name)
        return event

    def _refiltered(self, request: dict[str, Any]) -> dict[str, Any]:
        data, secrets = self.request_data()
        url = request.get("url", data["url"])
        roots = {str(self.scope.get("root_path") or ""), str(self._routed.get("root_path") or "")}
        if not isinstance(url, str) or not _same_place(url, data["url"], roots):  # another URL
            texts = {
                k: v.decode("latin-1") if isinstance(v, bytes) else v for k, v in request.items()
            }
            return secrets.scrub_tree(texts)  # type: ignore[no-any-return]
        policy = policy_for(self.client_options)
        request = {**request, "url": data["url"], "headers": dict(data["headers"])}
        if "query_string" in data:
            request["query_string"] = data["query_string"]
        else:
            request.pop("query_string", None)
        if "data" in request:
            if "data" in data:
                request["data"] = data["data"]
            elif policy.body_cap:
                request["data"] = scrub_fields(request["data"], secrets)
            else:
                del request["data"]
        cookies = request.get("cookies")
        if isinstance(cookies, dict) and policy.cookies.mode != "all":
            request["cookies"] = {
                name: value if policy.cookies.keeps(str(name)) else FILTERED
                for name, value in cookies.items()
                if policy.cookies.keeps(str(name)) is not None
            }
        if "env" in data:  # the address as the middleware believes it, never a forwarded one
            request["env"] = dict(data["env"])
        else:
            request.pop("env", None)
        return secrets.scrub_tree(request)  # type: ignore[no-any-return]

    def _process(self, event: dict[str, Any], hint: dict[str, Any]) -> None:
        is_transaction = event.get("type") == "transaction"
        if not is_transaction and (event.get("level") in _ERROR_LEVELS or event.get("exception")):
            self.error_seen = True
            # sentry_sdk's sessions count exceptions only, not error-level messages and log records.
            self.errored = self.errored or bool((event.get("exception") or {}).get("values"))
            self.crashed = self.crashed or is_unhandled(event)
        data, secrets = self.request_data()
        existing = event.get("request")
        merged = {**data, "headers": dict(data["headers"])}
        clean = _REQUEST_IS_CLEAN
        if isinstance(existing, dict) and existing:
            merged.update(existing)  # what a framework or the user set wins
            clean = frozenset()
        event["request"] = merged
        try:
            self._run_last()
            if not is_transaction:
                self.learn_issued_tokens(secrets)
                self._name_event(event)
                # A websocket's messages, like a body never read, are only in the app's variables
                # (graphql-ws sends its token in the first message, connection_init's payload).
                unlearned = (type(self._body) is BodyRecorder and self._body.unlearned) or (
                    self.scope.get("type") == "websocket"
                )
                if hint.get("exc_info"):
                    self._describe_app_exception(event, hint)
                else:  # built here to be scrubbed, and without the middleware's frames
                    attach_stacktrace_now(event, self.client_options)
                if unlearned:  # what the app parsed from the body is in its variables
                    learn_from_variables(event, secrets)
            elif secrets:  # older sentry_sdk releases attach the stack to transactions too
                attach_stacktrace_now(event, self.client_options)
        finally:  # a fault of ours above must not let the request's secrets out
            if secrets and (not is_transaction or secrets.found_in(event, skip=clean)):
                secrets.scrub_tree(event, skip=clean)
                _drop_filtered_address(event)
            if secrets and hint.get("attachments"):
                hint["attachments"] = scrub_attachments(hint["attachments"], secrets)

    def learn_issued_tokens(self, secrets: Secrets) -> None:
        """Learn the tokens the app's response body issued, for what may hold them afterwards.

        An error or message event (frames), a log or a metric. Not a transaction or a streamed
        span: parsing a large JSON response for each traced request would cost more than the
        request data itself.
        """
        response_body = getattr(self, "_response_body", None)
        if response_body is not None:
            self._response_body = None  # learned once
            learn_response_body(response_body, secrets)

    def _describe_app_exception(self, event: dict[str, Any], hint: dict[str, Any]) -> None:
        """Title the event after the app's exception: not a framework's wrapper, not a group.

        sentry_sdk's Litestar integration reports Litestar's wrapper of a failure after the
        response started (the middleware reports the app's exception itself).
        """
        exc = hint["exc_info"][1]
        own = _unwrapped(exc)
        if own is not exc:
            describe_as(event, hint, own, self.client_options)
        retitle_exception_group(event, own)


def _drop_filtered_address(event: dict[str, Any]) -> None:
    """Leave out a user's ip_address that was filtered: Sentry accepts only an address there."""
    user = event.get("user")
    if isinstance(user, dict) and user.get("ip_address") == FILTERED:
        event["user"] = {key: value for key, value in user.items() if key != "ip_address"}


def _unwrapped(exc: BaseException) -> BaseException:
    """The app's own exception inside a framework's wrapper of it (any other: itself)."""
    return app_exception(exc) if isinstance(exc, Exception) else exc


@cache
def _starlette_matcher() -> Callable[..., Mapping[str, object] | None]:
    """Starlette's matcher of the routes its router has not matched yet, imported once."""
    from sentry_asgi.frameworks._starlette import parameters_ahead  # noqa: PLC0415 - Starlette's

    return parameters_ahead


def _rejoined_below_a_starlette_mount(scope: Scope) -> str | None:
    """The path a Starlette Mount cut in two, rejoined (imported only below a Starlette Mount)."""
    if "app_root_path" not in scope:
        return None
    from sentry_asgi.frameworks._starlette import path_a_mount_cut  # noqa: PLC0415 - Starlette's

    return path_a_mount_cut(scope)


def _same_target(copy: Scope, scope: Scope) -> bool:
    """Tell whether a copy of the scope asks for the same path under the same mount point."""
    return copy.get("path") == scope.get("path") and copy.get("root_path") == scope.get("root_path")


def _same_place(url: str, ours: str, roots: Collection[str]) -> bool:
    """Tell whether a URL names this request's host and path (ports and queries aside).

    sentry_sdk's ASGI integrations before 2.75 put the root path in front of a path that holds
    it already (Starlette's, below a ``Mount``): ``/api/api/orders/3`` is this request's too.
    """
    try:
        theirs, mine = urlsplit(url), urlsplit(ours)
    except ValueError:  # not a URL at all
        return False
    path, own = theirs.path or "/", mine.path or "/"
    return theirs.hostname == mine.hostname and (
        path == own or any(root and path == root + own for root in roots)
    )
