"""The one place that touches private sentry_sdk names; tests fail loudly if they move.

With ``attach_stacktrace=True`` sentry_sdk adds a stack trace to message events (and, before
2.35.1, to transactions) *after* event processors ran, so its frame variables (the ASGI scope
with its raw Cookie and Authorization headers among them) would escape scrubbing. The middleware
builds that same stack trace itself, inside its event processor, with sentry_sdk's own
``current_stacktrace`` (less the processor's own frames), and sentry_sdk then leaves it alone.

``AnnotatedValue`` is how sentry_sdk tells Relay that a value was removed on purpose (here: a
body over the size limit); its serializer turns it into the event's ``_meta``.

sentry_sdk auto-enables its Starlette and FastAPI integrations, which wrap the app in its own
ASGI middleware. Inside ours that would mean a second error event per exception and a second
transaction per request. sentry_sdk's middleware steps aside when its re-entrancy flag is set,
so ours sets that flag for the duration of each request it handles.

A scope's ``_event_processors`` list is read (never changed) so that the late request filter is
added once: a scope forked from one that has it already runs it.

A transaction used as a context manager starts and stops its profiles (``profiles_sample_rate``,
and the continuous profiler's ``profile_lifecycle="trace"``) on entering and leaving; the context
manager would also end it now, not with a streaming response's last chunk. The middleware starts
and finishes the transaction itself, so it does those two steps itself, as the SDK does them.

A name the app sets on the isolation scope (``set_transaction_name``, or ``configure_scope``)
reaches neither the transaction, which the current scope holds, nor its events, where the
current scope's name prevails; sentry_sdk keeps it in ``_transaction`` / ``_transaction_info``,
read here so that the middleware can give it precedence over its own. A name set before the
request, outside any (a start-up transaction or span leaves its name on the scopes the server
starts requests from), is no request's: the request's own scopes drop it.

sentry_sdk's own ASGI middleware, where it runs around ours, tracks the request's session itself,
as its isolation scope's ``_session`` (which the forked one shares): that session counts the
request, and a failed status marks it errored as the middleware's own counts would.

``sentry_sdk.isolation_scope()`` is a ``@contextmanager`` around a generator whose only work
around its ``yield`` is a ``try``/``finally``. Driving that generator directly does the very same
forks and resets without contextlib's wrapper, about 0.8 µs a request; any other shape falls
back to the context manager.

sentry_sdk fixes a trace's dynamic sampling context (the ``sentry-transaction`` that every
service of the trace samples by) the first time the trace is propagated: an outgoing request, or
``get_baggage()`` in a template. Starlette routes inside the app, so a request is named by the
middleware only once routing has run; the request's transaction therefore takes a subclass of
sentry_sdk's own class that only adds this: just before the context is fixed
(``Transaction.get_baggage``, which reads the ``_baggage`` slot), the request is named as it
stands. A release whose class is shaped otherwise keeps its own: the context then names what the
request was named at its start. A streamed segment keeps its class, which sentry_sdk checks
exactly (``type(span) is StreamedSpan``) to tell a segment from other spans; its attributes (the
``_attributes`` slot, which ``get_attributes()`` returns) take a ``dict`` subclass instead, whose
``get`` names the request when ``Baggage.populate_from_segment`` reads the name's source there,
just before it reads the name and fixes the context.
"""

from __future__ import annotations

import inspect
import re
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import sentry_sdk

try:
    from sentry_sdk._types import AnnotatedValue
except ImportError:  # pragma: no cover - releases before it moved to _types
    from sentry_sdk.utils import AnnotatedValue  # type: ignore[attr-defined,no-redef,unused-ignore]

from sentry_sdk.scope import ScopeType, use_isolation_scope, use_scope

try:
    from sentry_sdk.scope import _current_scope as _sdk_current
except ImportError:  # pragma: no cover - only if sentry_sdk renames it
    _sdk_current = None
from sentry_sdk.utils import current_stacktrace

