"""Django specifics: a healthy response passes through untouched, with nothing reported."""

from __future__ import annotations

import django
import pytest

from frameworks.apps.django_app import django_app
from frameworks.helpers import named
from sentry_asgi import SentryMiddleware
from sentry_asgi.frameworks._regex import readable

pytestmark = pytest.mark.anyio
VIEWS = "frameworks.apps.django_app"
# Django 5.0 routes an ASGI request's path below FORCE_SCRIPT_NAME; Django 4.2 below the root path only.
ROUTES_BELOW_FORCED_SCRIPT_NAME = django.VERSION >= (5, 0)


async def test_healthy_request_passes_through(sentry_init, http):
    """A healthy Django response reaches the client untouched, with nothing reported."""
    transport = sentry_init(auto_enabling_integrations=False)
    response = await http(SentryMiddleware(django_app()), "/fine")
    assert (response.status_code, response.text) == (200, "ok")
    assert transport.events == []


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/articles/2024/", "/articles/{year}/"),
        ("/archive/2024/7.html", "/archive/{var}/{var}.html"),
        ("/page-2/listing/", "/page-{page}/listing/"),
        ("/listing/", "/page-{page}/listing/"),
        ("/v2/items/5", "/v{version}/items/<int:item_id>"),
        ("/blog/hello-world/3/", "/blog/{slug}/{part}/"),
    ],
)
async def test_regex_routes_are_named_readably(path, name, sentry_init, http):
    """re_path routes, included or not, are named with their groups as {name} ({var} unnamed), not as regexes."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    response = await http(SentryMiddleware(django_app(), transaction_style="url"), path)
    assert response.status_code == 200
    (transaction,) = transport.transactions
    assert (transaction["transaction"], transaction["transaction_info"]["source"]) == (
        name,
        "route",
    )


@pytest.mark.parametrize(
    ("regex", "template"),
    [
        (r"^(?P<slug>(foo|bar)[)(]x)/$", "{slug}/"),  # groups and brackets inside a group
        (r"^(?:en|fr)/home/$", "{var}/home/"),  # alternatives are one variable
        (r"^page\d+/(?=x)x/$", "page{var}/x/"),  # a lookahead matches no characters
        (r"(?i)^robots.txt$", "robots.txt"),  # flags dropped; a lone dot kept
        (r"^\.well-known/(.*)$", ".well-known/{var}"),
        (r"^x{2}/y{}/$", "x/y{}/"),  # a repeat count dropped; ``{}`` is literal text
    ],
)
def test_regex_template_keeps_the_paths_text(regex, template):
    """A route regex reads as its literal text, with its variable parts as {name} or {var}."""
    assert readable(regex) == template


@pytest.mark.skipif(
    not ROUTES_BELOW_FORCED_SCRIPT_NAME,
    reason="Django 4.2 routes the whole path, FORCE_SCRIPT_NAME or not",
)
@pytest.mark.parametrize(
    ("style", "name"),
    [
        ("url", "/app/items/<int:item_id>"),
        ("endpoint", "frameworks.apps.django_app.item"),
    ],
)
async def test_forced_script_name_is_below_what_django_routes(style, name, sentry_init, http):
    """With FORCE_SCRIPT_NAME, the request is named after the route Django matched below it."""
    from django.test import override_settings

    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    with override_settings(FORCE_SCRIPT_NAME="/app"):
        response = await http(
            SentryMiddleware(django_app(), transaction_style=style), "/app/items/3"
        )
    assert response.status_code == 500
    (event,) = transport.events
    (transaction,) = transport.transactions
    assert event["transaction"] == transaction["transaction"] == name


@pytest.mark.parametrize("style", ["url", "endpoint"])
async def test_path_under_forced_script_name_is_named_as_this_django_routes_it(
    style, sentry_init, http
):
    """A path starting with FORCE_SCRIPT_NAME is named after its route where this Django routes it below the prefix (5.0 on), else by the raw path Django answered 404."""
    from django.test import override_settings

    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    with override_settings(FORCE_SCRIPT_NAME="/app"):
        response = await http(SentryMiddleware(django_app(), transaction_style=style), "/app/fine")
    routed = {"url": ("/app/fine", "route"), "endpoint": (f"{VIEWS}.fine", "component")}
    expected = routed[style] if ROUTES_BELOW_FORCED_SCRIPT_NAME else ("/app/fine", "url")
    assert response.status_code == (200 if ROUTES_BELOW_FORCED_SCRIPT_NAME else 404)
    assert named(transport.transactions) == [expected]


@pytest.mark.parametrize("language", ["en", "de"])
async def test_route_below_a_language_prefix_is_named_in_the_paths_language(
    language, sentry_init, http
):
    """Below i18n_patterns, a request is named after its route in the language its path names, whichever is active."""
    from django.test import override_settings

    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    with override_settings(
        ROOT_URLCONF="frameworks.apps.django_i18n_urls",
        MIDDLEWARE=["django.middleware.locale.LocaleMiddleware"],
        LANGUAGES=[("en", "English"), ("de", "German")],
        LANGUAGE_CODE="en",
    ):
        app = SentryMiddleware(django_app(), transaction_style="url")
        response = await http(app, f"/{language}/items/3")
    assert response.status_code == 200
    (transaction,) = transport.transactions
    assert (transaction["transaction"], transaction["transaction_info"]["source"]) == (
        f"/{language}/items/<int:item_id>",
        "route",
    )


class AnswersErrors:
    """A Django middleware whose process_exception answers a view's error with the status it names."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        from django.http import HttpResponse

        return HttpResponse("answered", status=int(request.headers["x-answer"]))


