"""A real browser page and its server in one trace, as the inbox receives and shows it.

Sentry's browser SDK continues the trace the page's meta tags carry, and the middleware
continues the one the page's requests carry.
"""

from __future__ import annotations

import socket
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import jinja2
import pytest
import sentry_sdk
import uvicorn
from browser_sdk import SDK_VERSION, BrowserSdkUnavailableError, browser_sdk
from playwright.sync_api import expect
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from sentry_asgi import SentryMiddleware

from .helpers import demo_module, sdk, wait_for

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sentry_asgi.inbox._server import InboxServer

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

# What the browser SDK adds to a request it traces: an API on another origin must allow them.
HEADERS = ["sentry-trace", "baggage"]

# A Jinja2 template (Starlette's and FastAPI's Jinja2Templates) with the two meta tags in its
# <head>, from the globals the README sets.
PAGE = """<!doctype html>
<html><head>
<meta name="sentry-trace" content="{{ sentry_trace() }}">
<meta name="baggage" content="{{ sentry_baggage() }}">
<script src="/sentry.js"></script>
<script src="/checkout.js"></script>
<script>
Sentry.init({
  dsn: {{ dsn | tojson }},
  integrations: [Sentry.browserTracingIntegration({idleTimeout: 300})],
  tracesSampleRate: 1.0,
  {# The browser SDK's default targets are the page's own origin; another must be named. #}
  {% if api %}tracePropagationTargets: [{{ api | tojson }}],{% endif %}
});
</script>
</head><body><h1>Orders</h1><p id="order">loading</p>
<button id="pay" onclick="pay({})">Pay</button>
<script>
const shown = document.getElementById("order");
const asked = new URLSearchParams(location.search).get("order") || "42";
fetch({{ api | tojson }} + "/api/orders/" + asked).then((r) => r.json()).then(
  (order) => { shown.textContent = order.status; },
  () => { shown.textContent = "failed"; },
);
</script>
</body></html>
"""

# The page's own script, with a bug the browser SDK reports.
CHECKOUT = """function pay(cart) {
  return cart.items.length;
}
"""


@pytest.fixture(scope="module")
def bundle() -> bytes:
    try:
        return browser_sdk()
    except BrowserSdkUnavailableError as error:
        pytest.skip(f"Sentry's browser SDK could not be built here: {error}")


def shop(dsn: str, bundle: bytes, api: str = "") -> Starlette:
    """The shop's pages and its API; its page asks ``api`` (another origin), else its own."""
    loader = jinja2.DictLoader({"shop.html": PAGE})
    templates = Jinja2Templates(env=jinja2.Environment(loader=loader, autoescape=True))
    templates.env.globals.update(
        sentry_trace=sentry_sdk.get_traceparent, sentry_baggage=sentry_sdk.get_baggage
    )

    async def home(request: Any) -> Response:
        return templates.TemplateResponse(request, "shop.html", {"dsn": dsn, "api": api})

    async def script(request: Any) -> Response:
        return Response(bundle, media_type="text/javascript")

    async def checkout(request: Any) -> Response:
        return Response(CHECKOUT, media_type="text/javascript")

    async def order(request: Any) -> JSONResponse:
        order_id = request.path_params["order_id"]
        if order_id == "0":
            raise LookupError("no order 0")
        return JSONResponse({"id": order_id, "status": "shipped"})

    routes = [
        Route("/", home),
        Route("/sentry.js", script),
        Route("/checkout.js", checkout),
        Route("/api/orders/{order_id}", order),
    ]
    return Starlette(routes=routes)