from sentry_asgi._guard import contained

try:
    from sentry_sdk.integrations.asgi import (
        _asgi_middleware_applied as _sdk_flag,
    )
except ImportError:  # pragma: no cover - only if sentry_sdk drops or renames it
    _sdk_flag = None

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from sentry_sdk import Scope

_flag: ContextVar[Any] | None = _sdk_flag if isinstance(_sdk_flag, ContextVar) else None

_isolation_generator = getattr(sentry_sdk.isolation_scope, "__wrapped__", None)
if not inspect.isgeneratorfunction(_isolation_generator):  # pragma: no cover - a new shape
    _isolation_generator = None


def enter_isolation_scope() -> tuple[Any, Scope]:
    """Fork the isolation and current scopes, as ``with sentry_sdk.isolation_scope()`` does.

    Returns the handle :func:`leave_isolation_scope` takes, and the new isolation scope.
    """
    if _isolation_generator is not None:
        forks = _isolation_generator()
        return forks, next(forks)
    manager = sentry_sdk.isolation_scope()  # pragma: no cover - see above
    return manager, manager.__enter__()  # pragma: no cover


def leave_isolation_scope(handle: Any) -> None:
    """Restore the scopes :func:`enter_isolation_scope` replaced, whatever the request did.

    Run from another context (an abandoned request closed by the garbage collector), there is
    nothing to restore; older sentry_sdk releases raise ValueError for that.
    """
    try:
        if _isolation_generator is not None:
            next(handle, None)  # runs the generator's finally, as leaving the with block would
        else:  # pragma: no cover - see above
            handle.__exit__(None, None, None)
    except ValueError:
        return


@contextmanager
def fresh_scopes() -> Iterator[None]:
    """Run the block with new, empty current and isolation scopes, as a new context has."""
    current = sentry_sdk.Scope(ty=ScopeType.CURRENT)
    with use_scope(current), use_isolation_scope(sentry_sdk.Scope(ty=ScopeType.ISOLATION)):
        yield


def fast_isolation_available() -> bool:
    """Tell whether the generator was found (the test suite asserts it, per sentry_sdk version)."""
    return _isolation_generator is not None


def silence_builtin_asgi_middleware() -> Any:
    """Make sentry_sdk's own ASGI middleware pass requests through untouched.

    Returns the flag's previous value for :func:`restore_builtin_asgi_middleware`, which sets it
    back (no ``Token``: one would keep the request's context alive from the middleware's frame).
    """
    if _flag is None:
        return None
    previous = _flag.get(None)
    _flag.set(True)
    return previous


def restore_builtin_asgi_middleware(previous: Any) -> None:
    """Undo :func:`silence_builtin_asgi_middleware`."""
    if _flag is not None:
        _flag.set(previous)


def builtin_flag_available() -> bool:
    """Tell whether the flag was found (the test suite asserts it, per sentry_sdk version)."""
    return _flag is not None


def add_event_processor_once(scope: Scope, processor: Any) -> None:
    """Add ``processor`` to ``scope`` unless it is there already.

    A forked scope (sentry_sdk's asyncio integration forks one per task) starts with its
    parent's processors: adding again would run the same processor twice per event.
    """
    existing = getattr(scope, "_event_processors", None)
    if isinstance(existing, list) and processor in existing:
        return
    scope.add_event_processor(processor)


def add_event_processor_last(scope: Scope, processor: Any) -> None:
    """Have ``processor`` run last of ``scope``'s, once, also where a fork inherited it earlier.

    Called from a global processor, before sentry_sdk reads the scope's list.
    """
    existing = getattr(scope, "_event_processors", None)
    if isinstance(existing, list) and processor in existing:
        if existing[-1] is processor:
            return
        existing.remove(processor)
    scope.add_event_processor(processor)


def over_size_limit() -> Any:
    """A request body left out because it was larger than the configured limit."""
    return AnnotatedValue.removed_because_over_size_limit()


