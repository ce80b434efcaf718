import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sentry_sdk
from playwright.sync_api import expect

from sentry_asgi import SentryMiddleware
from sentry_asgi.inbox._server import InboxServer

from .helpers import demo_module, envelope, event_item, post, sdk

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

XSS = "<script>alert('xss')</script><img src=x onerror=alert('img')>"


@pytest.fixture(scope="module")
def demo_inbox(tmp_path_factory):
    """Serve an inbox filled by the example app, run in-process under SentryMiddleware."""
    server = InboxServer("127.0.0.1", 0, str(tmp_path_factory.mktemp("pages") / "inbox.sqlite3"))
    server.start()
    transport = httpx.ASGITransport(SentryMiddleware(demo_module().app), raise_app_exceptions=False)

    async def browse() -> None:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as c:
            for path in ("/fail", "/fail", "/user", "/log", "/items/42", "/"):
                await c.get(path)

    # Playwright's sync API keeps an event loop running on this thread: browse on another.
    with (
        sdk(dsn=server.dsn, traces_sample_rate=1.0, default_integrations=True),
        ThreadPoolExecutor(1) as pool,
    ):
        pool.submit(asyncio.run, browse()).result()
    yield server
    server.stop()


def test_issue_list_shows_a_raised_error(page, demo_inbox, shot):
    """The front page lists each error once, with its type, message, count and culprit."""
    page.goto(demo_inbox.url + "/")
    issues = page.locator("#issues tr.issue")
    expect(issues).to_have_count(3)
    fail = issues.filter(has_text="ZeroDivisionError: division by zero")
    expect(fail.locator(".count")).to_have_text("2")
    expect(fail.locator(".culprit")).to_have_text("demo_app in fail")
    expect(
        issues.filter(has_text="PermissionError: user 42 may not open invoice 7")
    ).to_be_visible()
    expect(issues.filter(has_text="payment provider answered 503")).to_be_visible()
    expect(page.locator("#transactions")).to_contain_text("/items/42")
    shot("inbox-issues")


def test_event_page_shows_frames_request_user_and_tags(page, demo_inbox, shot):
    """An event page shows the exception with its frames and source, and the request context."""
    page.goto(demo_inbox.url + "/")
    page.get_by_text("PermissionError: user 42 may not open invoice 7").click()
    expect(page.locator("h1")).to_have_text("PermissionError: user 42 may not open invoice 7")
    frame = page.locator("details.frame.in-app").last
    expect(frame.locator("summary")).to_contain_text("in user")
    expect(frame.locator("pre.source .current")).to_contain_text("raise PermissionError(msg)")
    expect(page.locator("main")).to_contain_text("GET http://127.0.0.1:8000/user")
    expect(page.locator("main")).to_contain_text("ada@example.com")
    expect(page.locator("table.kv").filter(has_text="plan")).to_contain_text("pro")
    expect(page.locator("#breadcrumbs")).to_contain_text("user 42 signed in")
    shot("inbox-event")


def test_trace_page_shows_the_spans(page, demo_inbox, shot):
    """A trace page shows the transaction and its spans as a waterfall with durations."""
    page.goto(demo_inbox.url + "/")
    page.locator("#transactions a", has_text="item").first.click()
    expect(page.locator("h1")).to_contain_text("Trace")
    rows = page.locator(".waterfall tr.span-row")
    expect(rows.first).to_contain_text("http.server")
    db = rows.filter(has_text="SELECT * FROM items WHERE id = %s")
    expect(db).to_contain_text("db.query")
    expect(db).to_contain_text(" ms")
    width = db.locator(".span").evaluate("e => e.getBoundingClientRect().width")
    assert width > 10  # a 20 ms sleep in a request of little more: a visible bar
    shot("inbox-trace")


def test_streamed_trace_opens_from_the_list_as_a_waterfall(page, inbox):
    """A trace sent with span streaming is listed and drawn as a transaction's is."""
    with (
        sdk(dsn=inbox.dsn, traces_sample_rate=1.0, trace_lifecycle="stream"),
        sentry_sdk.traces.start_span(name="nightly import", attributes={"sentry.op": "task"}),
        sentry_sdk.traces.start_span(name="SELECT 1", attributes={"sentry.op": "db"}),
    ):
        pass
    page.goto(inbox.url + "/")
    page.locator("#transactions a", has_text="nightly import").click()
    rows = page.locator(".waterfall tr.span-row")
    expect(rows).to_have_count(2)
    expect(rows.last).to_contain_text("db SELECT 1")


def test_script_in_an_exception_message_does_not_run(page, inbox, shot):
    """Markup in an event shows as text on every page and never runs."""
    with sdk(dsn=inbox.dsn):
        sentry_sdk.capture_exception(ValueError(XSS))
    page.goto(inbox.url + "/")
    expect(page.locator("#issues")).to_contain_text(XSS)
    page.get_by_text(XSS).click()
    expect(page.locator("h1")).to_have_text(f"ValueError: {XSS}")
    assert page.locator("main script, main img").count() == 0
    page.wait_for_timeout(300)
    assert page.dialogs == []
    shot()


def test_the_dialog_listener_catches_a_script_that_runs(page):
    """Control for the test above: an unescaped script does fire, and the listener sees it."""
    page.set_content("<p>x</p><script>alert('ran')</script>")
    page.wait_for_timeout(200)
    assert page.dialogs == ["ran"]


def test_new_events_appear_without_reloading(page, inbox):
    """An open issue list shows a new error within seconds, without a page load."""
    page.goto(inbox.url + "/")
    expect(page.locator("#issues")).to_contain_text("No errors yet")
    page.evaluate("window.stillTheSamePage = true")
    post(inbox, envelope(event_item({"message": "arrived while watching"})))
    expect(page.locator("#issues")).to_contain_text("arrived while watching", timeout=5000)
    assert page.evaluate("window.stillTheSamePage") is True