@pytest.mark.parametrize(("status", "reported"), [(503, True), (404, False)])
async def test_exception_a_middleware_answers_is_reported_when_5xx(
    status, reported, sentry_init, http
):
    """A view's exception that a middleware's process_exception answers 5xx is reported as itself, once; one answered 404 is not."""
    from django.test import override_settings

    # Django's own log line for a 5xx answer is an event of its own with the logging integration.
    transport = sentry_init(auto_enabling_integrations=False, default_integrations=False)
    with override_settings(MIDDLEWARE=[f"{__name__}.AnswersErrors"]):
        app = SentryMiddleware(django_app())
        response = await http(app, "/items/3", headers={"x-answer": str(status)})
    assert response.status_code == status
    if reported:
        (event,) = transport.events
        (value,) = event["exception"]["values"]
        assert (value["type"], value["value"]) == ("ValueError", "item 3")
        assert value["mechanism"] == {"type": "django", "handled": False}
    else:
        assert transport.events == []


TENANT = {"x-tenant": "acme"}  # routed with the tenant's URLconf by the app's middleware
TENANT_URLS = "frameworks.apps.django_tenant_urls"


@pytest.mark.parametrize("traced", [True, False], ids=["traced", "untraced"])
@pytest.mark.parametrize(
    ("path", "style", "name"),
    [
        ("/shop/boots", "url", ("/shop/<slug:slug>", "route")),
        ("/sync/7", "url", ("/sync/<str:code>", "route")),
        ("/shop/boots", "endpoint", (f"{TENANT_URLS}.shop", "component")),
        ("/sync/7", "endpoint", (f"{TENANT_URLS}.sync_order", "component")),
    ],
)
async def test_error_routed_by_the_requests_own_urlconf_is_named_after_its_route(
    path, style, name, traced, sentry_init, http
):
    """A failing request (async or sync view) that a middleware routes with its own URLconf (request.urlconf) is named, event and transaction alike, after that URLconf's route or view."""
    transport = sentry_init(
        auto_enabling_integrations=False, traces_sample_rate=1.0 if traced else None
    )
    app = SentryMiddleware(django_app(), transaction_style=style)
    assert (await http(app, path, headers=TENANT)).status_code == 500
    assert named(transport.events) == [name]
    assert named(transport.transactions) == ([name] if traced else [])


@pytest.mark.parametrize(
    ("path", "style", "name"),
    [
        ("/items/42", "url", ("/items/<str:code>", "route")),
        ("/items/42", "endpoint", (f"{TENANT_URLS}.product", "component")),
        ("/products/boots", "url", ("/products/<str:code>", "route")),
        ("/products/boots", "endpoint", (f"{TENANT_URLS}.sync_product", "component")),
        ("/fine", "url", ("/fine", "url")),  # the default URLconf's route only
    ],
)
async def test_request_routed_by_its_own_urlconf_is_named_after_that_urlconfs_route(
    path, style, name, sentry_init, http
):
    """A request (async or sync view) routed with its own URLconf is named after what that URLconf matched, not the default URLconf's route for its path; unmatched there, by its raw path."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = SentryMiddleware(django_app(), transaction_style=style)
    await http(app, path, headers=TENANT)
    assert named(transport.transactions) == [name]


@pytest.mark.parametrize(
    ("path", "style", "name"),
    [
        ("/products/boots", "url", ("/products/<str:code>", "route")),
        ("/products/boots", "endpoint", (f"{TENANT_URLS}.sync_product", "component")),
        # sentry_sdk names a path the default URLconf routes too after that route, first.
        ("/items/42", "url", ("/items/{item_id}", "route")),
    ],
)
async def test_with_djangos_integration_the_requests_own_urlconf_names_what_it_alone_routes(
    path, style, name, sentry_init, http
):
    """With sentry_sdk's Django integration on, a request routed with its own URLconf is named after its route or view where the default URLconf has none; else after the name the integration gave it first."""
    transport = sentry_init(traces_sample_rate=1.0)
    app = SentryMiddleware(django_app(), transaction_style=style)
    assert (await http(app, path, headers=TENANT)).status_code == 200
    assert named(transport.transactions) == [name]


async def test_traces_sampler_gets_the_default_urlconfs_route_for_a_request_with_its_own(
    sentry_init, http
):
    """traces_sampler, called before Django's middleware gives a request its own URLconf, gets the default URLconf's route; the transaction is named after its own."""
    routes = []

    def sampler(context):
        routes.append(context.get("http.route"))
        return 1.0

    transport = sentry_init(auto_enabling_integrations=False, traces_sampler=sampler)
    app = SentryMiddleware(django_app(), transaction_style="url")
    assert (await http(app, "/items/42", headers=TENANT)).status_code == 200
    assert routes == ["/items/<int:item_id>"]
    assert named(transport.transactions) == [("/items/<str:code>", "route")]
