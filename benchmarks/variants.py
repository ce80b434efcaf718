"""Every measured configuration: which middleware, which SDK options, which interpreter runs it."""

from __future__ import annotations

import functools
import gc
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import apps

if TYPE_CHECKING:
    from collections.abc import Callable

# Never contacted: the transport below replaces the network, but the SDK still parses a real DSN.
DSN = "http://0123456789abcdef0123456789abcdef@127.0.0.1:9/1"

# sentry_sdk.init options per tracing mode; the same for every Sentry middleware measured.
MODES: dict[str, dict[str, Any]] = {
    "off": {},
    "unsampled": {"traces_sample_rate": 0.0},
    "sampled": {"traces_sample_rate": 1.0},
    "stream": {"traces_sample_rate": 1.0, "trace_lifecycle": "stream"},
    "error": {},
}

MODE_LABELS = {
    "off": "tracing off",
    "unsampled": "traces_sample_rate=0.0",
    "sampled": "sampled, transaction lifecycle",
    "stream": "sampled, stream lifecycle",
    "error": "error path, per captured exception",
}


@dataclass(frozen=True)
class Variant:
    """One row of the results: a middleware (or none) under one configuration."""

    name: str
    label: str
    group: str  # "baseline", "floor", "ours", "sentry_sdk", "otel", "encode"
    mode: str  # a key of MODES, or "" when Sentry is not involved
    env: str = "main"  # "main": the bench venv; "encode": the venv of encode/sentry-asgi 0.2
    failing: bool = False
    # gc.set_threshold's first argument, when the variant relaxes the garbage collector
    gc_threshold: int | None = None

    @property
    def baseline(self) -> str:
        """The variant whose cost is subtracted to get this one's overhead."""
        return "bare-error" if self.failing else "bare"

    @property
    def peer(self) -> str | None:
        """The sentry_sdk variant this one is judged against."""
        if self.group in ("baseline", "sentry_sdk"):
            return None
        return f"sdk-{self.mode or 'off'}"


def _sentry_rows(prefix: str, group: str, title: str) -> list[Variant]:
    return [
        Variant(f"{prefix}-{mode}", f"{title}, {label}", group, mode, failing=mode == "error")
        for mode, label in MODE_LABELS.items()
    ]


VARIANTS: list[Variant] = [
    Variant("bare", "bare app", "baseline", ""),
    Variant("isolation_scope", "bare app + one isolation_scope()", "baseline", "off"),
    Variant("isolation_held", "bare app run inside one isolation_scope()", "baseline", "off"),
    *_sentry_rows("ours", "ours", "sentry-asgi"),
    Variant(
        "ours-off-gc",
        "sentry-asgi, tracing off, gc.set_threshold(10_000)",
        "ours",
        "off",
        gc_threshold=10_000,
    ),
    *_sentry_rows("sdk", "sentry_sdk", "sentry_sdk SentryAsgiMiddleware"),
    Variant("otel-api", "OpenTelemetry ASGI, API only", "otel", ""),
    Variant("otel-sdk", "OpenTelemetry ASGI, with SDK", "otel", ""),
    Variant("encode", "encode/sentry-asgi 0.2", "encode", "off", env="encode"),
    Variant(
        "encode-error",
        "encode/sentry-asgi 0.2, error path",
        "encode",
        "error",
        "encode",
        failing=True,
    ),
    Variant("bare-error", "bare app, raising", "baseline", "", failing=True),
    # The least any middleware pays to send through sentry_sdk's own pipeline.
    *(
        Variant(
            f"floor-{mode}",
            f"sentry_sdk pipeline only: {what}",
            "floor",
            mode,
            failing=mode == "error",
        )
        for mode, what in (
            ("sampled", "a bare transaction"),
            ("stream", "a bare segment"),
            ("error", "a bare capture_exception"),
        )
    ),
]
BY_NAME = {variant.name: variant for variant in VARIANTS}

# The variants served by uvicorn and loaded over loopback.
SERVER_VARIANTS = [
    "bare",
    "isolation_held",
    "ours-off",
    "ours-off-gc",
    "ours-sampled",
    "sdk-off",
    "sdk-sampled",
]


