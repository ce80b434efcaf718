"""Litestar's wrapper of a failure after the response started, taken off the app's exception."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from conftest import LITESTAR_VERSION, Conversation, http_scope
from litestar import Litestar, Response, get
from litestar.background_tasks import BackgroundTask
from litestar.exceptions import LitestarException
from litestar.response import Stream
from uvicorn.protocols.utils import ClientDisconnected

from sentry_asgi import SentryMiddleware

WRAPPERS_DETAIL = "Exception caught after response started"


def sdk_integration(enabled: bool) -> list[object]:
    from sentry_sdk.integrations.litestar import LitestarIntegration

    return [LitestarIntegration()] if enabled else []


def get_within(seconds: float, app: object, path: str) -> httpx.Response:
    """Send one request from a thread of its own: a request that never ends fails the test."""
    answers: list[httpx.Response] = []

    async def send() -> None:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            answers.append(await client.get(path))

    thread = threading.Thread(target=asyncio.run, args=(send(),), daemon=True)
    thread.start()
    thread.join(seconds)
    assert answers, f"no answer within {seconds}s"
    return answers[0]


async def fail_in_a_loop() -> None:
    error = LitestarException(WRAPPERS_DETAIL)  # re-raised from a wrapped app of its own
    error.__cause__ = error
    raise error


@get("/loop")
async def loop() -> Response[str]:
    return Response("paid", background=BackgroundTask(fail_in_a_loop))


@pytest.mark.parametrize("sdk", [False, True], ids=["alone", "with-sdk-integration"])
def test_a_wrapped_exception_caused_by_itself_is_reported_without_hanging(sentry_init, sdk):
    """A LitestarException whose cause is itself, wrapped after the response: reported once, the request ends."""
    transport = sentry_init(auto_enabling_integrations=False, integrations=sdk_integration(sdk))
    response = get_within(10, SentryMiddleware(Litestar([loop])), "/loop")
    assert (response.status_code, response.text) == (200, "paid")
    (event,) = transport.events
    (reported,) = event["exception"]["values"]
    assert (reported["type"], reported["value"]) == ("LitestarException", WRAPPERS_DETAIL)
    assert "fail_in_a_loop" in [frame["function"] for frame in reported["stacktrace"]["frames"]]


async def chunks():
    for _ in range(3):
        yield b"chunk"


@get("/feed")
async def feed() -> Stream:
    return Stream(chunks())


async def stream_to_a_client_that_leaves(app: object, error: OSError) -> Conversation:
    """Stream ``/feed`` through a server whose second write fails with ``error``."""
    conversation = Conversation(app, http_scope("/feed"), [{"type": "http.request", "body": b""}])
    write = conversation.send

    async def send(message: dict[str, object]) -> None:
        body = message["type"] == "http.response.body" and message.get("body")
        if body and any(sent.get("body") for sent in conversation.sent):
            raise error
        await write(message)

    conversation.send = send  # type: ignore[method-assign]
    # Litestar before 2.9 lets the server's error through, not wrapped.
    with pytest.raises(LitestarException if LITESTAR_VERSION >= (2, 9) else type(error)):
        await conversation.run()
    return conversation


@pytest.mark.anyio
@pytest.mark.parametrize("sdk", [False, True], ids=["alone", "with-sdk-integration"])
async def test_a_disconnect_mid_stream_is_not_reported(sentry_init, sdk):
    """The server's write failing mid-stream because the client left, wrapped by Litestar: no event."""
    transport = sentry_init(auto_enabling_integrations=False, integrations=sdk_integration(sdk))
    app = SentryMiddleware(Litestar([feed]))
    conversation = await stream_to_a_client_that_leaves(app, ClientDisconnected())
    assert conversation.sent[0]["status"] == 200
    assert transport.events == []


@pytest.mark.anyio
@pytest.mark.parametrize("sdk", [False, True], ids=["alone", "with-sdk-integration"])
async def test_a_write_failing_mid_stream_is_not_reported(sentry_init, sdk):
    """The server's write failing mid-stream (connection reset), in Litestar's task group and wrapper: no event."""
    transport = sentry_init(auto_enabling_integrations=False, integrations=sdk_integration(sdk))
    app = SentryMiddleware(Litestar([feed]))
    await stream_to_a_client_that_leaves(app, ConnectionResetError("peer reset"))
    assert transport.events == []


def load_api_key() -> str:
    raise KeyError("api_key")


@get("/pay")
async def pay() -> str:
    try:
        return load_api_key()
    except KeyError as missing:
        raise LitestarException("payment provider misconfigured") from missing


@pytest.mark.anyio
@pytest.mark.parametrize("sdk", [False, True], ids=["alone", "with-sdk-integration"])
async def test_the_apps_own_litestar_exception_is_reported_as_itself(sentry_init, http, sdk):
    """A LitestarException the app raises from another error is the app's: titled after itself, its cause kept."""
    transport = sentry_init(auto_enabling_integrations=False, integrations=sdk_integration(sdk))
    response = await http(SentryMiddleware(Litestar([pay])), "/pay")
    assert response.status_code == 500
    (event,) = transport.events
    cause, raised = event["exception"]["values"]
    assert (raised["type"], raised["value"]) == (
        "LitestarException",
        "payment provider misconfigured",
    )
    assert (cause["type"], cause["value"]) == ("KeyError", "'api_key'")
    assert "pay" in [frame["function"] for frame in raised["stacktrace"]["frames"]]


class MailerDownError(Exception):
    """An error the app's before_send drops as expected."""


async def send_receipt() -> None:
    raise MailerDownError("mailer gone")


@get("/checkout")
async def checkout() -> Response[str]:
    return Response("paid", background=BackgroundTask(send_receipt))


def drop_mailer_errors(event: dict[str, object], hint: dict[str, object]) -> object:
    exc_info = hint.get("exc_info")
    return None if isinstance(exc_info and exc_info[1], MailerDownError) else event  # type: ignore[index]


@pytest.mark.anyio
@pytest.mark.parametrize("sdk", [False, True], ids=["alone", "with-sdk-integration"])
async def test_before_send_sees_the_exception_the_event_shows(sentry_init, http, sdk):
    """A before_send dropping the app's exception by its hint drops it however Litestar wrapped it."""
    transport = sentry_init(
        auto_enabling_integrations=False,
        integrations=sdk_integration(sdk),
        before_send=drop_mailer_errors,
    )
    response = await http(SentryMiddleware(Litestar([checkout])), "/checkout")
    assert (response.status_code, response.text) == (200, "paid")
    assert transport.events == []
