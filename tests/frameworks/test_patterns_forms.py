"""Form and upload handlers: the body filtered, file contents never attached, the failure reported once.

Starlette and FastAPI parse forms with python-multipart, which the app installs.
"""

from __future__ import annotations

import json
import secrets
from typing import Annotated

import pytest
from fastapi import FastAPI, File, Form, UploadFile
from starlette.applications import Starlette
from starlette.routing import Route

from frameworks.helpers import OutOfStockError
from frameworks.patterns import CRASH, INTEGRATIONS, Pattern, assert_reported, run

pytest.importorskip("python_multipart", reason="Starlette parses forms with python-multipart")
pytestmark = pytest.mark.anyio
HERE = "frameworks.test_patterns_forms"


async def login(request):
    form = await request.form()
    raise OutOfStockError(form["user"])


def starlette_shop() -> Starlette:
    return Starlette(routes=[Route("/login", login, methods=["POST"])])


def fastapi_shop() -> FastAPI:
    app = FastAPI()

    @app.post("/avatars/{user_id}")
    async def avatar(
        user_id: int, password: Annotated[str, Form()], file: Annotated[UploadFile, File()]
    ):
        await file.read()
        raise OutOfStockError(file.filename)

    return app


PASSWORD = secrets.token_hex(8)  # a value no line of source the event shows holds
FORM = {"user": "ann", "password": PASSWORD}
UPLOAD = {
    "data": {"password": PASSWORD},
    "files": {"file": ("me.png", b"\x89PNG\r\n", "image/png")},
}
PATTERNS = {
    "starlette form": Pattern(
        starlette_shop, "/login", 500, method="POST", request={"data": FORM},
        data={"user": "ann", "password": "[Filtered]"},
        names={"url": "/login", "endpoint": f"{HERE}.login", "on": "/login"}, **CRASH,
    ),
    "fastapi upload": Pattern(
        fastapi_shop, "/avatars/1", 500, method="POST", request=UPLOAD,
        data={"password": "[Filtered]", "file": "[file 'me.png', 6 bytes]"},
        names={"url": "/avatars/{user_id}", "endpoint": f"{HERE}.fastapi_shop.<locals>.avatar",
               "on": "/avatars/{user_id}"},
        **CRASH,
    ),
}  # fmt: skip


@pytest.mark.parametrize("integrations", INTEGRATIONS)
@pytest.mark.parametrize("style", ["url", "endpoint"])
@pytest.mark.parametrize("name", PATTERNS)
async def test_form_pattern_is_reported_once_with_its_body_filtered(
    name, style, integrations, sentry_init
):
    """A form or an upload the view read: one event, its secret fields filtered, no file contents."""
    pattern = PATTERNS[name]
    outcome = await run(sentry_init, pattern, style, integrations)
    assert_reported(outcome, pattern, style, integrations)
    (event,) = outcome.events
    assert PASSWORD not in json.dumps(event)
