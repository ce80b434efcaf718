"""One real-world pattern of an app, sent through it wrapped and unwrapped, and what Sentry gets."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from conftest import started
from test_scope_isolation import sent_session_totals

from sentry_asgi import SentryMiddleware

if TYPE_CHECKING:
    from collections.abc import Callable

# sentry_sdk's integrations on (its defaults, auto-enabled ones included) and off.
INTEGRATIONS = {"on": {}, "off": {"auto_enabling_integrations": False}}
STYLES = ("url", "endpoint")


def each_way(test: Callable[..., Any]) -> Callable[..., Any]:
    """Run a pattern test in both naming styles, with sentry_sdk's integrations on and off."""
    by_style = pytest.mark.parametrize("style", STYLES)(test)
    return pytest.mark.parametrize("integrations", INTEGRATIONS)(by_style)


# A JSON body the app reads, and what an event carries of it.
BODY = {"json": {"name": "pen", "password": "hunter2"}}
FILTERED = {"name": "pen", "password": "[Filtered]"}
# A failure of the app's own, unhandled: the request crashed.
CRASH = {
    "exception": "OutOfStockError",
    "transaction_status": "internal_error",
    "session": "crashed",
}


@dataclass(frozen=True)
class Pattern:
    """A request to a fresh app, and the one report it must make (or none)."""

    app: Callable[[], Any]
    path: str
    status: int
    method: str = "GET"
    request: dict[str, Any] = field(default_factory=dict)  # httpx request keywords
    exception: str | None = None  # the app's exception type, when one is reported
    failed_status: bool = False  # reported as a failed-status event, without an exception
    # What sentry_sdk's integrations report instead, where they do (README: "Four things ...").
    integrations_exception: str | None = None
    data: Any = None  # the request body the event carries, filtered, where the app read it
    names: dict[str, str] = field(default_factory=dict)  # transaction_style: name
    transaction_status: str = "ok"
    session: str = "exited"  # exited, errored or crashed


@dataclass
class Outcome:
    """What one wrapped run sent, and what its client got."""

    response: httpx.Response
    events: list[dict[str, Any]]
    transactions: list[dict[str, Any]]
    sessions: dict[str, int]


async def send(app: Any, pattern: Pattern) -> httpx.Response:
    """The pattern's request, answered as a server would answer it."""
    await started(app)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.request(pattern.method, pattern.path, **pattern.request)


async def run(
    sentry_init: Any,
    pattern: Pattern,
    style: str,
    integrations: str,
    *,
    same_body: bool = True,
    **options: Any,
) -> Outcome:
    """The pattern's request through the wrapped app, after the same request to the app alone."""
    sentry_init(**INTEGRATIONS[integrations])
    bare = await send(pattern.app(), pattern)
    transport = sentry_init(
        release="shop@1.0", traces_sample_rate=1.0, **INTEGRATIONS[integrations], **options
    )
    response = await send(SentryMiddleware(pattern.app(), transaction_style=style), pattern)
    assert response.status_code == bare.status_code
    assert response.headers.get("content-type") == bare.headers.get("content-type")
    if same_body:
        assert response.headers.multi_items() == bare.headers.multi_items()
        assert response.content == bare.content
    assert response.status_code == pattern.status
    sessions = sent_session_totals(transport)
    return Outcome(response, transport.events, transport.transactions, sessions)


async def check(
    sentry_init: Any, pattern: Pattern, style: str, integrations: str, **run_options: Any
) -> Outcome:
    """Run the pattern (see :func:`run`) and check its one report, or none; the outcome, for more."""
    outcome = await run(sentry_init, pattern, style, integrations, **run_options)
    assert_reported(outcome, pattern, style, integrations)
    return outcome


def assert_titled_after(event: dict[str, Any], exception: str) -> None:
    """The event shows the app's exception: as itself, or as the one real error of a group around it."""
    primary = event["exception"]["values"][-1]
    if primary["type"] != exception:
        if sys.version_info >= (3, 11):  # sentry_sdk sends Python 3.10's backport as no group
            assert primary["mechanism"].get("is_exception_group")
        assert primary["value"].startswith(f"{exception}: ")


def assert_reported(outcome: Outcome, pattern: Pattern, style: str, integrations: str) -> None:
    """One event for a real failure (none otherwise), the app's own, named and counted right."""
    exception = pattern.exception
    if integrations == "on" and pattern.integrations_exception:
        exception = pattern.integrations_exception
    if exception:
        (event,) = outcome.events
        assert_titled_after(event, exception)
    elif pattern.failed_status:
        (event,) = outcome.events
        assert "exception" not in event
        assert event["message"].startswith(f"{pattern.status} ")
    else:
        assert outcome.events == []
    for event in outcome.events:
        assert event["request"]["url"] == f"http://testserver{pattern.path.split('?')[0]}"
        if pattern.data is not None:
            assert event["request"]["data"] == pattern.data
    (transaction,) = outcome.transactions
    name = pattern.names.get(style if integrations == "off" else "on")
    if name:
        assert transaction["transaction"] == name
        for event in outcome.events:
            assert event["transaction"] == name
    assert transaction["contexts"]["trace"]["status"] == pattern.transaction_status
    assert outcome.sessions == {pattern.session: 1}
