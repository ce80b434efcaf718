"""One honest transaction per request, continued from any upstream, in both lifecycles."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import json
import re
import time
from datetime import datetime
from urllib.parse import quote

import pytest
import sentry_sdk
from conftest import (
    NORMALIZER,
    RESET_TOKEN,
    SDK_VERSION,
    Conversation,
    call,
    http_scope,
    in_fresh_context,
)
from sentry_sdk.consts import ClientConstructor
from sentry_sdk.integrations.starlette import StarletteIntegration
from sentry_sdk.profiler.transaction_profiler import teardown_profiler
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocketDisconnect

from sentry_asgi import SentryMiddleware

pytestmark = pytest.mark.anyio

TRACE_ID = "771a43a4192642f0b136d5159a501700"
PARENT = "b0e6f15b45c36b12"


async def item(request):
    return PlainTextResponse("ok", status_code=int(request.query_params.get("status", 200)))


async def boom(request):
    raise RuntimeError("boom")


def app() -> Starlette:
    return Starlette(routes=[Route("/items/{item_id}", item), Route("/boom", boom)])


def scope_with(path: str, *headers: tuple[bytes, bytes], **overrides):
    query = path.partition("?")[2].encode()
    return http_scope(
        path.partition("?")[0], query_string=query, headers=[(b"host", b"h"), *headers], **overrides
    )


# The middleware names streamed child spans in its before_send_span hook: that option is 2.67's.
needs_before_send_span = pytest.mark.skipif(
    SDK_VERSION < (2, 67), reason="before_send_span arrived in sentry-sdk 2.67"
)
# Where a streamed segment's name source is: renamed in sentry-sdk 2.67.
SOURCE = "sentry.segment.name.source" if SDK_VERSION >= (2, 67) else "sentry.span.source"
STREAMING = "trace_lifecycle" in inspect.signature(ClientConstructor.__init__).parameters


@pytest.fixture(params=["static", "stream"])
def lifecycle(request) -> str:
    if request.param == "stream" and not STREAMING:
        pytest.skip(f"sentry-sdk {sentry_sdk.VERSION} has no span streaming")
    return request.param


def trace_of(transport, lifecycle):
    """The request's root span as (name, source, op, origin, status, trace_id, parent, attrs)."""
    if lifecycle == "static":
        (tx,) = transport.transactions
        trace = tx["contexts"]["trace"]
        return {
            "name": tx["transaction"],
            "source": tx["transaction_info"]["source"],
            "op": trace["op"],
            "origin": trace["origin"],
            "status": trace.get("status"),
            "trace_id": trace["trace_id"],
            "parent": trace.get("parent_span_id"),
            "code": (tx.get("contexts", {}).get("response") or {}).get("status_code"),
            "data": trace.get("data") or {},
            "start": tx["start_timestamp"],
            "end": tx["timestamp"],
        }
    spans = transport.items("span")
    segments = [s for item in spans for s in item["items"] if s.get("is_segment")]
    (span,) = segments
    attrs = {k: v["value"] for k, v in span["attributes"].items()}
    return {
        "name": span["name"],
        "source": attrs[SOURCE],
        "op": attrs["sentry.op"],
        "origin": attrs["sentry.origin"],
        "status": span["status"],
        "trace_id": span["trace_id"],
        "parent": span.get("parent_span_id"),
        "code": attrs.get("http.response.status_code"),
        "data": attrs,
        "start": span["start_timestamp"],
        "end": span["end_timestamp"],
    }


def duration(trace) -> float:
    """Seconds from a root span's start to its end, as ``trace_of`` reads them."""
    start, end = trace["start"], trace["end"]
    if isinstance(start, str):  # a transaction's timestamps are ISO 8601 strings
        return (from_iso(end) - from_iso(start)).total_seconds()
    return float(end - start)


def from_iso(timestamp: str) -> datetime:
    """An ISO 8601 timestamp ending in Z, which Python 3.10's fromisoformat refuses."""
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def init(sentry_init, lifecycle, **options):
    if lifecycle == "stream":
        options["trace_lifecycle"] = "stream"
    return sentry_init(
        auto_enabling_integrations=False,
        traces_sample_rate=options.pop("traces_sample_rate", 1.0),
        **options,
    )


def traced(transport):
    """The envelopes that carry the trace's header: all but the request counts (sessions)."""
    return [envelope for envelope in transport.envelopes if "trace" in envelope.headers]


async def named_in_the_view(transport, lifecycle, name, source=None):
    """Serve a view that names the request and fails; return its trace and its error event."""

    async def checkout(request):
        sentry_sdk.get_current_scope().set_transaction_name(name, source=source)
        raise RuntimeError("declined")

    with pytest.raises(RuntimeError):
        await call(SentryMiddleware(Starlette(routes=[Route("/c", checkout)])), scope_with("/c"))
    sentry_sdk.flush()
    (event,) = transport.events
    return trace_of(transport, lifecycle), event


async def test_one_transaction_per_request_named_after_the_route(sentry_init, lifecycle):
    """The route template names the transaction even though routing ran after the middleware started."""
    transport = init(sentry_init, lifecycle)
    await call(SentryMiddleware(app(), transaction_style="url"), scope_with("/items/42?status=404"))
    sentry_sdk.flush()
    trace = trace_of(transport, lifecycle)
    assert (trace["name"], trace["source"]) == ("/items/{item_id}", "route")
    assert trace["op"] == "http.server"
    assert trace["origin"] == "auto.http.sentry_asgi"
    assert trace["code"] == 404
    assert trace["status"] == ("not_found" if lifecycle == "static" else "ok")


@pytest.mark.parametrize("source", [None, "custom"])
async def test_name_the_app_set_survives_on_the_transaction_and_its_error(
    sentry_init, lifecycle, source
):
    """set_transaction_name in the view, with or without a source, names the transaction and its error."""
    trace, event = await named_in_the_view(
        init(sentry_init, lifecycle), lifecycle, "checkout", source
    )
    assert trace["name"] == event["transaction"] == "checkout"
    if source:
        assert trace["source"] == event["transaction_info"]["source"] == source


async def test_name_the_app_set_without_a_source_is_sent_as_custom_and_kept_by_sentry(
    sentry_init, lifecycle
):
    """A name set on the current scope without a source is the app's own: custom, never the raw path's url."""
    name = "/orders/123/checkout"  # Sentry rewrites url-source names: /orders/*/checkout
    trace, event = await named_in_the_view(init(sentry_init, lifecycle), lifecycle, name)
    assert (trace["name"], trace["source"]) == (name, "custom")
    assert (event["transaction"], event["transaction_info"]) == (name, {"source": "custom"})
    assert NORMALIZER.normalize_event(event)["transaction"] == name


