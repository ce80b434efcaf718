"""Apps the tests serve, in process and under real servers, and what they share."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def reached(point: str) -> None:
    """Leave a mark that a request got to ``point``, for a test that must act only once it has.

    The test names the folder in ``APP_MARKS``; served by hand, the app writes nothing.
    """
    folder = os.environ.get("APP_MARKS")
    if folder:
        Path(folder, point).touch()


async def read_body(receive: Any) -> bytes:
    """Read a request body to its end, as an app does before parsing it."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body
