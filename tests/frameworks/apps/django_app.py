"""A real Django ASGI app: its handler turns view errors into 500s before any middleware."""

from __future__ import annotations

import json

import sentry_sdk
from django.conf import settings
from django.http import HttpResponse
from django.urls import include, path, re_path

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="not-a-secret",  # noqa: S106 - a test app's key
        ALLOWED_HOSTS=["testserver", "127.0.0.1"],  # in process, and served for real
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[f"{__name__}.user_from_header", f"{__name__}.urlconf_from_header"],
        # Channels' AuthMiddlewareStack reads the user with django.contrib.auth.
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes"],
        # Sessions in signed cookies: Channels' session middleware needs no database.
        SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
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


def urlconf_from_header(get_response):
    """A Django middleware that routes a tenant's request with the tenant's URLconf (django-hosts' way)."""

    def middleware(request):
        if "x-tenant" in request.headers:
            request.urlconf = "frameworks.apps.django_tenant_urls"
        return get_response(request)

    return middleware


async def item(request, item_id):
    raise ValueError(f"item {item_id}")


async def reset(request, uidb64, token):
    raise ValueError(f"reset link expired ({len(token)} characters)")


def sync_item(request, item_id):
    raise KeyError(item_id)


async def broken(request):
    return HttpResponse("down", status=503)


async def fine(request):
    return HttpResponse("ok")


async def fine_item(request, item_id):
    return HttpResponse(f"item {item_id}")


async def create_order(request):
    raise ValueError(json.loads(request.body)["name"])


def sign_in(request):
    form = request.POST
    raise ValueError(form["name"])


async def article(request, *args, **kwargs):
    return HttpResponse("ok")


urlpatterns = [
    re_path(r"^articles/(?P<year>[0-9]{4})/$", article),
    re_path(r"^archive/(\d{4})/(\d+)\.html$", article),
    re_path(r"^(?:page-(?P<page>\d+)/)?listing/$", article),
    re_path(r"^v(?P<version>[12])/", include([path("items/<int:item_id>", article)])),
    path("blog/", include([re_path(r"^(?P<slug>[\w-]+)/(?:(?P<part>\d+)/)?$", article)])),
    path("orders", create_order),
    path("signin", sign_in),
    path("items/<int:item_id>", item),
    path("sync/<int:item_id>", sync_item),
    # django.contrib.auth's own PasswordResetConfirmView pattern (django/contrib/auth/urls.py).
    path("reset/<uidb64>/<token>/", reset),
    path("broken", broken),
    path("fine", fine),
]


def django_app():
    from django.core.asgi import get_asgi_application

    return get_asgi_application()