def name_on_isolation_scope(name: str, source: str | None) -> None:
    sentry_sdk.get_isolation_scope().set_transaction_name(name, source=source)


def name_through_configure_scope(name: str, source: str | None) -> None:
    with (
        pytest.warns(DeprecationWarning, match="configure_scope"),
        sentry_sdk.configure_scope() as isolation,
    ):
        isolation.set_transaction_name(name, source=source)


@pytest.mark.parametrize("source", [None, "custom"])
@pytest.mark.parametrize("set_name", [name_on_isolation_scope, name_through_configure_scope])
async def test_name_the_app_set_on_the_isolation_scope_survives(
    sentry_init, lifecycle, set_name, source
):
    """A name set on the isolation scope names the transaction and its error, source custom unless given."""
    transport = init(sentry_init, lifecycle)

    async def checkout(request):
        set_name("checkout", source)
        raise RuntimeError("declined")

    with pytest.raises(RuntimeError):
        await call(
            SentryMiddleware(Starlette(routes=[Route("/c/{n}", checkout)])), scope_with("/c/1")
        )
    sentry_sdk.flush()
    trace = trace_of(transport, lifecycle)
    (event,) = transport.events
    assert (trace["name"], trace["source"]) == ("checkout", "custom")
    assert (event["transaction"], event["transaction_info"]) == ("checkout", {"source": "custom"})


def name_on_current_scope(name: str, source: str | None) -> None:
    sentry_sdk.get_current_scope().set_transaction_name(name, source=source)


@pytest.mark.parametrize(
    ("set_name", "name", "sent"),
    [
        (name_on_current_scope, "/items/all", ("/items/all", "custom")),
        (name_on_isolation_scope, "/items/all", ("/items/all", "url")),
        (name_on_current_scope, "/items/1", ("/items/{item_id}", "route")),  # the raw path again
    ],
)
async def test_a_url_name_the_app_sets_is_url_only_on_the_isolation_scope(
    sentry_init, lifecycle, set_name, name, sent
):
    """source="url" on the current scope is stored as none: custom, or the raw path, the route's; kept on the isolation scope."""
    transport = init(sentry_init, lifecycle)

    async def view(request):
        set_name(name, "url")
        return PlainTextResponse("ok")

    served = Starlette(routes=[Route("/items/{item_id}", view)])
    await call(SentryMiddleware(served, transaction_style="url"), scope_with("/items/1"))
    sentry_sdk.flush()
    trace = trace_of(transport, lifecycle)
    assert (trace["name"], trace["source"]) == sent


async def test_exception_marks_the_transaction_internal_error(sentry_init, lifecycle):
    """A request that raised is internal_error (error when streaming) and its error shares the trace."""
    transport = init(sentry_init, lifecycle)
    with pytest.raises(RuntimeError):
        await call(SentryMiddleware(app()), scope_with("/boom"))
    sentry_sdk.flush()
    trace = trace_of(transport, lifecycle)
    assert trace["status"] == ("internal_error" if lifecycle == "static" else "error")
    (event,) = transport.events
    assert event["contexts"]["trace"]["trace_id"] == trace["trace_id"]


