"""The end-to-end Starlette app, with a lifespan that writes its start-up and shut-down to a file."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from apps.starlette_app import wrapped  # initialises sentry_sdk from SENTRY_DSN

LIFESPAN_LOG = Path(os.environ["E2E_LIFESPAN_LOG"])


def record(phase: str) -> None:
    with LIFESPAN_LOG.open("a") as log:
        log.write(f"{phase}\n")


@contextlib.asynccontextmanager
async def lifespan(app):
    record("startup")
    yield
    record("shutdown")


app = wrapped(lifespan)
