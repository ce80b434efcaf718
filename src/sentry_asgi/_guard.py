"""Containment for the middleware's own faults: logged, never raised into the app."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

# sentry_sdk's own logger: its `debug=True` option shows what went wrong here too.
logger = logging.getLogger("sentry_sdk.errors")


def log_fault() -> None:
    """Log the exception being handled as the middleware's own fault."""
    logger.error("sentry-asgi: internal error (the request is unaffected)", exc_info=True)  # noqa: LOG014


@contextmanager
def contained() -> Iterator[None]:
    """Log and swallow an ``Exception`` from the block; let cancellation through."""
    try:
        yield
    except Exception:  # noqa: BLE001 - whatever went wrong is ours, and logged
        log_fault()