async def test_exception_after_a_200_began_marks_the_transaction_internal_error(
    sentry_init, lifecycle
):
    """An app that raises after its 200 began is internal_error (error when streaming), not ok."""
    transport = init(sentry_init, lifecycle)

    async def failing_mid_body(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("mid-body")

    with pytest.raises(RuntimeError):
        await call(SentryMiddleware(failing_mid_body), scope_with("/report"))
    sentry_sdk.flush()
    trace = trace_of(transport, lifecycle)
    assert trace["status"] == ("internal_error" if lifecycle == "static" else "error")


async def test_a_background_task_failing_after_the_response_fails_the_request(
    sentry_init, lifecycle
):
    """A background task raising out of the app after its 200 went out whole is reported, and fails the request."""
    transport = init(sentry_init, lifecycle)

    def send_receipt():
        raise RuntimeError("mail server down")

    async def order(request):
        return PlainTextResponse("ordered", background=BackgroundTask(send_receipt))

    with pytest.raises(RuntimeError):
        await call(
            SentryMiddleware(Starlette(routes=[Route("/order", order)])), scope_with("/order")
        )
    sentry_sdk.flush()
    trace = trace_of(transport, lifecycle)
    failed = "internal_error" if lifecycle == "static" else "error"
    assert (trace["status"], trace["code"]) == (failed, 200)
    (event,) = transport.events
    assert event["contexts"]["trace"]["trace_id"] == trace["trace_id"]


class RefusingTheLastChunk(Conversation):
    """A server whose write of the response's last chunk fails with ``error``."""

    def __init__(self, app, scope, error: Exception) -> None:
        super().__init__(app, scope, [{"type": "http.request", "body": b""}])
        self.error = error

    async def send(self, message):
        if message["type"] == "http.response.body" and not message.get("more_body"):
            raise self.error
        await super().send(message)


@pytest.mark.parametrize(
    ("error", "status", "reported"),
    [
        (RuntimeError("Response content shorter than Content-Length"), "internal_error", 1),
        (ConnectionResetError("peer reset"), "cancelled", 0),
    ],
    ids=["uvicorn-refuses-it", "client-gone"],
)
async def test_a_last_chunk_the_server_fails_to_send_is_no_complete_response(
    sentry_init, error, status, reported
):
    """A response whose last chunk the server could not send is no complete one: the failure is its status."""
    transport = init(sentry_init, "static")
    served = Starlette(routes=[Route("/items/{item_id}", item)])
    with pytest.raises(type(error)):
        await RefusingTheLastChunk(SentryMiddleware(served), scope_with("/items/1"), error).run()
    sentry_sdk.flush()
    assert trace_of(transport, "static")["status"] == status
    assert len(transport.events) == reported


async def test_sentry_sdks_middleware_around_ours_leaves_one_root_span(sentry_init, lifecycle):
    """``add_middleware`` puts ours inside sentry_sdk's Starlette wrapping: one trace, not two."""
    options = {"trace_lifecycle": "stream"} if lifecycle == "stream" else {}
    transport = sentry_init(traces_sample_rate=1.0, **options)  # its integrations enabled
    wrapped = app()
    wrapped.add_middleware(SentryMiddleware)
    with pytest.raises(RuntimeError):
        await call(wrapped, scope_with("/boom"))
    sentry_sdk.flush()
    trace = trace_of(transport, lifecycle)  # exactly one transaction or segment
    (event,) = transport.events
    assert event["contexts"]["trace"]["trace_id"] == trace["trace_id"]


async def test_sentry_trace_is_continued(sentry_init, lifecycle):
    """An incoming sentry-trace header makes the transaction a child of the upstream span."""
    transport = init(sentry_init, lifecycle)
    header = (b"sentry-trace", f"{TRACE_ID}-{PARENT}-1".encode())
    baggage = (b"baggage", f"sentry-trace_id={TRACE_ID},sentry-sample_rate=1.0".encode())
    await call(SentryMiddleware(app()), scope_with("/items/1", header, baggage))
    sentry_sdk.flush()
    trace = trace_of(transport, lifecycle)
    assert (trace["trace_id"], trace["parent"]) == (TRACE_ID, PARENT)


async def test_baggage_sent_on_two_lines_is_continued_whole(sentry_init):
    """Baggage on two header lines is one list: the upstream's members on the first line are kept."""
    transport = init(sentry_init, "static")
    header = (b"sentry-trace", f"{TRACE_ID}-{PARENT}-1".encode())
    first = (b"baggage", f"sentry-trace_id={TRACE_ID},sentry-release=upstream-9".encode())
    second = (b"baggage", b"sentry-sample_rate=1.0")
    await call(SentryMiddleware(app()), scope_with("/items/1", header, first, second))
    sentry_sdk.flush()
    (envelope,) = traced(transport)
    assert envelope.headers["trace"]["release"] == "upstream-9"


async def test_unrouted_request_is_named_after_its_root_path_and_path(sentry_init, lifecycle):
    """An app served under a root path (``--root-path /api``) and no router names its URL whole."""
    transport = init(sentry_init, lifecycle)

    async def plain(scope, receive, send):
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    await call(SentryMiddleware(plain), scope_with("/orders/7", root_path="/api"))
    sentry_sdk.flush()
    trace = trace_of(transport, lifecycle)
    assert (trace["name"], trace["source"]) == ("/api/orders/7", "url")


async def test_w3c_traceparent_is_continued(sentry_init, lifecycle):
    """Without sentry-trace, a W3C traceparent's trace id and parent span id are kept."""
    transport = init(sentry_init, lifecycle)
    header = (b"traceparent", f"00-{TRACE_ID}-{PARENT}-01".encode())
    await call(
        SentryMiddleware(app()), scope_with("/items/1", header, (b"tracestate", b"vendor=x"))
    )
    sentry_sdk.flush()
    trace = trace_of(transport, lifecycle)
    assert (trace["trace_id"], trace["parent"]) == (TRACE_ID, PARENT)


async def test_unsampled_w3c_flag_is_honoured(sentry_init):
    """Traceparent flags 00 means the upstream sampled out: no transaction, like sentry-trace -0."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    header = (b"traceparent", f"00-{TRACE_ID}-{PARENT}-00".encode())
    await call(SentryMiddleware(app()), scope_with("/items/1", header))
    sentry_sdk.flush()
    assert transport.transactions == []


@pytest.mark.parametrize(
    "garbage",
    [
        b"nonsense",
        b"00-zz-yy-01",
        b"ff-" + TRACE_ID.encode() + b"-" + PARENT.encode() + b"-01",
        b"\xff\xfe",
        f"{TRACE_ID}-{'0' * 16}-1".encode(),
        f"{'0' * 32}-{PARENT}-1".encode(),
    ],
)
async def test_garbage_trace_headers_start_a_fresh_trace(sentry_init, garbage):
    """Unparseable trace headers, or all-zero ids, are ignored: a new trace, no error."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    scope = scope_with("/items/1", (b"sentry-trace", garbage), (b"traceparent", garbage))
    await call(SentryMiddleware(app()), scope)
    sentry_sdk.flush()
    (tx,) = transport.transactions
    assert tx["contexts"]["trace"]["trace_id"] != TRACE_ID
    assert tx["contexts"]["trace"].get("parent_span_id") is None


async def test_untraced_request_errors_still_carry_the_incoming_trace(sentry_init):
    """With tracing off, an error still links to the upstream trace."""
    transport = sentry_init(auto_enabling_integrations=False)
    header = (b"sentry-trace", f"{TRACE_ID}-{PARENT}-1".encode())
    with pytest.raises(RuntimeError):
        await call(SentryMiddleware(app()), scope_with("/boom", header))
    sentry_sdk.flush()
    (event,) = transport.events
    assert event["contexts"]["trace"]["trace_id"] == TRACE_ID
    assert transport.transactions == []


async def test_rate_zero_still_follows_a_sampled_upstream(sentry_init):
    """traces_sample_rate=0.0 continues an upstream that sampled the trace in, as sentry_sdk does."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=0.0)
    await call(SentryMiddleware(app()), scope_with("/items/1"))
    sentry_sdk.flush()
    assert transport.transactions == []
    header = (b"sentry-trace", f"{TRACE_ID}-{PARENT}-1".encode())
    await call(SentryMiddleware(app()), scope_with("/items/1", header))
    sentry_sdk.flush()
    assert [t["contexts"]["trace"]["trace_id"] for t in transport.transactions] == [TRACE_ID]


SAMPLE_RAND = hasattr(sentry_sdk.tracing_utils, "_generate_sample_rand")


@pytest.mark.parametrize(("sample_rand", "sampled"), [("0.1", True), ("0.9", False)])
async def test_an_upstream_s_sample_rand_decides_a_trace_it_left_undecided(
    sentry_init, lifecycle, sample_rand, sampled
):
    """A deferred upstream's sentry-sample_rand decides the request, as it decides every service."""
    if not SAMPLE_RAND:
        pytest.skip(f"sentry-sdk {sentry_sdk.VERSION} draws its own random number per service")
    transport = init(sentry_init, lifecycle, traces_sample_rate=0.5)
    headers = (
        (b"sentry-trace", f"{TRACE_ID}-{PARENT}".encode()),
        (b"baggage", f"sentry-trace_id={TRACE_ID},sentry-sample_rand={sample_rand}".encode()),
    )
    await call(SentryMiddleware(app()), scope_with("/items/1", *headers))
    sentry_sdk.flush()
    sent = transport.transactions + transport.items("span")
    assert bool(sent) is sampled


async def test_traces_sampler_sees_the_asgi_scope(sentry_init, lifecycle):
    """traces_sampler receives the server's ASGI scope itself, method and path, and its decision is applied."""
    seen = []

    def sampler(context):
        seen.append(context)
        return 0.0 if context["asgi_scope"]["path"] == "/items/2" else 1.0

    transport = init(sentry_init, lifecycle, traces_sampler=sampler, traces_sample_rate=None)
    authorised = scope_with("/items/1?token=T0K3N", (b"authorization", b"Bearer S3CR3T"))
    await call(SentryMiddleware(app()), authorised)
    await call(SentryMiddleware(app()), scope_with("/items/2"))
    sentry_sdk.flush()
    assert trace_of(transport, lifecycle)["name"] == "test_tracing.item"  # only /items/1 was sent
    assert seen[0]["asgi_scope"] is authorised  # in the process, as the server passed it
    assert seen[0]["url.path"] == "/items/1"
    assert seen[0]["http.method"] == "GET"
    if lifecycle == "static" or SDK_VERSION >= (2, 67):  # streamed, sentry_sdk's own keys: 2.67
        assert {"transaction_context", "parent_sampled"} <= set(seen[0])
    sent = b"".join(envelope.serialize() for envelope in transport.envelopes)
    assert b"T0K3N" not in sent
    assert b"S3CR3T" not in sent


async def test_head_and_options_are_not_traced_by_default(sentry_init):
    """OPTIONS and HEAD start no transaction unless asked for."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    for method in ("HEAD", "OPTIONS"):
        await call(SentryMiddleware(app()), scope_with("/items/1", method=method))
    await call(
        SentryMiddleware(app(), http_methods_to_capture=["HEAD"]),
        scope_with("/items/1", method="HEAD"),
    )
    sentry_sdk.flush()
    assert len(transport.transactions) == 1


async def test_registered_methods_beyond_the_standard_nine_are_traced_by_default(sentry_init):
    """A WebDAV PROPFIND and a QUERY are requests like any other: each is a transaction."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    for method in ("PROPFIND", "QUERY"):
        await call(SentryMiddleware(app()), scope_with("/items/1", method=method))
    sentry_sdk.flush()
    assert [t["request"]["method"] for t in transport.transactions] == ["PROPFIND", "QUERY"]


async def test_excluded_paths_are_not_traced_but_errors_are_reported(sentry_init):
    """A health check starts no transaction; an error there is still an event."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    middleware = SentryMiddleware(app(), exclude_paths=["/items/1", "/boom"])
    await call(middleware, scope_with("/items/1"))
    with pytest.raises(RuntimeError):
        await call(middleware, scope_with("/boom"))
    await call(middleware, scope_with("/items/2"))
    sentry_sdk.flush()
    assert [t["request"]["url"] for t in transport.transactions] == ["http://h/items/2"]
    assert len(transport.events) == 1


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_spans_the_app_starts_in_an_untraced_request_are_not_sent(
    sentry_init, lifecycle, method
):
    """An excluded path or method sends none of the app's spans; its error still joins the trace."""
    if lifecycle == "stream" and SDK_VERSION < (2, 68):
        pytest.skip("a no-op segment with a name, to put them under, arrived in sentry-sdk 2.68")
    transport = init(sentry_init, lifecycle)
    outgoing = []

    async def health(request):
        outgoing.append(sentry_sdk.get_traceparent())
        with (
            sentry_sdk.traces.start_span(name="ping")
            if lifecycle == "stream"
            else sentry_sdk.start_span(op="db", name="ping")
        ):
            raise RuntimeError("database down")

    routes = [Route("/health", health, methods=["GET", "HEAD"])]
    middleware = SentryMiddleware(Starlette(routes=routes), exclude_paths=["/health"])
    upstream = (b"sentry-trace", f"{TRACE_ID}-{PARENT}-1".encode())
    with pytest.raises(RuntimeError):
        await call(middleware, scope_with("/health", upstream, method=method))
    sentry_sdk.flush()
    assert transport.transactions == []
    assert transport.items("span") == []
    (event,) = transport.events
    assert event["contexts"]["trace"]["trace_id"] == TRACE_ID
    (traceparent,) = outgoing
    assert traceparent.startswith(f"{TRACE_ID}-")
    assert traceparent.count("-") == 1  # no decision made here: sentry_sdk's own propagation


@pytest.mark.parametrize("excluded", [True, False])
async def test_a_name_set_at_start_up_never_names_a_request(sentry_init, lifecycle, excluded):
    """A start-up transaction's name, left on the scopes requests start from, names none of them."""
    transport = init(sentry_init, lifecycle)
    middleware = SentryMiddleware(app(), exclude_paths=["/boom"] if excluded else [])

    async def start_up_then_serve():
        if lifecycle == "stream":
            with sentry_sdk.traces.start_span(name="load-models"):
                pass
        else:
            with sentry_sdk.start_transaction(name="load-models"):
                pass
        request = Conversation(middleware, scope_with("/boom"), [{"type": "http.request"}])
        await request.app(request.scope, request.receive, request.send)  # a server's context

    with pytest.raises(RuntimeError):
        await in_fresh_context(start_up_then_serve())
    sentry_sdk.flush()
    (event,) = transport.events
    assert (event["transaction"], event["transaction_info"]["source"]) == (
        "test_tracing.boom",
        "component",
    )


async def test_streaming_response_ends_with_its_last_chunk(sentry_init):
    """A streaming response's transaction lasts until the last chunk, not just the headers."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)

    async def chunks():
        for part in (b"a", b"b", b"c"):
            await asyncio.sleep(0.05)
            yield part

    async def stream(request):
        return StreamingResponse(chunks())

    await call(SentryMiddleware(Starlette(routes=[Route("/s", stream)])), scope_with("/s"))
    sentry_sdk.flush()
    assert duration(trace_of(transport, "static")) >= 0.15


@pytest.mark.parametrize(
    "last",
    [
        {"type": "http.response.pathsend", "path": "/srv/files/report.pdf"},
        {"type": "http.response.zerocopysend", "file": 7, "more_body": False},
    ],
    ids=["pathsend", "zerocopysend"],
)
async def test_response_sent_from_a_file_ends_with_its_last_message(sentry_init, lifecycle, last):
    """A response the server sends from a file ends there: work and a disconnect after it are not part of it."""
    transport = init(sentry_init, lifecycle)

    async def file_then_background_work(scope, receive, send):
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send(last)
        await asyncio.sleep(1.0)  # a background task, as Starlette runs after a FileResponse
        await receive()  # the server's http.disconnect once the client has its answer

    disconnect = [{"type": "http.request", "body": b""}, {"type": "http.disconnect"}]
    await call(SentryMiddleware(file_then_background_work), scope_with("/file"), disconnect)
    sentry_sdk.flush()
    trace = trace_of(transport, lifecycle)
    assert trace["status"] == "ok"
    assert duration(trace) < 1.0  # the response alone, however busy the machine


async def test_client_leaving_a_streaming_response_cancels_the_transaction(sentry_init, lifecycle):
    """A client that leaves mid-stream makes it cancelled; a streamed segment (ok or error) stays ok."""
    transport = init(sentry_init, lifecycle)

    async def events():
        while True:
            yield b"data: tick\n\n"
            await asyncio.sleep(0.01)

    async def sse(request):
        return StreamingResponse(events(), media_type="text/event-stream")

    # ASGI spec 2.3: Starlette listens for the disconnect while it streams.
    scope = scope_with("/sse", asgi={"version": "3.0", "spec_version": "2.3"})
    disconnect = [{"type": "http.request", "body": b""}, {"type": "http.disconnect"}]
    await call(SentryMiddleware(Starlette(routes=[Route("/sse", sse)])), scope, disconnect)
    sentry_sdk.flush()
    trace = trace_of(transport, lifecycle)
    assert trace["code"] == 200
    assert trace["status"] == ("cancelled" if lifecycle == "static" else "ok")
    assert transport.events == []


async def test_disconnect_after_a_complete_response_leaves_it_ok(sentry_init, lifecycle):
    """http.disconnect that arrives after the last body chunk is a normal end: status ok."""
    transport = init(sentry_init, lifecycle)

    async def answer_then_wait(scope, receive, send):
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})
        await receive()  # the server's http.disconnect once the client has its answer

    disconnect = [{"type": "http.request", "body": b""}, {"type": "http.disconnect"}]
    await call(SentryMiddleware(answer_then_wait), scope_with("/done"), disconnect)
    sentry_sdk.flush()
    assert trace_of(transport, lifecycle)["status"] == "ok"


async def test_websocket_connection_records_handshake_close_code_and_duration(sentry_init):
    """A websocket transaction has a handshake span of its own, the close code and the duration."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)

    async def chat(websocket):
        await websocket.accept()
        await websocket.receive_text()
        await websocket.close(code=4001)

    scope = scope_with("/ws", type="websocket")
    del scope["method"]
    messages = [{"type": "websocket.connect"}, {"type": "websocket.receive", "text": "hi"}]
    await call(SentryMiddleware(Starlette(routes=[WebSocketRoute("/ws", chat)])), scope, messages)
    sentry_sdk.flush()
    (tx,) = transport.transactions
    trace = tx["contexts"]["trace"]
    assert trace["op"] == "websocket.server"
    assert trace["data"]["websocket.close_code"] == 4001
    assert trace["data"]["websocket.duration_seconds"] >= 0
    assert [s["op"] for s in tx["spans"]] == ["websocket.handshake"]
    assert tx["request"]["url"] == "ws://h/ws"


@pytest.mark.parametrize(
    ("answer", "code", "status"),
    [("websocket.accept", 101, "ok"), ("websocket.close", 403, "permission_denied")],
)
async def test_websocket_status_is_its_handshake_s_answer(
    sentry_init, lifecycle, answer, code, status
):
    """Accepted is 101 and ok; closed before accepting, the server answers 403: in both lifecycles."""
    transport = init(sentry_init, lifecycle)

    async def answering(scope, receive, send):
        await receive()
        await send({"type": answer})

    scope = scope_with("/ws", type="websocket")
    del scope["method"]
    await call(SentryMiddleware(answering), scope, [{"type": "websocket.connect"}])
    sentry_sdk.flush()
    trace = trace_of(transport, lifecycle)
    assert trace["code"] == code
    assert trace["status"] == (status if lifecycle == "static" else "ok")


async def test_websocket_close_code_is_the_first_close_the_client_s_when_it_left(sentry_init):
    """A client that dropped (1006) is the connection's close code, not the app's close sent after it."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)

    async def closing_anyway(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        await receive()  # the client is gone
        await send({"type": "websocket.close"})  # hypercorn, granian and daphne accept it

    scope = scope_with("/ws", type="websocket")
    del scope["method"]
    messages = [{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1006}]
    await call(SentryMiddleware(closing_anyway), scope, messages)
    sentry_sdk.flush()
    (tx,) = transport.transactions
    assert tx["contexts"]["trace"]["data"]["websocket.close_code"] == 1006


async def test_a_websocket_the_client_closed_is_not_cancelled_by_the_error_it_raises(sentry_init):
    """A chat the client closed (1001) is ok, though the app's next receive raised WebSocketDisconnect."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)

    async def chat(websocket):
        await websocket.accept()
        while True:  # until the client leaves, as Starlette's documentation writes it
            await websocket.send_text(await websocket.receive_text())

    scope = scope_with("/chat", type="websocket")
    del scope["method"]
    messages = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": "Hi"},
        {"type": "websocket.disconnect", "code": 1001},
    ]
    served = Starlette(routes=[WebSocketRoute("/chat", chat)])
    with pytest.raises(WebSocketDisconnect):
        await call(SentryMiddleware(served), scope, messages)
    sentry_sdk.flush()
    assert transport.events == []
    (tx,) = transport.transactions
    assert tx["contexts"]["trace"]["status"] == "ok"
    assert tx["contexts"]["trace"]["data"]["websocket.close_code"] == 1001


