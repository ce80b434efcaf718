"""Real framework apps: an HTTP client helper and the README matrix tags."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest
from conftest import started

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Copy each matrix(framework, feature) tag into the JUnit report that scripts/matrix reads."""
    for item in items:
        for marker in item.iter_markers("matrix"):
            framework, feature = marker.args
            note = marker.kwargs.get("note", "")
            item.user_properties.append(("matrix", f"{framework}:{feature}:{note}".rstrip(":")))


@pytest.fixture
def http() -> Callable[..., Awaitable[httpx.Response]]:
    """Send one request to an ASGI app in process, errors answered as a server would."""

    async def send(app: Any, path: str, method: str = "GET", **kwargs: Any) -> httpx.Response:
        await started(app)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.request(method, path, **kwargs)

    return send
