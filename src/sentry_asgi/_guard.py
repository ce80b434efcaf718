"""Containment for the middleware's own faults: logged, never raised into the app."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

# sentry_sdk's own logger: its `debug=True` option shows what went wrong here too.
logger = logging.getLogger("sentry_sdk.errors")


@contextmanager
def contained() -> Iterator[None]:
    """Log and swallow an ``Exception`` from the block; let cancellation through."""
    try:
        yield
    except Exception:
        logger.exception("sentry-asgi: internal error (the request is unaffected)")