async def test_websocket_spans_of_the_app_are_children_of_the_segment(sentry_init):
    """A streamed websocket's handshake span never becomes the parent of the app's spans."""
    if not STREAMING:
        pytest.skip(f"sentry-sdk {sentry_sdk.VERSION} has no span streaming")
    transport = init(sentry_init, "stream")

    async def chat(websocket):
        with sentry_sdk.traces.start_span(name="authorise"):  # open across the accept
            await websocket.accept()
        with sentry_sdk.traces.start_span(name="message"):
            await websocket.receive_text()
        await websocket.close()

    scope = scope_with("/ws", type="websocket")
    del scope["method"]
    messages = [{"type": "websocket.connect"}, {"type": "websocket.receive", "text": "hi"}]
    await call(SentryMiddleware(Starlette(routes=[WebSocketRoute("/ws", chat)])), scope, messages)
    sentry_sdk.flush()
    spans = [span for item in transport.items("span") for span in item["items"]]
    names = {span["span_id"]: span["name"] for span in spans}
    parents = {span["name"]: names.get(span.get("parent_span_id")) for span in spans}
    segment = trace_of(transport, "stream")["name"]
    assert parents == {
        segment: None,
        "handshake": segment,
        "authorise": segment,
        "message": segment,
    }


async def db_query(request):
    with sentry_sdk.traces.start_span(name="db"):
        pass
    return PlainTextResponse("ok")


