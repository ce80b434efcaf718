"""The git-ignored folder where the end-to-end tests keep what they install once."""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

CACHE = Path(__file__).resolve().parent.parent / ".cache"


@contextmanager
def cache_lock(name: str) -> Iterator[None]:
    """Hold the cache's lock ``name``: test processes running at once install a thing once."""
    CACHE.mkdir(exist_ok=True)
    with (CACHE / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