def build(variant: Variant) -> tuple[Any, Callable[[], None]]:
    """Set up the process for one variant; return the ASGI app and what finishes a batch."""
    inner = apps.failing_app if variant.failing else apps.app
    if variant.gc_threshold is not None:
        gc.set_threshold(variant.gc_threshold)
    if variant.group == "otel":
        return _otel(inner, with_sdk=variant.name == "otel-sdk"), _nothing
    if variant.mode:
        _init_sentry(MODES[variant.mode])
    return wrapper_for(variant)(inner), _flush if variant.mode else _nothing


def _nothing() -> None:
    """Variants without Sentry have nothing buffered."""


def _flush() -> None:
    """Count the work the SDK defers (span batches, sessions) in the batch that caused it."""
    import sentry_sdk

    sentry_sdk.flush()


def _init_sentry(options: dict[str, Any]) -> None:
    import sentry_sdk
    from transport import SerializingTransport

    sentry_sdk.init(
        dsn=DSN,
        transport=SerializingTransport,
        release="shop@1.4.2",
        environment="production",
        **options,
    )


def _bare(app: Any) -> Any:
    return app


def _isolation(app: Any, *, held: bool) -> Any:
    """One isolation scope per request: the floor any Sentry middleware stands on.

    Entered and left before the app runs, it costs its CPU time only. Held while the app runs,
    as any middleware that isolates requests must, the forked scopes of concurrent requests are
    alive together, and under a real server the garbage collector's work grows with them.
    """
    import sentry_sdk

    async def entered_and_left(scope: Any, receive: Any, send: Any) -> None:
        with sentry_sdk.isolation_scope():
            pass
        await app(scope, receive, send)

    async def held_around(scope: Any, receive: Any, send: Any) -> None:
        with sentry_sdk.isolation_scope():
            await app(scope, receive, send)

    return held_around if held else entered_and_left


def _pipeline_floor(app: Any, *, mode: str) -> Any:
    """What sending through sentry_sdk costs before any middleware adds a thing.

    One isolation scope, then a transaction, a streamed segment or a captured exception,
    named after the path, with no request data, no incoming trace and no sessions: no
    middleware that hands its events to sentry_sdk (and so keeps the user's hooks, sampling
    and processors) can cost less.
    """
    import sentry_sdk

    async def capture(scope: Any, receive: Any, send: Any) -> None:
        __tracebackhide__ = True  # as every Sentry middleware does: the app's frames only
        with sentry_sdk.isolation_scope():
            try:
                await app(scope, receive, send)
            except Exception:
                sentry_sdk.capture_exception()
                raise

    async def segment(scope: Any, receive: Any, send: Any) -> None:
        from sentry_sdk import traces

        with sentry_sdk.isolation_scope():
            traces.new_trace()  # one trace per request, as each segment is its own
            with traces.start_span(name=scope["path"], parent_span=None):
                await app(scope, receive, send)

    async def transaction(scope: Any, receive: Any, send: Any) -> None:
        with (
            sentry_sdk.isolation_scope(),
            sentry_sdk.start_transaction(op="http.server", name=scope["path"], source="url"),
        ):
            await app(scope, receive, send)

    return {"error": capture, "stream": segment, "sampled": transaction}[mode]


def _ours(app: Any) -> Any:
    from sentry_asgi import SentryMiddleware

    return SentryMiddleware(app)


def _sentry_sdk(app: Any) -> Any:
    from sentry_sdk.integrations.asgi import SentryAsgiMiddleware

    return SentryAsgiMiddleware(app)


def _encode(app: Any) -> Any:
    from sentry_asgi import SentryMiddleware

    return SentryMiddleware(app)


def _otel(app: Any, *, with_sdk: bool) -> Any:
    """Wrap in OpenTelemetry's middleware; with the SDK, spans end in a no-op exporter inline."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    if with_sdk:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from transport import NullSpanExporter

        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(NullSpanExporter()))
        trace.set_tracer_provider(provider)
    return OpenTelemetryMiddleware(app)


_WRAPPERS = {
    "baseline": _bare,
    "ours": _ours,
    "sentry_sdk": _sentry_sdk,
    "encode": _encode,
}


def wrapper_for(variant: Variant) -> Callable[[Any], Any]:
    """Return the middleware constructor of a variant; baselines and floors have their own."""
    if variant.name in ("isolation_scope", "isolation_held"):
        return functools.partial(_isolation, held=variant.name == "isolation_held")
    if variant.group == "floor":
        return functools.partial(_pipeline_floor, mode=variant.mode)
    return _WRAPPERS[variant.group]