async def named_then_queries(scope, receive, send):
    sentry_sdk.get_isolation_scope().set_transaction_name("items", source="custom")
    response = await db_query(None)
    await response(scope, receive, send)


def segment_names(transport):
    """Each streamed span's name, with the segment name it carries."""
    spans = [span for item in transport.items("span") for span in item["items"]]
    return {span["name"]: span["attributes"]["sentry.segment.name"]["value"] for span in spans}


@pytest.mark.parametrize(
    ("served", "segment"),
    [
        (Starlette(routes=[Route("/items/{item_id}", db_query)]), "test_tracing.db_query"),
        (named_then_queries, "items"),
    ],
    ids=["routed", "named-by-the-app"],
)
@pytest.mark.parametrize("hooked", [False, True], ids=["no-hook", "app-hook"])
@needs_before_send_span
async def test_child_spans_carry_the_request_s_name_not_its_path(
    sentry_init, served, segment, hooked
):
    """A streamed child span ending after routing carries the request's name, not /items/1."""
    seen = []

    def before_send_span(span, hint):
        seen.append(span["attributes"]["sentry.segment.name"])
        return span

    options = {"before_send_span": before_send_span} if hooked else {}
    transport = init(sentry_init, "stream", **options)
    await call(SentryMiddleware(served), scope_with("/items/1"))
    sentry_sdk.flush()
    assert segment_names(transport) == {"db": segment, segment: segment}
    assert seen == ([segment, segment] if hooked else [])


