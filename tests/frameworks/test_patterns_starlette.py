"""Starlette apps as users write them: each failure reported once, as itself, and nothing else."""

from __future__ import annotations

import pytest
from conftest import call
from starlette.applications import Starlette
from starlette.endpoints import WebSocketEndpoint
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from test_scope_isolation import sent_session_totals

from frameworks.helpers import OutOfStockError, frame_functions, websocket_scope
from frameworks.patterns import INTEGRATIONS, STYLES, Pattern, check
from sentry_asgi import SentryMiddleware

pytestmark = pytest.mark.anyio


async def login(request):
    form = await request.form()
    raise OutOfStockError(form["user"])


class Chat(WebSocketEndpoint):
    """A websocket endpoint whose message handler fails."""

    encoding = "text"

    async def on_receive(self, websocket, data):
        raise OutOfStockError(data)


def shop(directory: str = ".") -> Starlette:
    return Starlette(
        routes=[
            Route("/login", login, methods=["POST"]),
            WebSocketRoute("/chat", Chat),
            Mount("/static", StaticFiles(directory=directory), name="static"),
        ]
    )


async def test_static_files_404_is_not_reported(sentry_init, tmp_path):
    """A file StaticFiles does not have is the client's 404: no event, an exited session, named after the mount."""
    for style in STYLES:
        for integrations in INTEGRATIONS:
            pattern = Pattern(
                lambda: shop(str(tmp_path)), "/static/missing.css", 404,
                names={"url": "/static", "endpoint": "starlette.staticfiles.StaticFiles"},
                transaction_status="not_found",
            )  # fmt: skip
            await check(sentry_init, pattern, style, integrations)


@pytest.mark.parametrize("integrations", INTEGRATIONS)
async def test_websocket_endpoint_failing_in_on_receive_is_reported_once(integrations, sentry_init):
    """A WebSocketEndpoint's on_receive that raises is one event, as itself, named after its route; its connection crashed."""
    transport = sentry_init(
        release="shop@1.0", traces_sample_rate=1.0, **INTEGRATIONS[integrations]
    )
    app = SentryMiddleware(shop(), transaction_style="url")
    incoming = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": "pen"},
    ]
    with pytest.raises(OutOfStockError):
        await call(app, websocket_scope("/chat"), incoming)
    (event,) = transport.events
    assert event["exception"]["values"][-1]["type"] == "OutOfStockError"
    assert "on_receive" in frame_functions(event)
    assert event["transaction"] == "/chat"
    (transaction,) = transport.transactions
    assert transaction["contexts"]["trace"]["status"] == "internal_error"
    assert sent_session_totals(transport) == {"crashed": 1}
