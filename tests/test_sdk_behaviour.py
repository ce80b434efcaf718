"""sentry_sdk behaviour this package relies on or works around: an upgrade that changes it fails here."""

from __future__ import annotations

import asyncio
import http.client
import warnings

import pytest
import sentry_sdk
from conftest import call, http_scope, needs_data_collection
from sentry_sdk.envelope import Envelope
from sentry_sdk.integrations.asgi import SentryAsgiMiddleware
from sentry_sdk.tracing import Transaction
from servers import receiver

from sentry_asgi import SentryMiddleware, _sdk
from sentry_asgi._scrub import FILTERED
from sentry_asgi._sdk import add_event_processor_once, fast_isolation_available

pytestmark = pytest.mark.anyio

SDK = tuple(int(part) for part in sentry_sdk.VERSION.split(".")[:2])


@pytest.mark.skipif(SDK < (2, 75), reason="the deprecation arrived in sentry-sdk 2.75")
def test_send_default_pii_is_deprecated_in_favour_of_data_collection():
    """sentry_sdk 2.75 warns on send_default_pii; the middleware honours both options regardless."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sentry_sdk.init(send_default_pii=True, default_integrations=False)
    sentry_sdk.init(default_integrations=False, auto_enabling_integrations=False)
    assert any("send_default_pii" in str(w.message) for w in caught)


async def test_sdk_asgi_middleware_still_captures_when_it_steps_aside(sentry_init):
    """sentry_sdk's ASGI middleware, told to pass through, still captures; the repeat filter keeps one event."""
    transport = sentry_init(auto_enabling_integrations=False)

    async def app(scope, receive, send):
        raise RuntimeError("once")

    inner = SentryAsgiMiddleware(app)  # as sentry_sdk's Starlette integration wraps an app
    with pytest.raises(RuntimeError):
        await call(SentryMiddleware(inner), http_scope())
    (event,) = transport.events
    # The capture is sentry_sdk's (it runs first, inside ours); ours adds the request to it.
    assert event["exception"]["values"][-1]["mechanism"]["type"] == "asgi"
    assert event["request"]["url"] == "http://testserver/"
    assert transport.transactions == []


@pytest.mark.parametrize("outcome", ["returns", "raises", "cancelled"])
async def test_isolation_scope_is_entered_and_left_as_the_context_manager_would(
    sentry_init, outcome
):
    """The request runs in fresh isolation and current scopes; both are back however it ends."""
    sentry_init()
    assert fast_isolation_available()  # sentry_sdk.isolation_scope is still a generator
    before = (sentry_sdk.get_isolation_scope(), sentry_sdk.get_current_scope())
    inside = []

    async def app(scope, receive, send):
        inside.append((sentry_sdk.get_isolation_scope(), sentry_sdk.get_current_scope()))
        if outcome == "raises":
            raise RuntimeError("boom")
        if outcome == "cancelled":
            raise asyncio.CancelledError
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    expected = {"returns": None, "raises": RuntimeError, "cancelled": asyncio.CancelledError}
    if expected[outcome] is None:
        await call(SentryMiddleware(app), http_scope())
    else:
        with pytest.raises(expected[outcome]):
            await call(SentryMiddleware(app), http_scope())
    ((isolation, current),) = inside
    assert isolation is not before[0]
    assert current is not before[1]
    assert (sentry_sdk.get_isolation_scope(), sentry_sdk.get_current_scope()) == before


def test_a_transaction_still_fixes_its_baggage_in_get_baggage_held_in_a_slot(sentry_init):
    """sentry_sdk fixes a transaction's baggage in get_baggage, kept in its _baggage slot: the class the middleware subclasses."""
    sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)  # an active client
    assert _sdk._NAMED_TRANSACTION is not None
    assert issubclass(_sdk._NAMED_TRANSACTION, Transaction)
    transaction = Transaction(name="/items/{item_id}", source="route")
    transaction.__class__ = _sdk._NAMED_TRANSACTION  # same slots: allowed
    assert transaction.get_baggage() is transaction._baggage
    assert not transaction._baggage.mutable


