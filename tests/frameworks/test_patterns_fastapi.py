"""FastAPI apps as users write them: each failure reported once, as itself, and nothing else."""

from __future__ import annotations

import asyncio
from typing import Annotated

import fastapi
import pytest
from conftest import FASTAPI_VERSION
from fastapi import BackgroundTasks, Depends, FastAPI, HTTPException
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from frameworks.helpers import OutOfStockError
from frameworks.patterns import CRASH, Pattern, check, each_way

pytestmark = pytest.mark.anyio
SERVER_SENT_EVENTS = FASTAPI_VERSION >= (0, 135)  # fastapi.sse arrived in FastAPI 0.135
SSE = "server-sent events raising midway"
# FastAPI 0.106 to 0.117 run a yield dependency's exit code before the response is sent: a 500.
AFTER_YIELD_STATUS = 500 if (0, 106) <= FASTAPI_VERSION < (0, 118) else 200
VIEWS = "frameworks.test_patterns_fastapi.shop"


class Item(BaseModel):
    """A response and request model."""

    name: str
    price: int


def in_stock(item_id: int) -> int:
    raise OutOfStockError(item_id)


async def session():
    yield "db"
    msg = "commit failed"
    raise OutOfStockError(msg)


async def transaction():
    try:
        yield "db"
    except OutOfStockError:
        await asyncio.sleep(0)  # rolled back
        raise


def restock(item_id: int) -> None:
    raise OutOfStockError(item_id)


def shop() -> FastAPI:
    app = FastAPI()

    @app.get("/depends/{item_id}")
    async def depends(item_id: int, stock: Annotated[int, Depends(in_stock)]):
        return {"item": item_id}

    @app.post("/orders/{item_id}")
    async def order(item: Item, stock: Annotated[int, Depends(in_stock)]):
        return item

    @app.get("/yield/{item_id}")
    async def after_yield(item_id: int, db: Annotated[str, Depends(session)]):
        return {"item": item_id}

    @app.get("/model/{item_id}", response_model=Item)
    async def model(item_id: int):
        return {"name": "pen"}

    @app.post("/items/{item_id}")
    async def create(item_id: int, item: Item):
        return item

    @app.get("/down/{item_id}")
    async def down(item_id: int):
        raise HTTPException(status_code=503, detail="maintenance")

    @app.get("/stream/{item_id}")
    async def stream(item_id: int):
        async def chunks():
            yield b"first\n"
            raise OutOfStockError(item_id)

        return StreamingResponse(chunks(), media_type="text/event-stream")

    if SERVER_SENT_EVENTS:
        from fastapi.sse import EventSourceResponse  # FastAPI 0.135 and later

        @app.get("/events/{item_id}", response_class=EventSourceResponse)
        async def events(item_id: int):
            yield {"item": item_id}
            raise OutOfStockError(item_id)

    @app.post("/rollback/{item_id}")
    async def rollback(item_id: int, item: Item, db: Annotated[str, Depends(transaction)]):
        raise OutOfStockError(item.name)

    @app.get("/background/{item_id}")
    async def background(item_id: int, tasks: BackgroundTasks):
        tasks.add_task(restock, item_id)
        return {"queued": item_id}

    return app


def names(path: str, view: str) -> dict[str, str]:
    return {"url": path, "endpoint": f"{VIEWS}.<locals>.{view}", "on": path}


PATTERNS = {
    "depends raising": Pattern(
        shop, "/depends/1", 500,
        names=names("/depends/{item_id}", "depends"), **CRASH,
    ),
    "depends raising after the body was read": Pattern(
        shop, "/orders/1", 500, method="POST",
        request={"json": {"name": "pen", "price": 2, "password": "hunter2"}},
        data={"name": "pen", "price": 2, "password": "[Filtered]"},
        names=names("/orders/{item_id}", "order"), **CRASH,
    ),
    "yield dependency raising after the response": Pattern(
        shop, "/yield/1", AFTER_YIELD_STATUS,
        names=names("/yield/{item_id}", "after_yield"), **CRASH,
    ),
    "response validation error": Pattern(
        shop, "/model/1", 500, names=names("/model/{item_id}", "model"),
        **{**CRASH, "exception": "ResponseValidationError"},
    ),
    "request validation error": Pattern(
        shop, "/items/1", 422, method="POST", request={"json": {"name": "pen"}},
        names=names("/items/{item_id}", "create"), transaction_status="invalid_argument",
    ),
    "http exception 503": Pattern(
        shop, "/down/1", 503, failed_status=True, integrations_exception="HTTPException",
        names=names("/down/{item_id}", "down"),
        transaction_status="unavailable", session="errored",
    ),
    "stream raising midway": Pattern(
        shop, "/stream/1", 200,
        names=names("/stream/{item_id}", "stream"), **CRASH,
    ),
    SSE: Pattern(
        shop, "/events/1", 200, names=names("/events/{item_id}", "events"), **CRASH,
    ),
    "view raising through a yield dependency that rolls back": Pattern(
        shop, "/rollback/1", 500, method="POST", request={"json": {"name": "pen", "price": 2}},
        data={"name": "pen", "price": 2}, names=names("/rollback/{item_id}", "rollback"),
        **CRASH,
    ),
    "background task raising": Pattern(
        shop, "/background/1", 200,
        names=names("/background/{item_id}", "background"), **CRASH,
    ),
}  # fmt: skip


def pattern_names() -> list[object]:
    """Each pattern's name; server-sent events skipped where FastAPI has no fastapi.sse."""
    no_sse = pytest.mark.skipif(
        not SERVER_SENT_EVENTS,
        reason=f"fastapi.sse arrived in FastAPI 0.135 (installed: {fastapi.__version__})",
    )
    return [pytest.param(name, marks=no_sse) if name == SSE else name for name in PATTERNS]


@each_way
@pytest.mark.parametrize("name", pattern_names())
async def test_fastapi_pattern_is_reported_once_as_itself(name, style, integrations, sentry_init):
    """Each FastAPI pattern: one event per real failure, the app's own, named after its route, counted right."""
    await check(sentry_init, PATTERNS[name], style, integrations)
