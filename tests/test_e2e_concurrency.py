"""1,000 concurrent requests through a real server: every event carries only its own request."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from conftest import deactivate
from servers import PYTHON, free_port, receiver, serve, server_env

pytestmark = pytest.mark.e2e

REQUESTS = 1000


async def hammer(base: str) -> list[int]:
    limits = httpx.Limits(max_connections=REQUESTS, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:

        async def one(n: int) -> int:
            response = await client.post(f"/{n}", json={"n": n})
            return response.status_code

        return await asyncio.gather(*(one(n) for n in range(REQUESTS)))


def test_each_event_carries_only_its_own_request_under_load():
    """Tags, user, breadcrumbs, body and URL of 1,000 concurrent failures never cross requests."""
    deactivate()
    with receiver() as inbox:
        port = free_port()
        env = server_env(SENTRY_DSN=inbox.dsn)
        command = [
            PYTHON,
            "-m",
            "uvicorn",
            "apps.concurrency_app:app",
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--backlog",
            "2048",
            "--no-access-log",
        ]
        with serve(command, port, env):
            statuses = asyncio.run(hammer(f"http://127.0.0.1:{port}"))
            events = inbox.wait_for("event", REQUESTS, timeout=30)
    assert statuses == [500] * REQUESTS
    assert len(events) == REQUESTS
    for event in events:
        n = event["tags"]["n"]
        assert (
            event["exception"]["values"][-1]["value"]
            == f"request {n} body {json.dumps({'n': int(n)}, separators=(',', ':'))}"
        )
        assert event["user"]["id"] == n
        assert [c["message"] for c in event["breadcrumbs"]["values"]] == [f"crumb {n}"]
        assert event["request"]["url"].endswith(f"/{n}")
        assert event["request"]["data"] == {"n": int(n)}
