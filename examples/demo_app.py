"""A small Starlette app that shows what sentry-asgi reports: run it with ``scripts/demo``.

Every route does one thing worth seeing in Sentry (or in the local inbox): an unhandled error,
a logged error, an error with a user and tags, a traced route with spans of its own, and a page
whose load in the browser (with Sentry's browser SDK, from Sentry's CDN) joins the trace.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import sentry_sdk
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from starlette.requests import Request

logger = logging.getLogger("demo_app")

ROUTES = {
    "/fail": "raises an unhandled error",
    "/log": "logs an error with the logging module",
    "/user": "sets a user and tags, then fails",
    "/items/42": "a traced route with a cache and a database span",
    "/shop": "a page whose load in the browser and its request join one trace",
}
# Sentry's browser SDK, as its CDN serves it (the release the test suite checks against).
BROWSER_SDK = "https://browser.sentry-cdn.com/11.12.0/bundle.tracing.min.js"
SHOP = """<!doctype html><title>sentry-asgi demo: shop</title>
<meta name="sentry-trace" content="{traceparent}">
<meta name="baggage" content="{baggage}">
<script src="{sdk}" crossorigin="anonymous"></script>
<script>
if (window.Sentry) {{  // offline, the page works on, untraced
  Sentry.init({{
    dsn: {dsn},
    integrations: [Sentry.browserTracingIntegration()],
    tracesSampleRate: 1.0,
  }});
}}
</script>
<p id="item">loading item 42</p>
<script>
fetch("/items/42").then((r) => r.json()).then((item) => {{
  document.getElementById("item").textContent = item.name;
}});
</script>
"""


async def index(_request: Request) -> Response:
    """List the URLs to try."""
    links = "".join(f'<li><a href="{url}">{url}</a>: {what}</li>' for url, what in ROUTES.items())
    return HTMLResponse(f"<!doctype html><title>sentry-asgi demo</title><ul>{links}</ul>")


async def fail(_request: Request) -> Response:
    """Raise: the middleware reports the error with this request attached, then re-raises."""
    ratios = {"orders": 3, "returns": 0}
    return PlainTextResponse(str(ratios["orders"] / ratios["returns"]))


async def log(_request: Request) -> Response:
    """Log an error: the SDK's logging integration turns it into an event."""
    logger.error("payment provider answered %s for order %s", 503, "A-1001")
    return PlainTextResponse("logged an error; the request itself succeeded\n")


async def user(_request: Request) -> Response:
    """Fail with a user, tags and a breadcrumb on the scope: all of it arrives with the error."""
    sentry_sdk.set_user({"id": "42", "email": "ada@example.com"})
    sentry_sdk.set_tag("plan", "pro")
    sentry_sdk.add_breadcrumb(category="auth", message="user 42 signed in", level="info")
    msg = "user 42 may not open invoice 7"
    raise PermissionError(msg)


def public_dsn() -> str:
    """The DSN a browser may hold: the public key only, never a secret key (older DSNs had one)."""
    dsn = urlsplit(str(sentry_sdk.get_client().options.get("dsn") or ""))
    if not dsn.username:
        return ""
    host = dsn.netloc.rpartition("@")[2]  # host and port as the DSN gives them
    return f"{dsn.scheme}://{dsn.username}@{host}{dsn.path}"


async def shop(_request: Request) -> Response:
    """A page whose meta tags carry this request's trace: the browser's page load continues it."""
    page = SHOP.format(
        traceparent=html.escape(sentry_sdk.get_traceparent() or ""),
        baggage=html.escape(str(sentry_sdk.get_baggage() or "")),
        sdk=BROWSER_SDK,
        dsn=json.dumps(public_dsn()).replace("</", "<\\/"),
    )
    return HTMLResponse(page)


async def item(request: Request) -> Response:
    """Answer after a (pretend) cache miss and database query: two spans of the transaction."""
    item_id = request.path_params["item_id"]
    with sentry_sdk.start_span(op="cache.get", name=f"item:{item_id}"):
        await asyncio.sleep(0.003)  # a miss
    with sentry_sdk.start_span(op="db.query", name="SELECT * FROM items WHERE id = %s"):
        await asyncio.sleep(0.015)
    return JSONResponse({"id": item_id, "name": f"item {item_id}"})


app = Starlette(
    routes=[
        Route("/", index),
        Route("/fail", fail),
        Route("/log", log),
        Route("/user", user),
        Route("/items/{item_id}", item),
        Route("/shop", shop),
    ]
)