@needs_before_send_span
async def test_child_spans_carry_the_request_s_raw_path_without_its_secrets(sentry_init):
    """A streamed child span named after a raw path carries it as the segment does: filtered."""
    transport = init(sentry_init, "stream")

    async def unrouted(scope, receive, send):
        await (await db_query(None))(scope, receive, send)

    await call(SentryMiddleware(unrouted), scope_with("/cart;jsessionid=S3CR3T"))
    sentry_sdk.flush()
    named = "/cart;jsessionid=[Filtered]"
    assert segment_names(transport) == {"db": named, named: named}


class TimedOutside:
    """An app middleware with a span that ends before routing, and one around the whole app."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        with sentry_sdk.traces.start_span(name="before"):
            pass
        with sentry_sdk.traces.start_span(name="around"):
            await self.app(scope, receive, send)


@needs_before_send_span
async def test_child_spans_ending_before_routing_keep_the_raw_path(sentry_init):
    """A streamed child span ended before the router ran carries the raw path, filtered; one ending after, the route."""
    transport = init(sentry_init, "stream")
    served = Starlette(
        routes=[Route("/cart/{cart_id}", db_query)], middleware=[Middleware(TimedOutside)]
    )
    await call(SentryMiddleware(served), scope_with("/cart/1;jsessionid=S3CR3T"))
    sentry_sdk.flush()
    routed = "test_tracing.db_query"
    assert segment_names(transport) == {
        "before": "/cart/1;jsessionid=[Filtered]",
        "around": routed,
        "db": routed,
        routed: routed,
    }


@needs_before_send_span
async def test_child_span_ending_before_routing_has_a_secret_route_parameter_filtered(sentry_init):
    """A streamed child span ended before Starlette's router ran carries the raw path as its segment's name with the route's token [Filtered]."""
    transport = init(sentry_init, "stream")
    served = Starlette(
        routes=[Route("/reset/{uidb64}/{token}/", db_query)], middleware=[Middleware(TimedOutside)]
    )
    await call(SentryMiddleware(served), scope_with(f"/reset/MQ/{RESET_TOKEN}/"))
    sentry_sdk.flush()
    assert segment_names(transport)["before"] == "/reset/MQ/[Filtered]/"
    assert RESET_TOKEN not in json.dumps(transport.items("span"))


@needs_before_send_span
async def test_streamed_segment_has_a_secret_route_parameter_filtered(sentry_init):
    """A route's ``token`` segment is [Filtered] in a streamed segment's url.full and url.path; the segment and its spans are named after the route."""
    transport = init(sentry_init, "stream")
    served = Starlette(routes=[Route("/reset/{uidb64}/{token}/", db_query)])
    app = SentryMiddleware(served, transaction_style="url")
    await call(app, scope_with(f"/reset/MQ/{RESET_TOKEN}/"))
    sentry_sdk.flush()
    spans = [span for item in transport.items("span") for span in item["items"]]
    (segment,) = [span for span in spans if span["is_segment"]]
    attributes = {key: value["value"] for key, value in segment["attributes"].items()}
    assert attributes["url.full"] == "http://h/reset/MQ/[Filtered]/"
    assert attributes["url.path"] == "/reset/MQ/[Filtered]/"
    template = "/reset/{uidb64}/{token}/"
    assert segment_names(transport) == {"db": template, template: template}
    assert RESET_TOKEN not in json.dumps(spans)


@pytest.mark.parametrize("propagates", [False, True], ids=["quiet", "propagating"])
@pytest.mark.parametrize(
    ("style", "named"),
    [
        ("url", "/items/{item_id}"),
        (
            "endpoint",
            "test_tracing.test_a_view_that_propagates_names_the_sampling_context_after_its_route.<locals>.view",
        ),
    ],
)
async def test_a_view_that_propagates_names_the_sampling_context_after_its_route(
    sentry_init, lifecycle, propagates, style, named
):
    """Starlette routes inside the app: the baggage a view propagates names its route, in both lifecycles."""
    transport = init(sentry_init, lifecycle, release="r1")
    baggage = []

    async def view(request):
        if propagates:  # as an outgoing request, or a template's meta tags, does
            baggage.append(str(sentry_sdk.get_baggage()))
        return PlainTextResponse("ok")

    served = Starlette(routes=[Route("/items/{item_id}", view)])
    await call(SentryMiddleware(served, transaction_style=style), scope_with("/items/1"))
    sentry_sdk.flush()
    (envelope,) = traced(transport)
    assert envelope.headers["trace"]["transaction"] == named
    assert len(baggage) == propagates
    assert all(f"sentry-transaction={quote(named)}" in sent for sent in baggage)


