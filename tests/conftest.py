"""Shared fixtures: a real sentry_sdk client with an injected transport, checked by Relay."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import json
import logging
import re
import warnings
from importlib import metadata
from typing import TYPE_CHECKING, Any

import pytest
import sentry_sdk
import sentry_sdk.integrations.logging as sentry_logging
from blacksheep import Application as BlackSheepApp
from sentry_relay.processing import StoreNormalizer
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from sentry_asgi import _sessions as sessions

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Iterator


def release(package: str) -> tuple[int, ...]:
    """The installed release of a package, to the patch (2.35.1 is (2, 35, 1))."""
    return tuple(int(part) for part in re.findall(r"\d+", metadata.version(package))[:3])


SDK_VERSION = release("sentry-sdk")
STARLETTE_VERSION = release("starlette")
FASTAPI_VERSION = release("fastapi")
LITESTAR_VERSION = release("litestar")
BLACKSHEEP_VERSION = release("blacksheep")
CHANNELS_VERSION = release("channels")
# Before Starlette 0.35 a Mount cuts its path off the path it passes on: an app below it that
# routes the whole path (Quart, Falcon, Litestar's mounts) then routes nothing there (a 404, with
# or without the middleware).
needs_mounts_keeping_the_path = pytest.mark.skipif(
    STARLETTE_VERSION < (0, 35),
    reason="a Starlette Mount passes the whole path on from Starlette 0.35",
)
# Channels' URLRouter routes the path below root_path from 4.1: before, it routes the whole path,
# and an app mounted below another router routes nothing there (with or without the middleware).
needs_channels_routing_below_the_root = pytest.mark.skipif(
    CHANNELS_VERSION < (4, 1), reason="Channels' URLRouter routes below root_path from 4.1"
)
# sentry_sdk's structured successor of send_default_pii: options using it need 2.75 or later.
needs_data_collection = pytest.mark.skipif(
    SDK_VERSION < (2, 75), reason="data_collection arrived in sentry-sdk 2.75"
)
# Span streaming as README describes it (trace_lifecycle="stream", before_send_span): 2.75.
needs_span_streaming = pytest.mark.skipif(
    SDK_VERSION < (2, 75), reason="span streaming as in sentry-sdk 2.75"
)

# The token of a password-reset link (Django's ``reset/<uidb64>/<token>/``): built, so the test
# sources sent with an event hold no copy of it.
RESET_TOKEN = "c4n2ye-" + "0f7b1d2e3a9c8b7a6f5e4d3c"
NORMALIZER = StoreNormalizer(project_id=1, client_ip="127.0.0.1", protocol_version="7")


def relay_problems(payload: dict[str, Any]) -> list[Any]:
    """What Sentry's own normaliser objects to in an event (empty when Sentry accepts it as is)."""
    normalized = NORMALIZER.normalize_event(payload)
    problems = list(normalized.get("errors") or [])
    root = (normalized.get("_meta") or {}).get("", {})
    problems.extend(root.get("err") or [])
    return problems