_PACKAGE = __name__.partition(".")[0] + "."


def _release(version: str) -> tuple[int, ...]:
    """A version's release numbers: ``2.35.0rc1`` is (2, 35, 0)."""
    numbers = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(number) for number in numbers.group().split(".")) if numbers else ()


# sentry_sdk before 2.35.1 adds the stack trace to transactions as well.
_STACKS_ON_TRANSACTIONS = _release(sentry_sdk.VERSION) < (2, 35, 1)


def attach_stacktrace_now(event: dict[str, Any], options: dict[str, Any]) -> None:
    """Add the stack trace sentry_sdk would add later, as it would, so that it can be scrubbed."""
    if (
        options.get("attach_stacktrace")
        and (_STACKS_ON_TRANSACTIONS or event.get("type") != "transaction")
        and "exception" not in event
        and "stacktrace" not in event
        and "threads" not in event
    ):
        stacktrace = current_stacktrace(
            include_local_variables=options.get("include_local_variables", True),
            max_value_length=options.get("max_value_length"),
        )
        # sentry_sdk leaves its own frames out; so are this package's (this processor's own).
        stacktrace["frames"] = [
            frame
            for frame in stacktrace["frames"]
            if not str(frame.get("module") or "").startswith(_PACKAGE)
        ]
        event["threads"] = {
            "values": [{"stacktrace": stacktrace, "crashed": False, "current": True}]
        }


def start_profiling(transaction: Any) -> None:
    """Start the transaction's profile, as entering ``with transaction:`` would."""
    profile = getattr(transaction, "_profile", None)
    if profile is not None:
        profile.__enter__()


def stop_profiling(transaction: Any) -> None:
    """Stop the transaction's profiles before it finishes, as leaving ``with transaction`` does."""
    profile = getattr(transaction, "_profile", None)
    if profile is not None:
        profile.__exit__(None, None, None)
    continuous = getattr(transaction, "_continuous_profile", None)
    if continuous is not None:
        continuous.stop()


def isolation_transaction_name() -> tuple[str | None, str | None]:
    """The transaction name and source set on the isolation scope, if any (see above)."""
    scope = sentry_sdk.get_isolation_scope()
    name = getattr(scope, "_transaction", None)
    info = getattr(scope, "_transaction_info", None)
    source = info.get("source") if isinstance(info, dict) else None
    return (
        name if isinstance(name, str) else None,
        source if isinstance(source, str) else None,
    )


def may_be_sent() -> bool:
    """Tell whether the current span may yet be sent: not one sampled out (a transaction's).

    Outside ours, sentry_sdk's middleware sends its transaction once the request is over; a
    streamed segment is not found here, and may be.
    """
    span = sentry_sdk.get_current_span()
    return span is None or getattr(span, "sampled", None) is not False


def request_session() -> Any:
    """The session sentry_sdk tracks on the current isolation scope, if any (see above)."""
    return getattr(sentry_sdk.get_isolation_scope(), "_session", None)


def mark_session_errored(session: Any) -> None:
    """Count an error in a sentry_sdk session that has none yet: it is then sent as errored."""
    if not session.errors:
        session.update(errors=1)


_NAMED_SCOPES = hasattr(sentry_sdk.Scope, "_transaction")
# Read directly, per request: a third of the cost of ``Scope.get_current_scope()``.
_current_scope_var: ContextVar[Any] | None = (
    _sdk_current if isinstance(_sdk_current, ContextVar) else None
)


def forget_inherited_name(isolation: Scope) -> None:
    """Drop a transaction name the request's scopes inherited from outside any request."""
    if not _NAMED_SCOPES:  # pragma: no cover - only if sentry_sdk renames it
        return
    current = (
        _current_scope_var.get(None)
        if _current_scope_var is not None
        else sentry_sdk.get_current_scope()  # pragma: no cover - only if sentry_sdk renames it
    )
    if isolation._transaction is not None or current._transaction is not None:  # noqa: SLF001
        for scope in (isolation, current):
            scope._transaction = None  # noqa: SLF001 - see above
            scope._transaction_info = {}  # noqa: SLF001


