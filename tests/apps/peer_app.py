"""FastAPI and Litestar apps that read bodies, stream and set users as real apps do, for real servers.

``PEER_INTEGRATIONS=defaults`` keeps sentry_sdk's own integrations on, as most apps run it;
``PEER_TRACE_LIFECYCLE=stream`` streams spans; ``PEER_LAYERED=1`` puts a ``@app.middleware("http")`` (Starlette's BaseHTTPMiddleware) in front.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from typing import Annotated, Any

import sentry_sdk
from fastapi import Body, Depends, FastAPI, HTTPException, Request, WebSocket
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from litestar import Litestar, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body as LitestarBody
from starlette.responses import PlainTextResponse, StreamingResponse

from apps import reached
from sentry_asgi import SentryMiddleware

sentry_sdk.init(
    dsn=os.environ["SENTRY_DSN"],
    traces_sample_rate=1.0,
    auto_enabling_integrations=os.environ.get("PEER_INTEGRATIONS") == "defaults",
    trace_lifecycle=os.environ.get("PEER_TRACE_LIFECYCLE", "static"),
)


def rendering(name: str) -> Any:
    """A span of the app's own, in whichever API the trace lifecycle offers."""
    if os.environ.get("PEER_TRACE_LIFECYCLE") == "stream":
        return sentry_sdk.traces.start_span(name=name)
    return sentry_sdk.start_span(op="render", name=name)


def digest(body: bytes) -> dict[str, Any]:
    """What the app received, for the client to compare with what it sent."""
    return {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}


api = FastAPI()
api.add_middleware(
    CORSMiddleware, allow_origins=["https://shop.example"], allow_methods=["*"], allow_headers=["*"]
)


class PaymentError(Exception):
    """An error the app answers itself, with a 500 of its own."""


@api.exception_handler(PaymentError)
async def payment_failed(request: Request, error: PaymentError) -> JSONResponse:
    return JSONResponse({"error": str(error)}, status_code=500)


if os.environ.get("PEER_LAYERED"):

    @api.middleware("http")
    async def timing(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers["x-layered"] = "1"
        return response


@api.post("/body")
async def whole_body(request: Request) -> dict[str, Any]:
    return digest(await request.body())


@api.post("/upload")
async def upload(request: Request) -> dict[str, Any]:
    reached("upload")  # a test leaves mid-upload only once the view reads the body
    return digest(await request.body())


@api.post("/stream")
async def streamed_body(request: Request) -> dict[str, Any]:
    return digest(b"".join([chunk async for chunk in request.stream()]))


@api.post("/model")
async def model(payload: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008 - FastAPI's way
    if payload.get("fail"):
        raise RuntimeError("model failed")
    return {"keys": sorted(payload)}


def sync_user(request: Request) -> str:
    sentry_sdk.set_user({"id": request.headers["x-user"] + "-sync"})
    return "sync"


async def async_user(request: Request) -> str:
    sentry_sdk.set_user({"id": request.headers["x-user"] + "-async"})
    return "async"


async def yielding_user(request: Request):  # a FastAPI generator dependency
    sentry_sdk.set_user({"id": request.headers["x-user"] + "-yield"})
    yield "yield"


@api.get("/users/sync")
def with_sync_user(user: str = Depends(sync_user)) -> None:
    raise LookupError(user)


@api.get("/users/async")
async def with_async_user(user: str = Depends(async_user)) -> None:
    raise LookupError(user)


@api.get("/users/yield")
async def with_yielding_user(user: str = Depends(yielding_user)) -> None:
    raise LookupError(user)


@api.post("/ignore")
async def ignore_body(request: Request) -> dict[str, Any]:
    if request.query_params.get("fail"):
        msg = "body never read"
        raise RuntimeError(msg)
    return {"ok": True}


@api.get("/renamed")
async def renamed() -> dict[str, str]:
    sentry_sdk.get_current_scope().set_transaction_name("checkout")
    sentry_sdk.capture_message("renamed")
    return {"trace": sentry_sdk.get_traceparent() or ""}


@api.get("/chunks")
async def chunks() -> StreamingResponse:
    async def produce():
        for i in range(3):
            with rendering(f"chunk {i}"):
                yield f"chunk {i}\n"

    return StreamingResponse(produce(), media_type="text/plain")


@api.get("/events")
async def events() -> StreamingResponse:
    async def produce():
        for i in range(3):
            yield f"data: {i}\n\n"

    return StreamingResponse(produce(), media_type="text/event-stream")


@api.get("/broken")
async def broken() -> StreamingResponse:
    def produce():  # a sync generator, iterated in the thread pool
        with rendering("first"):
            yield "first\n"
        msg = "generator failed midway"
        raise ConnectionAbortedError(msg)

    return StreamingResponse(produce(), media_type="text/plain")


@api.get("/forever")
async def forever() -> StreamingResponse:
    async def produce():  # server-sent events until the client leaves
        i = 0
        while True:
            yield f"data: {i}\n\n"
            i += 1
            await asyncio.sleep(0.01)

    return StreamingResponse(produce(), media_type="text/event-stream")


@api.get("/http-500")
async def http_500() -> None:
    raise HTTPException(status_code=500, detail="upstream broke")


@api.get("/payment")
async def payment() -> None:
    msg = "card declined by the bank"
    raise PaymentError(msg)


@api.websocket("/ws")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    text = await websocket.receive_text()
    await websocket.send_text(text)
    await websocket.close()


@api.websocket("/chat")
async def chat(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:  # until the client leaves, as Starlette's documentation writes it
        await websocket.send_text(await websocket.receive_text())


@api.api_route("/health", methods=["GET", "HEAD"])
async def health() -> PlainTextResponse:
    return PlainTextResponse("ok")


@api.api_route("/items/{item_id}", methods=["GET", "HEAD"])
async def item(item_id: int, request: Request) -> dict[str, Any]:
    if request.query_params.get("fail"):
        msg = f"item {item_id} failed"
        raise ValueError(msg)
    return {"item": item_id, "url": str(request.url)}


app = SentryMiddleware(api, transaction_style="url", exclude_paths=["/health"])


@post("/data")
async def litestar_data(data: dict[str, Any]) -> dict[str, Any]:
    if data.get("fail"):
        msg = "data failed"
        raise RuntimeError(msg)
    return {"keys": sorted(data)}


@post("/form")
async def litestar_form(
    data: Annotated[dict[str, str], LitestarBody(media_type=RequestEncodingType.URL_ENCODED)],
) -> dict[str, Any]:
    return {"size": len(data.get("blob", ""))}


async def _reading_raw(_: Any) -> None:
    reached("raw")  # Litestar reads the body next, before the handler: a test leaves then


@post("/raw", before_request=_reading_raw)
async def litestar_raw(body: bytes) -> dict[str, Any]:
    return digest(body)


@get("/items/{item_id:int}")
async def litestar_item(item_id: int) -> dict[str, int]:
    return {"item": item_id}


litestar_app = SentryMiddleware(
    Litestar([litestar_data, litestar_form, litestar_raw, litestar_item]), transaction_style="url"
)
