"""Plain helpers for the inbox tests: raw HTTP to the inbox, hand-built envelopes, a real SDK."""

from __future__ import annotations

import http.client
import json
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import sentry_sdk

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sentry_asgi.inbox._server import InboxServer


@contextmanager
def sdk(**options: Any) -> Iterator[None]:
    """Run the block with a real sentry_sdk client, flushed and closed at its end."""
    options.setdefault("default_integrations", False)  # nothing from the test process leaks in
    sentry_sdk.init(**options)
    try:
        yield
        sentry_sdk.flush(timeout=10)
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)  # back to a client that sends nowhere


def post(
    server: InboxServer,
    body: bytes,
    *,
    path: str = "/api/1/envelope/",
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    """POST raw bytes to the inbox; return the status and the body text."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def get(server: InboxServer, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """GET a page of the inbox; return the status and the body text."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def envelope(*items: tuple[dict[str, Any], bytes], header: dict[str, Any] | None = None) -> bytes:
    """Serialise an envelope by hand: a header line, then each item's header and payload."""
    lines = [json.dumps(header or {}).encode()]
    for item_header, payload in items:
        lines += [json.dumps({**item_header, "length": len(payload)}).encode(), payload]
    return b"\n".join(lines) + b"\n"


def event_item(event: dict[str, Any], kind: str = "event") -> tuple[dict[str, Any], bytes]:
    """Build an event (or transaction) item for `envelope`."""
    return {"type": kind}, json.dumps(event).encode()


def wait_for(predicate: Any, timeout: float = 10) -> Any:
    """Poll until ``predicate()`` is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    msg = "condition not met in time"
    raise AssertionError(msg)
