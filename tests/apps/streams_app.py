"""Django, Quart and Litestar apps whose streaming responses fail midway, for real servers.

``STREAMS_INTEGRATIONS=defaults`` keeps sentry_sdk's own integrations on, as most apps run it.
"""

from __future__ import annotations

import os

import sentry_sdk
from django.conf import settings
from django.http import StreamingHttpResponse
from django.urls import path
from frameworks.helpers import FromPath  # noqa: TC002 - Litestar reads annotations at runtime
from litestar import Litestar, get
from litestar.response import Stream
from quart import Quart

from sentry_asgi import SentryMiddleware

sentry_sdk.init(
    dsn=os.environ["SENTRY_DSN"],
    traces_sample_rate=1.0,
    auto_enabling_integrations=os.environ.get("STREAMS_INTEGRATIONS") == "defaults",
)
settings.configure(
    SECRET_KEY="not-a-secret",  # noqa: S106 - a test app's key
    ALLOWED_HOSTS=["127.0.0.1"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
)


async def chunks(item_id: int):
    """The first chunk, then the failure of the app's own."""
    yield b"first\n"
    msg = f"stock of {item_id} gone"
    raise LookupError(msg)


async def django_stream(request, item_id):
    return StreamingHttpResponse(chunks(item_id))


urlpatterns = [path("stream/<int:item_id>", django_stream)]


def django_app():
    from django.core.asgi import get_asgi_application

    return get_asgi_application()


def quart_app() -> Quart:
    app = Quart(__name__)

    @app.get("/stream/<int:item_id>")
    async def stream(item_id: int):
        return chunks(item_id), 200

    return app


@get("/stream/{item_id:int}")
async def litestar_stream(item_id: FromPath[int]) -> Stream:
    return Stream(chunks(item_id))


django = SentryMiddleware(django_app(), transaction_style="url")
quart = SentryMiddleware(quart_app(), transaction_style="url")
litestar = SentryMiddleware(Litestar([litestar_stream]), transaction_style="url")