@pytest.fixture
def gc_paused():
    """No garbage collection while sentry_sdk's profiler samples every thread's stack.

    On Python 3.11, ``sys._current_frames()`` (the profiler's sampler) can start a collection
    that frees a ``threading.local`` while it holds the interpreter's thread-list lock, and the
    process deadlocks (CPython gh-106883, fixed in 3.12 only). Collected before, then paused,
    nothing can be freed mid-sample; the transaction profiler's thread is stopped after.
    """
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        teardown_profiler()
        gc.enable()


async def busy(scope, receive, send):
    deadline = time.monotonic() + 0.2
    while time.monotonic() < deadline:  # enough samples for a profile Sentry keeps
        pass
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


@pytest.mark.filterwarnings("ignore:Transaction-based profiling is deprecated")
async def test_sampled_transaction_carries_its_profile(sentry_init, gc_paused):
    """With profiles_sample_rate, a sampled request's transaction is profiled, start to finish."""
    transport = sentry_init(
        auto_enabling_integrations=False, traces_sample_rate=1.0, profiles_sample_rate=1.0
    )
    await call(SentryMiddleware(busy), scope_with("/busy"))
    sentry_sdk.flush()
    (tx,) = transport.transactions
    (profile,) = transport.items("profile")
    (profiled,) = profile["transactions"]
    assert profiled["id"] == tx["event_id"]
    assert int(profiled["relative_end_ns"]) > 0


@pytest.mark.skipif(
    SDK_VERSION < (2, 38),
    reason="profile_lifecycle arrived in sentry-sdk 2.22, and before 2.38 the continuous profiler"
    " stays with the first client of the process (an earlier test's)",
)
async def test_trace_lifecycle_profiler_stops_when_the_request_ends(sentry_init, gc_paused):
    """The continuous profiler, run per trace, stops with the request and sends what it sampled."""
    transport = sentry_init(
        auto_enabling_integrations=False,
        traces_sample_rate=1.0,
        profile_session_sample_rate=1.0,
        profile_lifecycle="trace",
    )
    await call(SentryMiddleware(busy), scope_with("/busy"))
    for _ in range(100):  # the profiler's own thread stops and sends its chunk
        if transport.items("profile_chunk"):
            break
        await asyncio.sleep(0.05)
    assert len(transport.items("profile_chunk")) == 1


async def test_route_is_absent_from_sampling_when_routing_has_not_run(sentry_init):
    """Starlette routes inside the app: the sampler is not given a route it cannot know yet."""
    seen = []

    def sampler(context):
        seen.append(context.get("http.route", "absent"))
        return 1.0

    sentry_init(auto_enabling_integrations=False, traces_sampler=sampler)
    await call(SentryMiddleware(app()), scope_with("/items/1"))
    assert seen == ["absent"]


async def test_strict_trace_continuation_is_respected(sentry_init):
    """With strict_trace_continuation, an upstream that names no organisation starts a new trace."""
    if "strict_trace_continuation" not in inspect.signature(ClientConstructor.__init__).parameters:
        pytest.skip(f"sentry-sdk {sentry_sdk.VERSION} has no strict_trace_continuation")
    header = (b"sentry-trace", f"{TRACE_ID}-{PARENT}-1".encode())
    baggage = (b"baggage", f"sentry-trace_id={TRACE_ID}".encode())
    trace_ids = []
    for strict in (False, True):
        transport = sentry_init(
            auto_enabling_integrations=False,
            traces_sample_rate=1.0,
            strict_trace_continuation=strict,
            dsn="http://public@o1.ingest.example.invalid:9/1",  # organisation 1; never contacted
        )
        await call(SentryMiddleware(app()), scope_with("/items/1", header, baggage))
        sentry_sdk.flush()
        trace_ids.append(transport.transactions[0]["contexts"]["trace"]["trace_id"])
    assert trace_ids[0] == TRACE_ID
    assert trace_ids[1] != TRACE_ID


async def test_streamed_segment_names_the_http_version_the_server_spoke(sentry_init):
    """An HTTP/2 request's segment says so (network.protocol.version), as the server's scope does."""
    if not STREAMING:
        pytest.skip(f"sentry-sdk {sentry_sdk.VERSION} has no span streaming")
    transport = init(sentry_init, "stream")

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    await call(SentryMiddleware(app), scope_with("/h2", http_version="2"))
    sentry_sdk.flush()
    assert trace_of(transport, "stream")["data"]["network.protocol.version"] == "2"


async def test_streamed_websocket_segment_names_no_http_version_as_its_protocols(sentry_init):
    """A websocket's segment names its protocol websocket, without the HTTP version of its handshake."""
    if not STREAMING:
        pytest.skip(f"sentry-sdk {sentry_sdk.VERSION} has no span streaming")
    transport = init(sentry_init, "stream")

    async def chat(websocket):
        await websocket.accept()
        await websocket.close()

    scope = scope_with("/ws", type="websocket")
    del scope["method"]
    app = Starlette(routes=[WebSocketRoute("/ws", chat)])
    await call(SentryMiddleware(app), scope, [{"type": "websocket.connect"}])
    sentry_sdk.flush()
    data = trace_of(transport, "stream")["data"]
    assert data["network.protocol.name"] == "websocket"
    assert "network.protocol.version" not in data