# What names the request's root span just before its sampling context is fixed, in the request.
_before_propagation: ContextVar[Callable[[Any], None] | None] = ContextVar(
    "sentry_asgi_before_propagation", default=None
)


def _naming_before(get_baggage: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Wrap a baggage getter so that the request is named before it fixes a new baggage."""

    def named_first(span: Any) -> Any:
        baggage = span._baggage  # noqa: SLF001 - None, or mutable until fixed
        if baggage is None or baggage.mutable:
            hook = _before_propagation.get()
            if hook is not None:
                with contained():
                    hook(span)
        return get_baggage(span)

    return named_first


def _named_class(base: type | None, method: str) -> type | None:
    """A subclass of ``base`` that names the request before ``method`` fixes its baggage."""
    getter = getattr(base, method, None)
    if base is None or getter is None or "_baggage" not in getattr(base, "__slots__", ()):
        return None  # pragma: no cover - a sentry_sdk release shaped otherwise
    return type(base.__name__, (base,), {"__slots__": (), method: _naming_before(getter)})


try:
    from sentry_sdk.tracing import Transaction as _Transaction
except ImportError:  # pragma: no cover - every release 2.x has it
    _Transaction = None  # type: ignore[assignment,misc,unused-ignore]
_NAMED_TRANSACTION = _named_class(_Transaction, "get_baggage")


# The function that fixes a streamed segment's sampling context, reading the source of its name
# from its attributes and then the name itself.
_FIXES_SEGMENT_CONTEXT = "populate_from_segment"


class _NamingAttributes(dict[str, Any]):
    """A streamed segment's attributes that name the request as its sampling context is fixed.

    Only that one read runs the hook: the scope reads the source too, whenever the segment
    becomes the current span again, and naming the segment there would leave the scope with
    the old name and the new source.
    """

    __slots__ = ("_source_key", "span")

    def __init__(self, span: Any, source_key: str) -> None:
        super().__init__(span._attributes)  # noqa: SLF001 - see the module's docstring
        self.span = span
        self._source_key = source_key

    def get(self, key: str, default: Any = None) -> Any:
        if key == self._source_key and _caller_of_caller() == _FIXES_SEGMENT_CONTEXT:
            hook = _before_propagation.get()
            if hook is not None:
                with contained():
                    hook(self.span)
        return super().get(key, default)


def _caller_of_caller() -> str:
    """The name of the function that called the function calling this one."""
    return sys._getframe(2).f_code.co_name  # noqa: SLF001 - CPython's and PyPy's, cheap


def _plain_segment_attributes(span: Any) -> bool:
    """Tell whether a span keeps its attributes as sentry_sdk 2.75 does: a dict in one slot."""
    attributes = getattr(span, "_attributes", None)
    return type(attributes) is dict and span.get_attributes() is attributes


def name_before_propagation(
    span: Any, hook: Callable[[Any], None] | None, *, source_key: str = ""
) -> None:
    """Have ``hook(span)`` run just before the trace's sampling context is fixed, in this request.

    ``hook=None`` once the request is over. Only sentry_sdk's own ``Transaction`` is subclassed
    (same slots, one method more). A streamed segment is not, as sentry_sdk tells a segment from
    other spans by its exact class: its attributes are, under ``source_key``.
    """
    if hook is None:
        if type(getattr(span, "_attributes", None)) is _NamingAttributes:
            span._attributes = dict(span._attributes)  # noqa: SLF001 - plain again, for good
    elif type(span) is _Transaction and _NAMED_TRANSACTION is not None:
        span.__class__ = _NAMED_TRANSACTION
    elif source_key and _plain_segment_attributes(span):
        span._attributes = _NamingAttributes(span, source_key)  # noqa: SLF001
    _before_propagation.set(hook)
