"""The measured application and its input, built once at import so no variant pays for them."""

from __future__ import annotations

from typing import Any

PATH = "/api/items/42"
QUERY = b"page=2&sort=-created&filter=active&q=blue+shoes"
BODY = b'{"name": "blue shoes", "size": 42, "tags": ["sale", "new"]}'

# What a browser behind a proxy sends: enough headers that decoding them is not free.
HEADERS = [
    (b"host", b"shop.example.com"),
    (
        b"user-agent",
        b"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    ),
    (b"accept", b"application/json, text/plain, */*"),
    (b"accept-language", b"en-GB,en;q=0.8"),
    (b"accept-encoding", b"gzip, deflate, br"),
    (b"content-type", b"application/json"),
    (b"content-length", str(len(BODY)).encode()),
    (b"cookie", b"session=8f14e45fceea167a5a36dedd4bea2543; theme=dark"),
    (b"authorization", b"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJl"),
    (b"x-forwarded-for", b"203.0.113.7, 10.0.0.2"),
]

SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.4"},
    "http_version": "1.1",
    "server": ("127.0.0.1", 8000),
    "client": ("10.0.0.2", 51234),
    "scheme": "http",
    "method": "POST",
    "root_path": "",
    "path": PATH,
    "raw_path": PATH.encode(),
    "query_string": QUERY,
    "headers": HEADERS,
    "state": {},
}

REQUEST_MESSAGE = {"type": "http.request", "body": BODY, "more_body": False}
RESPONSE_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/json"), (b"content-length", b"12")],
}
RESPONSE_BODY = {"type": "http.response.body", "body": b'{"ok": true}'}


class Boom(Exception):  # noqa: N818 - the name is what an event's title shows
    """The failure the error path raises; a type of its own so nothing else is caught by mistake."""


# Both apps take the whole ASGI signature, whichever arguments they use.
async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:  # noqa: ARG001
    """Read the body and answer 200: the cheapest app that still speaks the whole HTTP exchange."""
    await receive()
    await send(RESPONSE_START)
    await send(RESPONSE_BODY)


async def failing_app(scope: dict[str, Any], receive: Any, send: Any) -> None:  # noqa: ARG001
    """Fail after reading the body, before answering: the path that produces an error event."""
    await receive()
    msg = "boom"
    raise Boom(msg)


async def receive() -> dict[str, Any]:
    """Hand over the whole body at once, as a server does for a small request."""
    return REQUEST_MESSAGE


async def send(message: dict[str, Any]) -> None:
    """Accept every message, like a server whose socket never blocks."""
