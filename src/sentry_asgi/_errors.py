"""Capturing the app's exceptions: once each, intact, and never for a client that left."""

from __future__ import annotations

import sys
from collections import Counter
from contextlib import suppress
from contextvars import ContextVar
from typing import Any, cast

import sentry_sdk
from sentry_sdk.utils import event_from_exception, exceptions_from_error_tuple

from sentry_asgi._guard import log_fault

MECHANISM = "asgi"
# The module of a frame that is the middleware's own.
_OWN_FRAMES = "sentry_asgi."

# The exceptions servers and frameworks raise when the client went away mid-request: the
# app did nothing wrong and nobody can act on the report.
_DISCONNECT_TYPES = frozenset(
    {
        ("starlette.requests", "ClientDisconnect"),
        ("uvicorn.protocols.utils", "ClientDisconnected"),
        ("anyio", "EndOfStream"),
        ("anyio", "BrokenResourceError"),
        ("anyio", "ClosedResourceError"),
        ("anyio", "WouldBlock"),
        ("websockets.exceptions", "ConnectionClosed"),
        ("websockets.exceptions", "ConnectionClosedOK"),
        ("websockets.exceptions", "ConnectionClosedError"),
        ("starlette.websockets", "WebSocketDisconnect"),
        ("litestar.exceptions.websocket_exceptions", "WebSocketDisconnect"),
        ("blacksheep.server.websocket", "WebSocketDisconnectError"),
        ("quart.exceptions", "ClientDisconnected"),
        ("django.http.request", "ClientDisconnected"),
        ("blacksheep.exceptions", "MessageAborted"),  # only for http.disconnect: answered 500
    }
)


# The exceptions a framework raises for a client that went away mid-request, by class and the
# detail it gives them, where the class alone is an ordinary error: Litestar's, which it answers
# with a 500, when the client leaves while the app reads the body.
_DISCONNECT_DETAILS = {
    ("litestar.exceptions.http_exceptions", "InternalServerException"): (
        "client disconnected prematurely"
    ),
}


# Exceptions a framework raises from the app's own, adding nothing but the framework's frames,
# by class and the detail the framework gives them: Litestar's when the app fails after its
# response started (a stream, a background task). A LitestarException the app raises from
# another, with its own detail, is the app's exception: reported as itself.
_WRAPPERS = {
    ("litestar.exceptions.base_exceptions", "LitestarException"): (
        "Exception caught after response started"
    ),
}


# Marks the server's refusal of a second response start: a framework (Litestar before 2.9)
# answers an exception after its response started with a 500, raising what the server raises.
_REFUSED_ANSWER = "__sentry_asgi_refused_answer__"


def app_exception(exc: BaseException) -> BaseException:
    """The app's own exception inside the ones a framework wrapped it in (``raise ... from``).

    Reported as the wrapper, every such failure of every app would be titled and grouped alike;
    reported as the server's refusal of an answer after the response started, as the server's.
    A chain that leads back to itself (``exc.__cause__ = exc``) ends at the last one unseen.
    """
    seen: set[int] = set()
    inner = _inner(exc)
    while isinstance(inner, Exception) and id(inner) not in seen:
        seen.add(id(exc))
        exc = inner
        inner = _inner(exc)
    return exc


def _inner(exc: BaseException) -> BaseException | None:
    """What ``exc`` was raised for: a wrapper's cause, or what a refused answer answered."""
    if is_refused_answer(exc):
        return exc.__context__
    return exc.__cause__ if _is_wrapper(exc) else None


def is_refused_answer(exc: BaseException) -> bool:
    """Tell whether the server raised ``exc`` refusing a second response start."""
    return bool(getattr(exc, _REFUSED_ANSWER, False))


def note_refused_answer(exc: BaseException) -> None:
    """Note that the server refused a response start the app sent after its response started."""
    with suppress(AttributeError, TypeError):
        setattr(exc, _REFUSED_ANSWER, True)


def _is_wrapper(exc: BaseException) -> bool:
    detail = _WRAPPERS.get((type(exc).__module__, type(exc).__qualname__))
    return detail is not None and getattr(exc, "detail", None) == detail