@pytest.mark.skipif(SDK < (2, 75), reason="span streaming as README describes it is 2.75's")
def test_a_segment_reads_its_name_source_from_its_attributes_as_its_baggage_is_fixed(sentry_init):
    """sentry_sdk fixes a segment's baggage in populate_from_segment, reading the source from get_attributes() first: the read the middleware names the request at."""
    from sentry_sdk import traces

    from sentry_asgi._tracing import SOURCE

    sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0, trace_lifecycle="stream")
    renamed = []

    def name_by_route(span):
        renamed.append(span)
        span.name = "/items/{item_id}"
        span.set_attribute(SOURCE, "route")

    with sentry_sdk.isolation_scope():
        traces.new_trace()  # a trace of its own, as each request has, not the process's
        span = traces.start_span(name="/items/1", attributes={SOURCE: "url"}, parent_span=None)
        assert type(span._attributes) is dict
        _sdk.name_before_propagation(span, name_by_route, source_key=SOURCE)
        sentry_sdk.get_current_scope().streamed_span = span  # the scope reads the source too
        assert renamed == []
        baggage = sentry_sdk.get_baggage()
        _sdk.name_before_propagation(span, None)
        assert type(span._attributes) is dict
        span.end()
    assert renamed == [span]
    assert "sentry-transaction=/items/%7Bitem_id%7D" in baggage
    assert not span._baggage.mutable


def test_a_forked_scope_inherits_the_processor_list_and_gets_ours_once():
    """sentry_sdk scopes keep their processors in a list a fork copies: the late filter goes in once."""
    scope = sentry_sdk.Scope()

    def processor(event, hint):
        return event

    add_event_processor_once(scope, processor)
    fork = scope.fork()
    add_event_processor_once(fork, processor)
    add_event_processor_once(fork, processor)
    assert fork._event_processors == [processor]


@pytest.mark.skipif(SDK < (2, 75), reason="span streaming as README describes it is 2.75's")
def test_an_upload_to_a_dsn_with_a_port_is_traced_as_the_apps_own_request(sentry_init):
    """sentry_sdk traces an upload to its own DSN when the DSN names a port: README's span-streaming limit."""
    with receiver() as sentry:
        transport = sentry_init(
            dsn=sentry.dsn,
            traces_sample_rate=1.0,
            trace_lifecycle="stream",
        )
        host, port = sentry.server_address[:2]
        with sentry_sdk.traces.start_span(name="request"):
            connection = http.client.HTTPConnection(host, port)
            connection.request("POST", "/api/1/envelope/", body=Envelope().serialize())
            assert connection.getresponse().status == 200
            connection.close()
    sentry_sdk.flush()
    names = [span["name"] for span in transport.batched("span")]
    assert f"POST http://{host}:{port}/api/1/envelope/" in names


LONGER_NAMED = "longer" + "-name-Token-5678"  # built: the source lines sent hold no copy
IN_A_DICT = "in" + "-a-dict-Token-9012"


def fails_holding_issued_tokens() -> None:
    """A view that created tokens, under an exact and a longer name, and failed before answering."""
    token = "exact" + "-name-Token-1234"
    access_token = LONGER_NAMED
    issued = {"token": IN_A_DICT}
    raise RuntimeError((token, access_token, issued)[0][:5])


def variables_sent(transport) -> dict:
    """The variables of the one event's ``fails_holding_issued_tokens`` frame."""
    try:
        fails_holding_issued_tokens()
    except RuntimeError:
        sentry_sdk.capture_exception()
    (event,) = transport.events
    (frame,) = [
        f
        for f in event["exception"]["values"][-1]["stacktrace"]["frames"]
        if f["function"] == "fails_holding_issued_tokens"
    ]
    return frame["vars"]


def test_sdks_default_event_scrubber_matches_whole_names_of_variables_only(sentry_init):
    """sentry_sdk's default event_scrubber filters a local named token, not access_token nor a dict's token key (SECURITY.md leaves these to it)."""
    sent = variables_sent(sentry_init())
    assert (sent["token"], sent["access_token"]) == (FILTERED, repr(LONGER_NAMED))
    assert sent["issued"] == {"token": repr(IN_A_DICT)}


@needs_data_collection
def test_data_collections_frame_variable_denylist_matches_parts_of_names(sentry_init):
    """data_collection's stack_frame_variables denylist filters access_token too (its marker then repr'd), not a dict's token key."""
    collection = {"stack_frame_variables": {"mode": "denylist"}}
    sent = variables_sent(sentry_init(data_collection=collection))
    assert (sent["token"], sent["access_token"]) == (repr(FILTERED), repr(FILTERED))
    assert sent["issued"] == {"token": repr(IN_A_DICT)}