@pytest.mark.parametrize("pii", [False, True], ids=["default", "send_default_pii"])
async def test_streamed_segment_describes_the_request_without_its_secrets(sentry_init, pii):
    """A streamed segment carries method, URL, filtered query and headers; secrets stay out."""
    if not STREAMING:
        pytest.skip(f"sentry-sdk {sentry_sdk.VERSION} has no span streaming")
    transport = init(sentry_init, "stream", send_default_pii=pii)

    async def tagged(request):
        sentry_sdk.traces.get_current_span().set_attribute("url.path", "/set-by-the-app")
        return PlainTextResponse("ok")

    token = "Bearer s3cr3t-t0k3n-value"  # noqa: S105 - a fake, to be found or not
    scope = scope_with(
        "/tagged?page=2&api_key=k3y-v4lu3",
        (b"user-agent", b"curl/8.5"),
        (b"authorization", token.encode()),
        (b"cookie", b"session=c00kie-v4lu3"),
        method="POST",
    )
    await call(
        SentryMiddleware(Starlette(routes=[Route("/tagged", tagged, methods=["POST"])])), scope
    )
    sentry_sdk.flush()
    attrs = trace_of(transport, "stream")["data"]
    assert attrs["http.request.method"] == "POST"
    assert attrs["http.route"] == "/tagged"
    assert attrs["user_agent.original"] == "curl/8.5"
    assert attrs["network.protocol.name"] == "http"
    assert attrs["network.protocol.version"] == "1.1"
    assert attrs["url.path"] == "/set-by-the-app"  # what the app set is kept
    if pii:
        assert attrs["url.full"] == "http://h/tagged?page=2&api_key=k3y-v4lu3"
        assert attrs["http.request.header.authorization"] == token
        assert attrs["user.ip_address"] == "203.0.113.7"
    else:
        assert attrs["url.full"] == "http://h/tagged?page=2&api_key=[Filtered]"
        assert attrs["http.query"] == "page=2&api_key=[Filtered]"
        assert attrs["http.request.header.authorization"] == "[Filtered]"
        assert "user.ip_address" not in attrs
        sent = repr(transport.items("span"))
        for secret in ("s3cr3t-t0k3n-value", "k3y-v4lu3", "c00kie-v4lu3", "203.0.113.7"):
            assert secret not in sent


@pytest.mark.parametrize("pii", [False, True], ids=["default", "send_default_pii"])
async def test_a_body_an_integration_puts_on_the_segment_has_its_secrets_filtered(sentry_init, pii):
    """sentry_sdk's Starlette integration's copy of a JSON body on the segment loses its secrets."""
    if not STREAMING:
        pytest.skip(f"sentry-sdk {sentry_sdk.VERSION} has no span streaming")
    transport = init(
        sentry_init, "stream", send_default_pii=pii, integrations=[StarletteIntegration()]
    )

    async def login(request):
        await request.json()
        return PlainTextResponse("ok")

    body = b'{"username": "ann", "password": "hunter2-S3CR3T"}'
    headers = ((b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)))
    await call(
        SentryMiddleware(Starlette(routes=[Route("/login", login, methods=["POST"])])),
        scope_with("/login", *headers, method="POST"),
        [{"type": "http.request", "body": body}],
    )
    sentry_sdk.flush()
    attrs = trace_of(transport, "stream")["data"]
    assert json.loads(attrs["http.request.body.data"]) == {
        "username": "ann",
        "password": "[Filtered]",
    }
    assert "hunter2-S3CR3T" not in repr(transport.items("span"))


async def test_streaming_switched_on_through_experiments_streams_where_the_sdk_can(sentry_init):
    """_experiments={"trace_lifecycle": "stream"} streams the request, or where sentry_sdk cannot stream gives a transaction."""
    transport = sentry_init(
        auto_enabling_integrations=False,
        traces_sample_rate=1.0,
        _experiments={"trace_lifecycle": "stream"},
    )
    await call(SentryMiddleware(app(), transaction_style="url"), scope_with("/items/1"))
    sentry_sdk.flush()
    streams = SDK_VERSION >= (2, 55)  # 2.52 to 2.54 take the option, but cannot start a span
    if streams:
        assert transport.transactions == []
    assert trace_of(transport, "stream" if streams else "static")["name"] == "/items/{item_id}"


ANSWERS = {
    "closed": [{"type": "websocket.accept"}, {"type": "websocket.close", "code": 1000}],
    "denied": [
        {"type": "websocket.http.response.start", "status": 403, "headers": []},
        {"type": "websocket.http.response.body", "body": b""},
    ],
}


@pytest.mark.parametrize("cancelled", [False, True])
@pytest.mark.parametrize("answer", ["closed", "denied"])
async def test_a_websocket_cancelled_after_its_answer_keeps_its_status(
    sentry_init, answer, cancelled
):
    """A connection closed or denied is not cancelled by the server stopping the app's cleanup."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)

    async def cleaning_up(scope, receive, send):
        await receive()
        for message in ANSWERS[answer]:
            await send(message)
        if cancelled:  # the server stops while the app still writes its records
            asyncio.get_running_loop().call_soon(asyncio.current_task().cancel)
            await asyncio.sleep(3600)

    scope = {**scope_with("/ws", type="websocket"), "extensions": {"websocket.http.response": {}}}
    del scope["method"]
    with contextlib.suppress(asyncio.CancelledError):
        await call(SentryMiddleware(cleaning_up), scope, [{"type": "websocket.connect"}])
    sentry_sdk.flush()
    (tx,) = transport.transactions
    assert tx["contexts"]["trace"].get("status") == (
        "ok" if answer == "closed" else "permission_denied"
    )


@pytest.mark.parametrize("unsent", ["sampled out", "excluded"])
async def test_a_request_sending_no_span_keeps_its_raw_path_out_of_outgoing_baggage(
    sentry_init, lifecycle, unsent
):
    """A request sending no span puts no raw path (nor the secret in it) in outgoing baggage."""
    transport = init(sentry_init, lifecycle, traces_sample_rate=None, traces_sampler=lambda _: 0.0)
    baggage = []

    async def cart(scope, receive, send):
        baggage.append(sentry_sdk.get_baggage())  # what every outgoing request carries
        sentry_sdk.capture_message("checked out")
        await PlainTextResponse("ok")(scope, receive, send)

    excluded = [re.compile("/cart;.*")] if unsent == "excluded" else []
    await call(
        SentryMiddleware(cart, exclude_paths=excluded), scope_with("/cart;jsessionid=S3CR3T")
    )
    sentry_sdk.flush()
    (sent,) = baggage
    assert "sentry-trace_id=" in sent
    assert "sentry-transaction" not in sent
    (envelope,) = traced(transport)
    assert "transaction" not in envelope.headers["trace"]


async def test_an_oauth_callbacks_code_is_in_no_transaction_or_segment(sentry_init, lifecycle):
    """A callback's ``?code=...&state=...`` is traced with the code filtered, in both lifecycles."""
    transport = init(sentry_init, lifecycle)
    code = "4/0AeanS0a" + "9kQw3Zt1"  # built: the source lines sent hold no copy

    async def callback(request):
        return PlainTextResponse("signed in")

    query = f"code={quote(code, safe='')}&state=af0ifjsldkj"
    app = SentryMiddleware(Starlette(routes=[Route("/callback", callback)]))
    await call(app, scope_with(f"/callback?{query}"))
    sentry_sdk.flush()
    sent = repr(transport.transactions) + repr(transport.items("span"))
    assert "state=af0ifjsldkj" in sent
    assert code not in sent
    assert quote(code, safe="") not in sent
