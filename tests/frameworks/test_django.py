"""A real Django ASGI app: its handler turns view errors into 500s before any middleware."""

from __future__ import annotations

import json

import pytest
import sentry_sdk
from django.conf import settings
from django.http import HttpResponse
from django.urls import path

from frameworks.helpers import frame_functions
from sentry_asgi import SentryMiddleware

pytestmark = pytest.mark.anyio

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="not-a-secret",  # noqa: S106 - a test app's key
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[f"{__name__}.user_from_header"],
        INSTALLED_APPS=[],
        USE_TZ=True,
    )


def user_from_header(get_response):
    """A Django middleware (the framework's request hook) that names the user."""

    def middleware(request):
        if "x-user" in request.headers:
            sentry_sdk.set_user({"id": request.headers["x-user"]})
            sentry_sdk.set_tag("hook", "django-middleware")
        return get_response(request)

    return middleware


async def item(request, item_id):
    raise ValueError(f"item {item_id}")


def sync_item(request, item_id):
    raise KeyError(item_id)


async def broken(request):
    return HttpResponse("down", status=503)


async def fine(request):
    return HttpResponse("ok")


async def create_order(request):
    raise ValueError(json.loads(request.body)["name"])


urlpatterns = [
    path("orders", create_order),
    path("items/<int:item_id>", item),
    path("sync/<int:item_id>", sync_item),
    path("broken", broken),
    path("fine", fine),
]


def django_app():
    from django.core.asgi import get_asgi_application

    return get_asgi_application()


@pytest.mark.matrix("django", "errors")
async def test_view_error_is_reported_once_with_its_frame_and_request(sentry_init, http):
    """A view's exception, answered with a 500 by Django, reaches Sentry once, with the view frame and the request."""
    transport = sentry_init(auto_enabling_integrations=False)
    response = await http(SentryMiddleware(django_app()), "/items/42?q=1")
    assert response.status_code == 500
    (event,) = transport.events
    (value,) = event["exception"]["values"]
    assert (value["type"], value["value"]) == ("ValueError", "item 42")
    assert value["mechanism"] == {"type": "django", "handled": False}
    assert "item" in frame_functions(event)
    assert event["request"]["url"] == "http://testserver/items/42"
    assert event["request"]["method"] == "GET"
    assert event["request"]["query_string"] == "q=1"


@pytest.mark.matrix("django", "errors")
async def test_with_default_integrations_the_error_and_its_log_record_are_one_event(
    sentry_init, http
):
    """sentry_sdk's default and auto-enabled integrations (logging, Django) on: still one event, one transaction."""
    transport = sentry_init(traces_sample_rate=1.0)
    await http(SentryMiddleware(django_app(), transaction_style="url"), "/items/7")
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "item 7"
    (transaction,) = transport.transactions
    # sentry_sdk's Django integration names it first, in its own spelling; either is the route.
    assert transaction["transaction_info"]["source"] == "route"


@pytest.mark.matrix("django", "errors")
async def test_failed_status_event_does_not_double_a_captured_error(sentry_init, http):
    """The 500 Django renders for a captured error is not reported again; a bare 503 still is."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = SentryMiddleware(django_app())
    await http(app, "/items/1")
    await http(app, "/broken")
    assert [bool(e.get("exception")) for e in transport.events] == [True, False]
    assert transport.events[1]["message"].startswith("503 Service Unavailable")


@pytest.mark.matrix("django", "route names")
async def test_url_style_names_the_route_pattern(sentry_init, http):
    """transaction_style='url' names /items/42 and /items/43 after Django's route pattern, source route."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = SentryMiddleware(django_app(), transaction_style="url")
    await http(app, "/items/42")
    await http(app, "/items/43")
    names = [(e["transaction"], e["transaction_info"]["source"]) for e in transport.events]
    assert names == [("/items/<int:item_id>", "route")] * 2
    assert {t["transaction"] for t in transport.transactions} == {"/items/<int:item_id>"}


@pytest.mark.matrix("django", "route names")
async def test_endpoint_style_names_the_view(sentry_init, http):
    """The default style names the view function, source component, for events and transactions."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    await http(SentryMiddleware(django_app()), "/items/42")
    (event,) = transport.events
    assert (event["transaction"], event["transaction_info"]["source"]) == (
        "frameworks.test_django.item",
        "component",
    )
    (transaction,) = transport.transactions
    assert transaction["transaction"] == "frameworks.test_django.item"


@pytest.mark.matrix("django", "route names")
async def test_unrouted_request_keeps_the_raw_path(sentry_init, http):
    """A path no pattern matches is named by its raw path, source url."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    response = await http(SentryMiddleware(django_app(), transaction_style="url"), "/nowhere")
    assert response.status_code == 404
    (transaction,) = transport.transactions
    assert (transaction["transaction"], transaction["transaction_info"]["source"]) == (
        "/nowhere",
        "url",
    )


@pytest.mark.matrix("django", "user")
async def test_user_set_in_django_middleware_reaches_a_sync_views_event(sentry_init, http):
    """set_user in a Django middleware lands on the event of a sync view run in the thread pool."""
    transport = sentry_init(auto_enabling_integrations=False)
    await http(SentryMiddleware(django_app()), "/sync/5", headers={"x-user": "u-5"})
    (event,) = transport.events
    assert event["user"]["id"] == "u-5"
    assert event["tags"]["hook"] == "django-middleware"
    assert event["exception"]["values"][-1]["type"] == "KeyError"
    assert "sync_item" in frame_functions(event)


async def test_two_wrapped_apps_still_report_once(sentry_init, http):
    """Wrapping two Django apps connects the signal once: one event per error."""
    transport = sentry_init(auto_enabling_integrations=False)
    SentryMiddleware(django_app())
    await http(SentryMiddleware(django_app()), "/items/3")
    assert len(transport.events) == 1


async def test_unwrapped_app_is_left_alone(sentry_init, http):
    """The signal does nothing for a Django request no SentryMiddleware handles."""
    transport = sentry_init(auto_enabling_integrations=False, default_integrations=False)
    SentryMiddleware(django_app())
    response = await http(django_app(), "/items/3")
    assert response.status_code == 500
    assert transport.events == []


async def test_healthy_request_passes_through(sentry_init, http):
    """A healthy Django response reaches the client untouched, with nothing reported."""
    transport = sentry_init(auto_enabling_integrations=False)
    response = await http(SentryMiddleware(django_app()), "/fine")
    assert (response.status_code, response.text) == (200, "ok")
    assert transport.events == []


@pytest.mark.matrix("django", "body")
async def test_json_body_the_view_read_is_on_the_event(sentry_init, http):
    """The JSON body the view read reaches it intact and is attached to the event, secrets filtered."""
    transport = sentry_init(auto_enabling_integrations=False)
    body = {"name": "widget", "password": "hunter2"}
    response = await http(SentryMiddleware(django_app()), "/orders", method="POST", json=body)
    assert response.status_code == 500
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "widget"
    assert event["request"]["data"] == {"name": "widget", "password": "[Filtered]"}