def describe_as(
    event: dict[str, Any], hint: dict[str, Any], exc: BaseException, client_options: dict[str, Any]
) -> None:
    """Describe ``exc`` in an event built for a framework's wrapper of it, with its mechanism.

    The chain and ExceptionGroup below ``exc`` are kept, as sentry_sdk builds them. The hint
    names ``exc`` too: ``before_send`` sees the exception the event shows.
    """
    values = (event.get("exception") or {}).get("values") or [{}]
    mechanism = values[-1].get("mechanism") or {}
    own = {"type": mechanism.get("type", MECHANISM), "handled": mechanism.get("handled", False)}
    exc_info = (type(exc), exc, exc.__traceback__)
    event["exception"] = {"values": exceptions_from_error_tuple(exc_info, client_options, own)}
    hint["exc_info"] = exc_info


def is_disconnect(exc: BaseException) -> bool:
    """Tell whether ``exc`` is a known client-disconnect, or a group of nothing else.

    A class deriving from a known one counts; so does an ExceptionGroup whose every leaf is one
    (a disconnect seen by one task of a TaskGroup).
    """
    if getattr(exc, "exceptions", None) is None:  # the usual case: no group
        return _is_one_disconnect(exc)
    leaves = _uncancelled_leaves(exc)
    return bool(leaves) and all(_is_one_disconnect(leaf) for leaf in leaves)


def _is_one_disconnect(exc: BaseException) -> bool:
    if _is_disconnect_type(type(exc)):
        return True
    detail = _DISCONNECT_DETAILS.get((type(exc).__module__, type(exc).__qualname__))
    return detail is not None and getattr(exc, "detail", None) == detail


# How the event loop cancels the app's task: asyncio's, and trio's (hypercorn's trio worker).
_CANCELLATION_TYPES = frozenset({("asyncio.exceptions", "CancelledError"), ("trio", "Cancelled")})


def is_cancellation(exc: BaseException) -> bool:
    """Tell whether ``exc`` is the event loop cancelling the task it was raised in.

    A trio nursery cancelled from outside raises a group of its tasks' Cancelled.
    """
    if getattr(exc, "exceptions", None) is None:  # the usual case: no group
        return _is_cancellation_type(type(exc))
    leaves = _leaves(exc)
    return bool(leaves) and all(_is_cancellation_type(type(leaf)) for leaf in leaves)


def _is_cancellation_type(kind: type) -> bool:
    return any((cls.__module__, cls.__qualname__) in _CANCELLATION_TYPES for cls in kind.__mro__)


def holds_error(exc: BaseException) -> bool:
    """Tell whether ``exc`` is an error, or a group holding one.

    A task group cancelled from outside (the server stopping) while one of its tasks failed
    raises both together (trio does): a BaseExceptionGroup, no Exception, that holds the error.
    """
    return isinstance(exc, Exception) or any(isinstance(leaf, Exception) for leaf in _leaves(exc))


def is_os_error(exc: BaseException) -> bool:
    """Tell whether ``exc`` is an OSError, or a group of nothing else (a write failed in a task)."""
    leaves = _uncancelled_leaves(exc)
    return bool(leaves) and all(isinstance(leaf, OSError) for leaf in leaves)


def _is_disconnect_type(kind: type) -> bool:
    return any((cls.__module__, cls.__qualname__) in _DISCONNECT_TYPES for cls in kind.__mro__)


