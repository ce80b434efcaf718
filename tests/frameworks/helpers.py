"""Small helpers the framework tests share."""

from __future__ import annotations

from typing import Any

import sentry_sdk

try:
    from litestar.di import NamedDependency
    from litestar.params import FromPath, JSONBody
except ImportError:  # before Litestar 2.25, which infers them from the parameter's name

    class _Inferred:
        """``X[T]`` is ``T``: Litestar reads the parameter's kind from its name."""

        def __class_getitem__(cls, item: Any) -> Any:
            return item

    FromPath = JSONBody = NamedDependency = _Inferred


class MessageBeforeRouting:
    """A middleware in front of an app's router that sends an event before the router has run."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        sentry_sdk.capture_message("before routing")
        await self.app(scope, receive, send)


def websocket_scope(path: str) -> dict[str, Any]:
    """A websocket scope as uvicorn builds it."""
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("203.0.113.7", 51000),
        "server": ("127.0.0.1", 8000),
        "subprotocols": [],
    }


def frame_functions(event: dict[str, Any]) -> list[str]:
    """The function names in the stack trace of the event's (innermost) exception."""
    frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
    return [frame.get("function") for frame in frames]


def named(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Each event's or transaction's name and its source."""
    return [(item["transaction"], item["transaction_info"]["source"]) for item in items]


def assert_reported_as_itself(
    event: dict[str, Any], kind: str, value: str, mechanism: str, frame: str, url: str
) -> None:
    """The event is the one exception, unhandled under ``mechanism``, with its view's frame and the request."""
    (reported,) = event["exception"]["values"]
    assert (reported["type"], reported["value"]) == (kind, value)
    assert reported["mechanism"] == {"type": mechanism, "handled": False}
    assert frame in frame_functions(event)
    assert event["request"]["url"] == url


class OutOfStockError(Exception):
    """A domain error the app answers itself."""


async def assert_answer_reported_when_5xx(
    transport: Any, http: Any, app: Any, status: int, *, reported: bool, mechanism: str
) -> None:
    """Wrapped (twice: the second adds nothing), an OutOfStockError answered ``status`` is reported as itself only when asked."""
    from sentry_asgi import SentryMiddleware

    wrapped = SentryMiddleware(app)
    SentryMiddleware(app)
    assert (await http(wrapped, f"/stock/{status}")).status_code == status
    if reported:
        (event,) = transport.events
        assert event["exception"]["values"][-1]["type"] == "OutOfStockError"
        assert event["exception"]["values"][-1]["mechanism"] == {
            "type": mechanism,
            "handled": False,
        }
    else:
        assert transport.events == []


async def assert_late_handlers_report(
    transport: Any, http: Any, wrapped: Any, catch_all: int
) -> None:
    """Handlers set after wrapping report as earlier ones: the catch-all's ValueError (answered ``catch_all``), and an OutOfStockError answered 503, never the one answered 404."""
    assert (await http(wrapped, "/items/9")).status_code == catch_all
    assert (await http(wrapped, "/stock/503")).status_code == 503
    assert (await http(wrapped, "/stock/404")).status_code == 404
    assert [e["exception"]["values"][-1]["type"] for e in transport.events] == [
        "ValueError",
        "OutOfStockError",
    ]
