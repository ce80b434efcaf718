"""The inbox as an ASGI app: envelope ingestion for the SDKs, and the pages for people."""

from __future__ import annotations

import asyncio
import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote_to_bytes

from sentry_asgi.inbox import _pages
from sentry_asgi.inbox._decode import BadEncodingError, TooLargeError, decode
from sentry_asgi.inbox._envelope import EnvelopeError, parse
from sentry_asgi.inbox._hosts import AllowedHosts, host_name, machine_names, refusal
from sentry_asgi.inbox._layout import SCRIPT

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection, MutableMapping

    from sentry_asgi.inbox._store import Store
    from sentry_asgi.inbox._summary import Summary

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]

DEFAULT_SEND_TO = ("http://local@127.0.0.1:8969/1", "http://localhost:8969/stream")
"""The DSN and the Spotlight URL of an inbox on its default port."""

MAX_ENVELOPE_SIZE = 50 * 1024 * 1024
"""Bytes, before and after decompression; larger envelopes get a 413."""

# the two paths SDKs post to: a DSN's project endpoint, and Spotlight's
_INGEST = re.compile(r"^/(?:api/[^/]+/envelope/?|stream/?)$")
# matched on the path as sent: the key is percent-decoded once (see _layout.inbox_path)
_PAGES = re.compile(rb"^/(events|traces|attachments)/([^/]+)$")
_CSP = (
    b"default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self';"
    b" connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class _Refused(Exception):  # noqa: N818 - an answer, not a failure
    """Answer the request with this status and one-line reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class InboxApp:
    """Receives Sentry envelopes into a `Store`, reports each event, and serves the pages."""

    def __init__(
        self,
        store: Store,
        *,
        on_event: Callable[[Summary], None] | None = None,
        allowed_hosts: Collection[str] = (),
        max_envelope_size: int = MAX_ENVELOPE_SIZE,
        send_to: tuple[str, str] = DEFAULT_SEND_TO,
    ) -> None:
        self.store = store
        self.on_event = on_event
        # Names beyond IP addresses, localhost and this machine's own ("*": any): a website's
        # name pointed at this machine (DNS rebinding) gets a 421, and reads and stores nothing.
        self.allowed_hosts = AllowedHosts(allowed_hosts)
        self._machine_names: frozenset[str] | None = None  # asked for once, on first need
        self.max_envelope_size = max_envelope_size
        self.send_to = send_to  # the DSN and the Spotlight URL the empty issue list offers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # websockets: nothing to offer, and uvicorn closes the connection
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        cors = _cors(scope, headers)
        try:
            status, content_type, body = await self._route(scope, receive, headers)
        except _Refused as refused:
            status, content_type, body = refused.status, "text/plain", refused.reason.encode()
        await _respond(send, status, content_type, body, cors)

    async def _route(
        self, scope: Scope, receive: Receive, headers: dict[str, str]
    ) -> tuple[int, str, bytes]:
        await self._check_host(headers.get("host", ""))
        path, method = scope["path"], scope["method"]
        if _INGEST.match(path):
            return await self._accept(method, receive, headers)
        if method not in ("GET", "HEAD"):
            raise _Refused(405, "method not allowed")
        if path == "/":
            html = await asyncio.to_thread(_pages.index, self.store, self.send_to)
            return 200, "text/html; charset=utf-8", html.encode()
        if path == "/api/latest":
            latest = await asyncio.to_thread(self.store.latest)
            return 200, "application/json", json.dumps({"latest": latest}).encode()
        if path == "/inbox.js":
            return 200, "text/javascript; charset=utf-8", SCRIPT.encode()
        match = _PAGES.match(_raw_path(scope))
        if match:
            key = unquote_to_bytes(match[2]).decode("utf-8", "replace")
            return await self._page(match[1].decode("ascii"), key)
        raise _Refused(404, "not found")

    async def _check_host(self, host_header: str) -> None:
        """Refuse a request for a host name that is not known to be this machine's."""
        name = host_name(host_header)
        if self.allowed_hosts.allows_at_once(name):
            return
        if self._machine_names is None:
            self._machine_names = await asyncio.to_thread(machine_names)
        if name not in self._machine_names:
            raise _Refused(421, refusal(name))

    async def _page(self, kind: str, key: str) -> tuple[int, str, bytes]:
        if kind == "attachments":
            number = _row_number(key)
            found = (
                await asyncio.to_thread(self.store.attachment, number)
                if number is not None
                else None
            )
            if found is None:
                raise _Refused(404, "no such attachment")
            # served as a download, never rendered: it is whatever the app sent
            return 200, "application/octet-stream", bytes(found["data"])
        render = _pages.event if kind == "events" else _pages.trace
        html = await asyncio.to_thread(render, self.store, key)
        if html is None:
            raise _Refused(404, f"no such {kind[:-1]}")
        return 200, "text/html; charset=utf-8", html.encode()

    async def _accept(
        self, method: str, receive: Receive, headers: dict[str, str]
    ) -> tuple[int, str, bytes]:
        """Take an envelope from an SDK, or answer a browser SDK's CORS preflight."""
        origin = headers.get("origin")
        if origin is not None and not _loopback_origin(origin):
            # a page of any other site must not be able to fill this inbox
            raise _Refused(403, "envelopes from web pages are taken from loopback origins only")
        if method == "OPTIONS" and origin is not None:
            return 204, "text/plain", b""  # the preflight; its headers come from _cors
        if method != "POST":
            raise _Refused(405, "send envelopes with POST")
        return await self._ingest(receive, headers)

    async def _ingest(self, receive: Receive, headers: dict[str, str]) -> tuple[int, str, bytes]:
        limit = self.max_envelope_size
        declared = headers.get("content-length", "")
        if declared.isdecimal() and (len(declared) > _ROW_NUMBER_DIGITS or int(declared) > limit):
            raise _Refused(413, f"envelope larger than {limit} bytes")
        body = await _read_body(receive, limit)
        try:
            envelope = parse(decode(body, headers.get("content-encoding", ""), limit))
            received = await asyncio.to_thread(self.store.add, envelope)
        except TooLargeError:
            raise _Refused(413, f"envelope larger than {limit} bytes") from None
        except (BadEncodingError, EnvelopeError) as exc:
            raise _Refused(400, str(exc).splitlines()[0]) from None
        if self.on_event is not None:
            for summary in received.summaries:
                self.on_event(summary)
        return 200, "application/json", json.dumps({"id": received.event_id or None}).encode()


def _raw_path(scope: Scope) -> bytes:
    """The path as the client sent it, still percent-encoded.

    ``path`` is decoded already: an id with a ``/`` would split in two, and one with a ``%``
    be decoded twice. A server that keeps no ``raw_path`` gets its ``path`` encoded again.
    """
    raw = scope.get("raw_path")
    return raw if isinstance(raw, bytes) else quote(scope["path"]).encode("ascii")


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Refused(400, "client disconnected before the body ended")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _Refused(413, f"envelope larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _loopback_origin(origin: str) -> bool:
    """Tell whether a browser page's origin is on this machine (an app under development)."""
    match = re.fullmatch(r"https?://(\[::1\]|127\.0\.0\.1|localhost)(:\d+)?", origin.lower())
    return match is not None


def _cors(scope: Scope, headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """CORS headers that let a browser SDK on a loopback page send to the ingest paths."""
    origin = headers.get("origin")
    if origin is None or not _INGEST.match(scope["path"]) or not _loopback_origin(origin):
        return []
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-allow-methods", b"POST, OPTIONS"),
        (
            b"access-control-allow-headers",
            b"content-type, content-encoding, x-sentry-auth, sentry-trace, baggage",
        ),
        (b"access-control-max-age", b"600"),
        (b"vary", b"origin"),
    ]


async def _respond(
    send: Send,
    status: int,
    content_type: str,
    body: bytes,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
                # the pages load nothing from anywhere else, and run no script but /inbox.js
                (b"content-security-policy", _CSP),
                (b"x-content-type-options", b"nosniff"),
                (b"x-frame-options", b"DENY"),  # frame-ancestors, for browsers without it
                (b"referrer-policy", b"no-referrer"),
                *(extra or ()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


# SQLite's row ids are 64-bit: 18 digits always fit, and int() of text this short never refuses.
_ROW_NUMBER_DIGITS = 18


def _row_number(text: str) -> int | None:
    """The number a path names, if it can be a row id (``"²"`` is a digit, but no number)."""
    if text.isdecimal() and len(text) <= _ROW_NUMBER_DIGITS:
        return int(text)
    return None