class CapturingTransport(Transport):
    """Keeps every envelope after a wire round-trip, as a receiver would decode it."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(Envelope.deserialize(envelope.serialize()))

    def items(self, kind: str) -> list[dict[str, Any]]:
        return [
            json.loads(item.payload.get_bytes())
            for envelope in self.envelopes
            for item in envelope.items
            if item.type == kind
        ]

    def batched(self, kind: str) -> list[dict[str, Any]]:
        """Every log, metric or streamed span sent, out of the batches sentry_sdk sends them in."""
        return [entry for batch in self.items(kind) for entry in batch["items"]]

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.items("event")

    @property
    def transactions(self) -> list[dict[str, Any]]:
        return self.items("transaction")


class _Faults(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "sentry-asgi: internal error" in record.getMessage():
            self.records.append(record)


@pytest.fixture(autouse=True)
def no_internal_errors(request: pytest.FixtureRequest) -> Iterator[list[logging.LogRecord]]:
    """Fail any test during which the middleware had to contain a fault of its own."""
    faults = _Faults()
    logger = logging.getLogger("sentry_sdk.errors")  # sentry_sdk stops it propagating to root
    # sentry_sdk's filter passes records only with debug=True; our faults must be seen regardless.
    filters = list(logger.filters)

    def ours_or_sdks(record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("sentry-asgi: internal error"):
            return True
        return all(f.filter(record) if hasattr(f, "filter") else f(record) for f in filters)

    for sdk_filter in filters:
        logger.removeFilter(sdk_filter)
    logger.addFilter(ours_or_sdks)
    logger.addHandler(faults)
    try:
        yield faults.records
    finally:
        logger.removeHandler(faults)
        logger.removeFilter(ours_or_sdks)
        for sdk_filter in filters:
            logger.addFilter(sdk_filter)
    if not request.node.get_closest_marker("internal_errors_expected"):
        text = logging.Formatter()
        assert faults.records == [], [
            text.formatException(r.exc_info) for r in faults.records if r.exc_info
        ]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sentry_init() -> Iterator[Callable[..., CapturingTransport]]:
    """Initialise a real client; at teardown, every event must pass Relay's normaliser.

    The loggers sentry_sdk's integrations tell its logging integration to ignore (its Django
    integration: ``django.request``) are process-wide: set back, so that no test depends on
    which integrations an earlier one enabled.
    """
    transports: list[CapturingTransport] = []
    ignored = set(sentry_logging._IGNORED_LOGGERS)

    def init(**options: Any) -> CapturingTransport:
        options.setdefault("dsn", "http://public@127.0.0.1:9/1")
        transport = CapturingTransport({"dsn": options["dsn"]})  # parses the DSN (org id) as HTTP's
        transports.append(transport)
        with warnings.catch_warnings():
            # Deprecated in favour of data_collection, yet what most apps still configure.
            warnings.filterwarnings("ignore", "The send_default_pii option", DeprecationWarning)
            warnings.filterwarnings(
                "ignore", "`send_default_pii` is deprecated", DeprecationWarning
            )
            close_client()
            sentry_sdk.init(transport=transport, **options)
        return transport

    yield init
    sessions.flush()  # counts of this test's requests go to this test's transport
    sentry_sdk.flush()
    for transport in transports:
        for kind in ("event", "transaction"):
            for payload in transport.items(kind):
                assert relay_problems(payload) == [], (kind, payload)
    deactivate()
    sentry_logging._IGNORED_LOGGERS.intersection_update(ignored)
    sentry_logging._IGNORED_LOGGERS.update(ignored)


def close_client() -> None:
    """Stop the current client's threads, whose jitter draws from the global ``random`` mid-test.

    The request counts still pending go to that client first: a later test's transport must not
    receive sessions of an earlier test's release.
    """
    sessions.flush()
    sentry_sdk.get_client().close()


def deactivate() -> None:
    """Leave an inactive client with no integrations, so patched clients add no trace headers."""
    close_client()
    with warnings.catch_warnings():
        # sentry_sdk's subprocess integration, still streaming, warns as the new client runs git.
        warnings.filterwarnings("ignore", "Scope.start_span is not available", DeprecationWarning)
        sentry_sdk.init(default_integrations=False, auto_enabling_integrations=False)


class Conversation:
    """Runs one ASGI app call in a fresh context, as a server would, recording what it sent."""

    def __init__(self, app: Any, scope: dict[str, Any], incoming: list[dict[str, Any]]) -> None:
        self.app = app
        self.scope = scope
        self.incoming = list(incoming)
        self.sent: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        if self.incoming:
            message = self.incoming.pop(0)
        else:
            await asyncio.sleep(3600)  # a real server blocks until the client does something
            message = {"type": "http.disconnect"}
        self.received.append(message)
        return message

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    async def run(self) -> None:
        await started(self.app)
        await in_fresh_context(self.app(self.scope, self.receive, self.send))


async def started(app: Any) -> None:
    """Start the BlackSheep app that ``app`` is or wraps, as a server's lifespan would.

    The in-process clients here send no lifespan. BlackSheep 2.6.1 and later start an app on its
    first request; older releases only through lifespan, and serve nothing until then.
    """
    if BLACKSHEEP_VERSION >= (2, 6, 1):
        return
    for _ in range(16):  # middleware layers, each naming the next ``app``
        if isinstance(app, BlackSheepApp):
            await app.start()
            return
        try:
            app = getattr(app, "app", None)
        except RuntimeError:  # a middleware that keeps its app out of sight
            return
        if app is None:
            return


def in_fresh_context(coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """A task running ``coroutine`` in a context of its own, as a server runs each connection.

    Python 3.10's create_task takes no context: a task copies the one it is created in.
    """
    return contextvars.Context().run(asyncio.get_running_loop().create_task, coroutine)


def http_scope(path: str = "/", **overrides: Any) -> dict[str, Any]:
    """A realistic HTTP scope, as uvicorn builds it."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"user-agent", b"pytest")],
        "client": ("203.0.113.7", 51000),
        "server": ("127.0.0.1", 8000),
    }
    scope.update(overrides)
    return scope


async def call(
    app: Any, scope: dict[str, Any], incoming: list[dict[str, Any]] | None = None
) -> Conversation:
    """Run ``app`` on ``scope``; re-raise what it raised, after recording it."""
    conversation = Conversation(app, scope, incoming or [{"type": "http.request", "body": b""}])
    await conversation.run()
    return conversation


def collect_leftovers() -> None:
    """Free what earlier tests left, in turn (a mounted app after its mount), before counting cycles.

    A file Django left open when a streaming response failed warns as it is freed: that warning
    belongs to the earlier test, which expects it, not to the one collecting.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        while gc.collect():
            pass