@contextmanager
def served(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free port of 127.0.0.1, on a thread; yield its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_config=None, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def by_url(inbox: InboxServer, trace_id: str) -> dict[str, dict[str, Any]]:
    """The requests of a trace the servers answered, by URL: their span's ids, however sent.

    A transaction's are in its trace context; a streamed segment's are its own.
    """
    found = {}
    for event in inbox.store.trace(trace_id):
        if event.get("type") == "transaction":
            found[event["request"]["url"]] = event["contexts"]["trace"]
    for span in inbox.store.trace_spans(trace_id):
        attributes = span["attributes"]
        if span["is_segment"] and attributes["sentry.op"]["value"] == "http.server":
            found[attributes["url.full"]["value"]] = span
    return found


def spans_by_op(inbox: InboxServer, trace_id: str) -> dict[str, dict[str, Any]]:
    """The browser's streamed spans of a trace in the inbox, by operation."""
    spans = inbox.store.trace_spans(trace_id)
    return {span["attributes"]["sentry.op"]["value"]: span for span in spans}


def page_load(inbox: InboxServer, trace_id: str) -> dict[str, dict[str, Any]]:
    """The browser's spans of a trace, by operation, once its page load (the segment) arrived."""
    return wait_for(lambda: "pageload" in (found := spans_by_op(inbox, trace_id)) and found)


def served_requests(inbox: InboxServer, trace_id: str) -> dict[str, dict[str, Any]]:
    """The two requests of a trace the servers answered (the page and its fetch), once both arrived."""
    return wait_for(lambda: len(found := by_url(inbox, trace_id)) == 2 and found)


def open_shop(page: Any, url: str, shown: str = "shipped") -> tuple[str, str]:
    """Open the shop's page and wait for its order; return its trace id and its traceparent."""
    page.goto(url)
    expect(page.locator("#order")).to_have_text(shown)
    traceparent = page.locator('meta[name="sentry-trace"]').get_attribute("content")
    return traceparent.split("-")[0], traceparent


@pytest.mark.parametrize("lifecycle", ["transaction", "stream"])
def test_page_load_and_its_requests_join_the_trace_of_the_page(
    page, inbox, bundle, shot, lifecycle
):
    """The browser's page load continues the page's server trace, and its fetch continues the page load's."""
    with (
        sdk(dsn=inbox.dsn, traces_sample_rate=1.0, trace_lifecycle=lifecycle),
        served(SentryMiddleware(shop(inbox.dsn, bundle), transaction_style="url")) as url,
    ):
        trace_id, traceparent = open_shop(page, url + "/")
        baggage = page.locator('meta[name="baggage"]').get_attribute("content")
        answered = served_requests(inbox, trace_id)
    # The trace is sampled by the page's route, which the template's baggage names (README), in
    # both lifecycles.
    sampled_by = dict(item.split("=", 1) for item in baggage.split(",")).get("sentry-transaction")
    assert sampled_by == "/"
    # Sentry's browser SDK 11 streams its spans: the page load is a segment.
    browser = page_load(inbox, trace_id)
    fetch = browser["http.client"]
    served_page = answered[f"{url}/"]
    assert traceparent == f"{trace_id}-{served_page['span_id']}-1"
    assert browser["pageload"]["parent_span_id"] == served_page["span_id"]
    assert fetch["attributes"]["url.full"]["value"] == f"{url}/api/orders/42"
    served_api = answered[f"{url}/api/orders/42"]
    assert served_api["trace_id"] == trace_id
    assert served_api["parent_span_id"] == fetch["span_id"]
    page.goto(f"{inbox.url}/traces/{trace_id}")
    # One waterfall: the page served, the page load under it, the fetch's request under the fetch.
    rows = page.locator(".waterfall tr.span-row td:first-child").all_inner_texts()
    served_at, load_at, fetch_at = (
        next(i for i, row in enumerate(rows) if row.startswith(op))
        for op in ("http.server", "pageload", "http.client")
    )
    api_at = next(i for i, row in enumerate(rows) if "/api/orders/42" in row)
    assert served_at < load_at < fetch_at < api_at == fetch_at + 1
    shot(f"inbox-browser-trace-{lifecycle}")


def test_with_tracing_off_a_failed_request_of_the_page_is_an_error_in_the_page_loads_trace(
    page, inbox, bundle
):
    """Tracing off on the server: the browser traces the page load, and the error its fetch met links to it."""
    with (
        sdk(dsn=inbox.dsn),
        served(SentryMiddleware(shop(inbox.dsn, bundle))) as url,
    ):
        trace_id, traceparent = open_shop(page, url + "/?order=0", shown="failed")
        [error] = wait_for(lambda: inbox.store.trace(trace_id))
    assert traceparent.count("-") == 1  # no sampling decision: the browser makes its own
    fetch = page_load(inbox, trace_id)["http.client"]
    assert fetch["attributes"]["url.full"]["value"] == f"{url}/api/orders/0"
    assert error["exception"]["values"][-1]["value"] == "no order 0"
    assert error["contexts"]["trace"]["trace_id"] == trace_id
    assert error["contexts"]["trace"]["parent_span_id"] == fetch["span_id"]


def test_a_request_to_an_api_on_another_origin_continues_the_page_loads_trace(page, inbox, bundle):
    """An API on another origin, named in tracePropagationTargets and allowing the headers in CORS, joins the trace."""
    with sdk(dsn=inbox.dsn, traces_sample_rate=1.0):
        cors = {"allow_origin_regex": r"http://127\.0\.0\.1:\d+"}
        api_app = CORSMiddleware(shop(inbox.dsn, bundle), allow_headers=HEADERS, **cors)
        with (
            served(SentryMiddleware(api_app, transaction_style="url")) as api,
            served(SentryMiddleware(shop(inbox.dsn, bundle, api=api))) as url,
        ):
            trace_id, _ = open_shop(page, url + "/")
            answered = served_requests(inbox, trace_id)
    fetch = page_load(inbox, trace_id)["http.client"]
    assert fetch["attributes"]["url.full"]["value"] == f"{api}/api/orders/42"
    assert answered[f"{api}/api/orders/42"]["parent_span_id"] == fetch["span_id"]


def test_an_error_in_the_page_shows_in_the_inbox_with_its_script_frame_and_trace(
    page, inbox, bundle
):
    """The browser SDK's error reaches the inbox: listed, its frame at the script's line and column, in the page's trace."""
    with (
        sdk(dsn=inbox.dsn, traces_sample_rate=1.0),
        served(SentryMiddleware(shop(inbox.dsn, bundle))) as url,
    ):
        trace_id, _ = open_shop(page, url + "/")
        page.click("#pay")
        [issue] = wait_for(inbox.store.issues)
    assert issue.title == "TypeError: Cannot read properties of undefined (reading 'length')"
    page.goto(f"{inbox.url}/events/{issue.last_event_id}")
    # The newest frame is the last: line 2, column 21 (where ``length`` is read) of the script.
    expect(page.locator("details.frame summary").last).to_have_text(
        f"{url}/checkout.js:2:21 in pay"
    )
    expect(page.locator(f'a[href="/traces/{trace_id}"]')).to_be_visible()


def test_the_demos_shop_page_joins_the_browsers_page_load_to_its_trace(page, inbox, bundle):
    """scripts/demo's /shop: with Sentry's CDN bundle (the pinned build, served in its place), the page load joins the trace."""
    demo = demo_module()
    assert f"https://browser.sentry-cdn.com/{SDK_VERSION}/bundle.tracing.min.js" == demo.BROWSER_SDK
    cdn = {"content_type": "text/javascript", "headers": {"access-control-allow-origin": "*"}}
    page.route(demo.BROWSER_SDK, lambda route: route.fulfill(body=bundle, **cdn))
    with (
        sdk(dsn=inbox.dsn, traces_sample_rate=1.0),
        served(SentryMiddleware(demo.app, transaction_style="url")) as url,
    ):
        page.goto(url + "/shop")
        expect(page.locator("#item")).to_have_text("item 42")
        traceparent = page.locator('meta[name="sentry-trace"]').get_attribute("content")
        trace_id = traceparent.split("-")[0]
        answered = served_requests(inbox, trace_id)
    browser = page_load(inbox, trace_id)
    assert browser["pageload"]["parent_span_id"] == answered[f"{url}/shop"]["span_id"]
    assert answered[f"{url}/items/42"]["parent_span_id"] == browser["http.client"]["span_id"]