# Set on every exception the middleware reported, or found to be a client disconnect. Servers
# log the app's exception again after it propagates (daphne from a timer, outside the request's
# context, where sentry_sdk's dedupe cannot see it); the global filter below drops such log
# records by this mark. Only log records: the same exception object raised in a later request
# (a failed shared future, a cached error) is reported again, as is the app's own explicit
# capture_exception of it.
_REPORTED = "__sentry_asgi_reported__"
# Set on an exception a framework answered on purpose (a 4xx, a websocket close): the mechanism
# of the framework's hook, under which its sentry_sdk integration reports it all the same.
_ANSWERED = "__sentry_asgi_answered__"
# Server log lines that repeat an exception the middleware has already reported, as text only.
_REPEATED_LOG_LINES = (("_granian", "Application callable raised an exception"),)
# Servers that log, as is, the message an app sends with lifespan.startup.failed or
# lifespan.shutdown.failed (Starlette sends the failure's traceback as text).
_LIFESPAN_MESSAGE_LOGGERS = ("uvicorn.error", "_granian")
# What a server logs when it gives up after a failed lifespan phase.
_LIFESPAN_GIVING_UP = {
    "startup": ("uvicorn.error", "Application startup failed. Exiting."),
    "shutdown": ("uvicorn.error", "Application shutdown failed. Exiting."),
}
# (logger, message) of server log lines that repeat a lifespan failure the middleware reports
# in this process, and how many times each is still expected (once per reported failure).
_lifespan_repeats: Counter[tuple[str, str]] = Counter()
# uvicorn's default websocket protocol logs this error after every handshake the app denied with
# an HTTP response (it counts only an accepted or closed handshake as complete).
_DENIAL_LOG_LINE = ("uvicorn.error", "ASGI callable returned without completing handshake.")
# Set in the context of a connection the app denied with a response: that line is false there.
_denied: ContextVar[bool] = ContextVar("sentry_asgi_denied", default=False)
# (logger, message format) of the line a framework logs next, in this context, about a failure the
# middleware just reported, in words only (no exception on the record for dedupe to match).
_worded_failure: ContextVar[tuple[str, str] | None] = ContextVar(
    "sentry_asgi_worded_failure", default=None
)
_filter_installed = False
# asyncio's log line when the callback of ``asyncio.start_server`` asks a connection task that was
# cancelled for its exception: Python 3.11 asks (and its loop logs the CancelledError) for every
# connection hypercorn cancels as it stops, a request waiting for its body or an open websocket.
_CANCELLED_CONNECTION_LOG = (
    "asyncio",
    "Exception in callback StreamReaderProtocol.connection_made",
)


# In the hint of every event the middleware captures itself (hints are never sent).
_OWN_REPORT = "sentry_asgi_report"


def capture_exception(exc: BaseException, mechanism: str = MECHANISM) -> None:
    """Send ``exc`` as an unhandled error, exactly as sentry_sdk would build it.

    The event is built with sentry_sdk's own helper, whose signature is not part of its public
    API: should a release change it, the exception is still sent, through the public
    ``capture_exception`` (as a handled error of mechanism ``generic``), and the fault is logged.
    """
    client = sentry_sdk.get_client()
    try:
        event, hint = event_from_exception(
            exc, client_options=client.options, mechanism={"type": mechanism, "handled": False}
        )
        hint[_OWN_REPORT] = True
        _drop_own_frames(cast("dict[str, Any]", event))
    except Exception:  # noqa: BLE001 - the app's exception must reach Sentry all the same
        log_fault()
        sentry_sdk.capture_exception(exc)
    else:
        sentry_sdk.capture_event(event, hint=hint)
    mark_dealt_with(exc)


def _drop_own_frames(event: dict[str, Any]) -> None:
    """Leave the middleware's frames out of the event's stack traces, as sentry_sdk leaves its own.

    With ``add_full_stack``, sentry_sdk puts the stack the report is made from in front of the
    exception's traceback: the middleware's (and a framework hook's) calls reporting it are no
    part of the app's story. Those an exception was raised in (the app sent ``send`` something
    that is no message) are where it happened: they stay.
    """
    for value in event["exception"]["values"]:
        frames = (value.get("stacktrace") or {}).get("frames")
        if frames:
            value["stacktrace"]["frames"] = _without_own_callers(frames)


