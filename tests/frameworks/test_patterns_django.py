"""Django apps as users write them: each failure reported once, as itself, and nothing else."""

from __future__ import annotations

import gc
import json
import tempfile

import pytest
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.test import override_settings
from django.urls import path
from sentry_sdk.integrations.logging import ignore_logger

from frameworks.apps.django_app import django_app
from frameworks.helpers import OutOfStockError
from frameworks.patterns import BODY, CRASH, FILTERED, INTEGRATIONS, Pattern, check, each_way
from sentry_asgi import SentryMiddleware

pytestmark = pytest.mark.anyio
VIEWS = "frameworks.test_patterns_django"


async def async_order(request, item_id):
    raise OutOfStockError(json.loads(request.body)["name"])


def sync_order(request, item_id):
    raise OutOfStockError(json.loads(request.body)["name"])


async def missing(request, item_id):
    raise Http404


async def forbidden(request, item_id):
    raise PermissionDenied


async def suspicious(request, item_id):
    msg = "tampered"
    raise SuspiciousOperation(msg)


async def guarded(request, item_id):
    return HttpResponse("never")


async def stream(request, item_id):
    async def chunks():
        yield b"first\n"
        raise OutOfStockError(item_id)

    return StreamingHttpResponse(chunks())


class RefuseGuarded:
    """A middleware whose process_view refuses the guarded view by failing."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view, args, kwargs):
        if view is guarded:
            raise OutOfStockError(kwargs["item_id"])


urlpatterns = [
    path("async/<int:item_id>", async_order),
    path("sync/<int:item_id>", sync_order),
    path("missing/<int:item_id>", missing),
    path("forbidden/<int:item_id>", forbidden),
    path("suspicious/<int:item_id>", suspicious),
    path("guarded/<int:item_id>", guarded),
    path("stream/<int:item_id>", stream),
]


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request):
    """The URLconf and middleware above, with DEBUG off and on."""
    middleware = [f"{VIEWS}.RefuseGuarded"]
    with override_settings(ROOT_URLCONF=VIEWS, MIDDLEWARE=middleware, DEBUG=request.param):
        yield request.param


def names(route: str, view: str) -> dict[str, str]:
    return {"url": route, "endpoint": f"{VIEWS}.{view}"}


PATTERNS = {
    "async view raising": Pattern(
        django_app, "/async/1", 500, method="POST", request=BODY, data=FILTERED,
        names=names("/async/<int:item_id>", "async_order"), **CRASH,
    ),
    "sync view raising": Pattern(
        django_app, "/sync/1", 500, method="POST", request=BODY, data=FILTERED,
        names=names("/sync/<int:item_id>", "sync_order"), **CRASH,
    ),
    "process_view raising": Pattern(
        django_app, "/guarded/1", 500, names=names("/guarded/<int:item_id>", "guarded"), **CRASH,
    ),
    "http404": Pattern(
        django_app, "/missing/1", 404, names=names("/missing/<int:item_id>", "missing"),
        transaction_status="not_found",
    ),
    "permission denied": Pattern(
        django_app, "/forbidden/1", 403, names=names("/forbidden/<int:item_id>", "forbidden"),
        transaction_status="permission_denied",
    ),
    "streaming response raising midway": Pattern(
        django_app, "/stream/1", 200, names=names("/stream/<int:item_id>", "stream"), **CRASH,
    ),
}  # fmt: skip


def close_files_django_left_open() -> None:
    """Close the body files Django leaves open, here: freed in a later test, each would warn there.

    Under sentry-sdk 2.15 they outlive the test that made them, whatever it collects. The type
    is compared, not isinstance: that would set up Django's lazy objects among the heap's.
    """
    for thing in gc.get_objects():
        if type(thing) is tempfile.SpooledTemporaryFile and not thing.closed:
            thing.close()


# Django leaves the body's file open when a streaming response fails, with or without the middleware.
@pytest.mark.filterwarnings("ignore:Unclosed file <tempfile.SpooledTemporaryFile:ResourceWarning")
@each_way
@pytest.mark.parametrize("name", PATTERNS)
async def test_django_pattern_is_reported_once_as_itself(
    name, style, integrations, debug, sentry_init
):
    """Each Django pattern, DEBUG on or off: one event per real failure, the app's own, named after its route, counted right."""
    # DEBUG's technical 500 page shows the time and the frames: the same page, not the same bytes.
    await check(sentry_init, PATTERNS[name], style, integrations, same_body=not debug)
    close_files_django_left_open()


SUSPICIOUS = Pattern(
    django_app, "/suspicious/1", 400, names=names("/suspicious/<int:item_id>", "suspicious"),
    transaction_status="invalid_argument", exception="SuspiciousOperation", session="errored",
)  # fmt: skip


@pytest.mark.parametrize("integrations", INTEGRATIONS)
async def test_suspicious_operation_is_djangos_security_log_record_alone(
    integrations, debug, sentry_init
):
    """A SuspiciousOperation is Django's 400, never the middleware's event: only the ERROR record Django logs of it is one, through the logging integration, until that logger is ignored."""
    outcome = await check(sentry_init, SUSPICIOUS, "url", integrations, same_body=not debug)
    (event,) = outcome.events
    assert event["logger"] == "django.security.SuspiciousOperation"
    assert event["exception"]["values"][-1]["mechanism"] == {"type": "logging", "handled": True}

    ignore_logger("django.security.SuspiciousOperation")
    quiet = Pattern(**{**vars(SUSPICIOUS), "exception": None, "session": "exited"})
    await check(sentry_init, quiet, "url", integrations, same_body=not debug)


@pytest.mark.parametrize("integrations", INTEGRATIONS)
async def test_request_on_djangos_security_log_record_carries_no_secret_of_its_query(
    integrations, debug, sentry_init, http
):
    """Django logs a SuspiciousOperation with its request, sent as its repr (path and query): the query's secret is not in the event."""
    transport = sentry_init(**INTEGRATIONS[integrations])
    response = await http(SentryMiddleware(django_app()), "/suspicious/1?token=tok-4f2a&page=2")
    assert response.status_code == 400
    (event,) = transport.events
    assert event["extra"]["request"] == "<ASGIRequest: GET '/suspicious/1?token=[Filtered]&page=2'>"
    assert "tok-4f2a" not in json.dumps(event)
