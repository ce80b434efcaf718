"""Apps the tests serve, in process and under real servers, and what they share."""

from __future__ import annotations

from typing import Any


async def read_body(receive: Any) -> bytes:
    """Read a request body to its end, as an app does before parsing it."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body