def _without_own_callers(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def own(frame: dict[str, Any]) -> bool:
        return str(frame.get("module") or "").startswith(_OWN_FRAMES)

    last_of_others = max((i for i, frame in enumerate(frames) if not own(frame)), default=-1)
    return [frame for i, frame in enumerate(frames) if i > last_of_others or not own(frame)]


def is_unhandled(event: dict[str, Any]) -> bool:
    """Tell whether an event reports an unhandled exception (a crashed session, for sentry_sdk)."""
    for value in (event.get("exception") or {}).get("values") or ():
        if isinstance(value, dict) and (value.get("mechanism") or {}).get("handled") is False:
            return True
    return False


def mark_answered(exc: BaseException, mechanism: str) -> None:
    """Mark ``exc`` as answered on purpose by the framework whose hook reports as ``mechanism``."""
    try:
        setattr(exc, _ANSWERED, mechanism)
    except (AttributeError, TypeError):  # exceptions with __slots__
        return


def answered_by(exc: BaseException | None) -> str | None:
    """The mechanism of the framework that answered ``exc`` on purpose, if one did."""
    mechanism = getattr(exc, _ANSWERED, None)
    return mechanism if isinstance(mechanism, str) else None


def mark_dealt_with(exc: BaseException) -> None:
    """Mark ``exc`` as reported, or as known not to be worth a report (a disconnect)."""
    try:
        setattr(exc, _REPORTED, True)
    except (AttributeError, TypeError):  # exceptions with __slots__
        return


def expect_lifespan_repeats(phase: str, message: object) -> None:
    """Note the log lines a server writes about a lifespan failure the middleware reports.

    ``message`` is what the app sent with the failure message, if anything.
    """
    if isinstance(message, str) and message:
        _lifespan_repeats.update((logger, message) for logger in _LIFESPAN_MESSAGE_LOGGERS)
    giving_up = _LIFESPAN_GIVING_UP.get(phase)
    if giving_up is not None:
        _lifespan_repeats[giving_up] += 1


def expect_denial_log() -> None:
    """Note that the app denied the websocket in this context with a whole HTTP response.

    uvicorn then logs it, from this context once the app returned, as a handshake the app never
    completed. It logs the same line after a denial whose body never ended: the client got no
    answer, and that line is an error.
    """
    _denied.set(True)


def expect_worded_failure(logger: str, message: str) -> None:
    """Note that the framework logs, next and in this context, a failure the middleware reported.

    ``message`` is the record's format, as the framework passes it to its logger.
    """
    _worded_failure.set((logger, message))


def _drop_repeats(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
    """Drop a server's log record of an exception the middleware already dealt with."""
    if not hint or hint.get(_OWN_REPORT):
        return event
    record = hint.get("log_record")
    if record is None:
        return event
    exc_info = hint.get("exc_info")
    if exc_info and (
        getattr(exc_info[1], _REPORTED, False) or _cancelled_connection(record, exc_info[1])
    ):
        return None
    return None if _repeats_in_words(event, record) else event


def _cancelled_connection(record: Any, exc: BaseException | None) -> bool:
    """Tell whether asyncio logged a connection the server cancelled as a failed callback.

    A cancellation is no error: the request it cut short is a ``cancelled`` transaction.
    """
    logger, line = _CANCELLED_CONNECTION_LOG
    message = getattr(record, "msg", None)
    return (
        exc is not None
        and _is_cancellation_type(type(exc))
        and getattr(record, "name", None) == logger
        and isinstance(message, str)
        and message.startswith(line)
    )


def _repeats_in_words(event: dict[str, Any], record: Any) -> bool:
    """Tell whether a server's log line only says in words what the middleware already knows."""
    if _lifespan_repeats and _repeats_lifespan_failure(record):
        return True
    if _denied.get() and _line(record) == _DENIAL_LOG_LINE:
        _denied.set(False)
        return True
    worded = _worded_failure.get()
    if (
        worded is not None
        and (getattr(record, "name", None), getattr(record, "msg", None)) == worded
    ):
        _worded_failure.set(None)
        return True
    logger = event.get("logger")
    if isinstance(logger, str):
        message = (event.get("logentry") or {}).get("message") or event.get("message") or ""
        for prefix, line in _REPEATED_LOG_LINES:
            if logger.startswith(prefix) and str(message).startswith(line):
                return True
    return False


def _line(record: Any) -> tuple[str, str] | None:
    """A log record's logger and message, when its message is plain text without arguments."""
    name, message = getattr(record, "name", None), getattr(record, "msg", None)
    if not isinstance(name, str) or not isinstance(message, str) or getattr(record, "args", None):
        return None
    return name, message


def _repeats_lifespan_failure(record: Any) -> bool:
    """Tell whether a log record is one :func:`expect_lifespan_repeats` noted, and count it off."""
    key = _line(record)
    # A Counter answers 0 for a missing key, without adding it.
    if key is None or _lifespan_repeats[key] <= 0:
        return False
    _lifespan_repeats[key] -= 1
    if _lifespan_repeats[key] <= 0:
        del _lifespan_repeats[key]
    return True


def repeats_a_report(event: dict[str, Any], hint: dict[str, Any]) -> bool:
    """Tell whether an event captured outside any request reports a reported exception again.

    sentry_sdk's own ASGI middleware outside ours does that when sentry_sdk's dedupe is off.
    The app's own report of it (a handled one) is not a repeat.
    """
    if not hint or hint.get(_OWN_REPORT):
        return False
    exc_info = hint.get("exc_info")
    return (
        exc_info is not None
        and getattr(exc_info[1], _REPORTED, False) is True
        and is_unhandled(event)
    )


def install_repeat_filter() -> None:
    """Add the repeat filter to sentry_sdk's global scope, once per process."""
    global _filter_installed  # noqa: PLW0603 - a process-wide, idempotent registration
    if not _filter_installed:
        sentry_sdk.get_global_scope().add_event_processor(_drop_repeats)  # type: ignore[arg-type]
        _filter_installed = True


def _leaves(group: BaseException) -> list[BaseException]:
    inner = getattr(group, "exceptions", None)
    if not isinstance(inner, (list, tuple)):
        return [group]
    return [leaf for exc in inner for leaf in _leaves(exc)]


def _uncancelled_leaves(group: BaseException) -> list[BaseException]:
    """A group's leaves but the cancellations a task group adds beside what its tasks raised."""
    return [leaf for leaf in _leaves(group) if not _is_cancellation_type(type(leaf))]


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _exception_group_type() -> type[BaseException] | None:
    """Exception groups' class: built in from Python 3.11, anyio's and trio's backport before."""
    if sys.version_info >= (3, 11):
        return BaseExceptionGroup  # noqa: F821
    backport = sys.modules.get("exceptiongroup")  # imported by whatever raised one
    group_type: type[BaseException] | None = getattr(backport, "BaseExceptionGroup", None)
    return group_type


def retitle_exception_group(event: dict[str, Any], exc: BaseException | None) -> None:
    """Make an ExceptionGroup's title name its real errors.

    Sentry titles an error after its outermost exception, so every TaskGroup failure would be
    "ExceptionGroup: unhandled errors in a TaskGroup" and group together. The group's value
    is rewritten to name the inner errors (the tree and each inner exception stay as sent).
    """
    group_type = _exception_group_type()
    if group_type is None or not isinstance(exc, group_type):
        return
    value = _group_value((event.get("exception") or {}).get("values") or [], exc)
    if value is not None:
        leaves = _leaves(exc)
        names = "; ".join(dict.fromkeys(_describe(leaf) for leaf in leaves[:5]))
        more = f" (+{len(leaves) - 5} more)" if len(leaves) > 5 else ""
        value["value"] = f"{names}{more} [{getattr(exc, 'message', '')}]"


def _group_value(values: list[dict[str, Any]], group: BaseException) -> dict[str, Any] | None:
    """The group's own entry: the root of sentry_sdk's tree, or the outermost of a plain chain.

    sentry_sdk builds no tree for Python 3.10's backport: the group is sent as one exception.
    """
    for value in values:
        mechanism = value.get("mechanism") or {}
        if mechanism.get("exception_id") == 0 or (
            mechanism.get("is_exception_group") and value is values[-1]
        ):
            return value
    if values and values[-1].get("type") == type(group).__name__:
        return values[-1]
    return None
