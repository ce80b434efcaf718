"""Starlette and FastAPI: a route's secret parameters in what is sent before their router ran.

Their router puts a request's path parameters in the scope only as it routes; an event a
middleware inside the app sends before that has them from the app's routes, matched again.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sentry_sdk
from conftest import RESET_TOKEN
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from frameworks.apps.fastapi_app import fastapi_app
from frameworks.apps.starlette_app import starlette_app
from sentry_asgi import SentryMiddleware

pytestmark = pytest.mark.anyio

RESET_PATH = f"/reset/MQ/{RESET_TOKEN}/"
FILTERED_URL = "http://testserver/reset/MQ/[Filtered]/"
# A key in a Mount's path (``/keys/{api_key}``): built, as the token is.
API_KEY = "k3y-" + "9d8c7b6a5f4e3d2c"
FRAMEWORKS = {"starlette": starlette_app, "fastapi": fastapi_app}


class FailsBeforeRouting:
    """A pure ASGI middleware inside the app that reports, then fails, before the router runs."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sentry_sdk.capture_message("before routing")
        raise RuntimeError("refused before routing")


class FailsBeforeCallNext(BaseHTTPMiddleware):
    """A BaseHTTPMiddleware that reports, then fails, without calling the next app."""

    async def dispatch(self, request: Any, call_next: Any) -> Any:
        sentry_sdk.capture_message("before routing")
        raise RuntimeError("refused before routing")


class AnswersBeforeRouting:
    """A pure ASGI middleware that answers 401 itself: the router never sees the request."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await PlainTextResponse("no", status_code=401)(scope, receive, send)


class KnownUser(Convertor[str]):
    """A path convertor that looks the user up, raising for one it does not know."""

    regex = "[^/]+"

    def convert(self, value: str) -> str:
        if value != "MQ":
            raise LookupError(value)
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("known_user", KnownUser())


def _with_failing_middleware(framework: str, how: str) -> Any:
    """The framework's app with a middleware failing in front of its router."""
    if how == "add_middleware":
        app = FRAMEWORKS[framework]()
        app.add_middleware(FailsBeforeCallNext)
        return app
    cls = Starlette if framework == "starlette" else FastAPI
    return cls(routes=FRAMEWORKS[framework]().routes, middleware=[Middleware(FailsBeforeRouting)])


def _wrapped(app: Any, placement: str) -> Any:
    if placement == "around":
        return SentryMiddleware(app)
    app.add_middleware(SentryMiddleware)
    return app


def _failure_and_message(transport: Any) -> list[dict[str, Any]]:
    """The two events sent: the message, then the failure (in an exception group on Starlette 0.27)."""
    message, failure = transport.events
    assert message["message"] == "before routing"
    assert "RuntimeError" in {value["type"] for value in failure["exception"]["values"]}
    return [message, failure]


@pytest.mark.parametrize("how", ["add_middleware", "middleware_list"])
@pytest.mark.parametrize("placement", ["around", "add_middleware"])
@pytest.mark.parametrize("framework", list(FRAMEWORKS))
async def test_secret_route_parameter_is_filtered_in_events_sent_before_the_router_ran(
    framework, placement, how, sentry_init, http
):
    """A middleware inside the app that reports and fails before its router ran sends events and a transaction with the route's token [Filtered] in the URL and nowhere else."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = _wrapped(_with_failing_middleware(framework, how), placement)
    assert (await http(app, RESET_PATH)).status_code == 500
    (transaction,) = transport.transactions
    for sent in (*_failure_and_message(transport), transaction):
        assert sent["request"]["url"] == FILTERED_URL
        assert RESET_TOKEN not in json.dumps(sent)


def _mounted(framework: str, where: str) -> Any:
    """The reset route below ``/keys/{api_key}``, a middleware failing before it is routed.

    ``routes``: a Mount of routes, the app's middleware failing; ``app``: a mounted app, the outer
    app's middleware failing; ``app_middleware``: a mounted app, its own middleware failing once
    the outer router passed the request to it.
    """
    cls = Starlette if framework == "starlette" else FastAPI
    outer = [] if where == "app_middleware" else [Middleware(FailsBeforeRouting)]
    inner = [Middleware(FailsBeforeRouting)] if where == "app_middleware" else []
    routes = FRAMEWORKS[framework]().routes
    if where == "routes":
        mount = Mount("/keys/{api_key}", routes=routes)
    else:
        mount = Mount("/keys/{api_key}", app=cls(routes=routes, middleware=inner))
    return cls(routes=[mount], middleware=outer)


@pytest.mark.parametrize("where", ["routes", "app", "app_middleware"])
@pytest.mark.parametrize("framework", list(FRAMEWORKS))
async def test_secret_parameters_of_a_mount_and_its_route_are_filtered_before_routing(
    framework, where, sentry_init, http
):
    """Below a Mount with a secret parameter (``/keys/{api_key}``), an event sent before the router ran (or before a mounted app's router did) has the Mount's and the route's secrets [Filtered]."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = SentryMiddleware(_mounted(framework, where))
    assert (await http(app, f"/keys/{API_KEY}{RESET_PATH}")).status_code == 500
    for event in _failure_and_message(transport):
        assert event["request"]["url"] == "http://testserver/keys/[Filtered]/reset/MQ/[Filtered]/"
        assert API_KEY not in json.dumps(event)
        assert RESET_TOKEN not in json.dumps(event)


def _with_convertor(framework: str) -> Any:
    if framework == "starlette":

        async def reset(request: Any) -> Any:
            raise ValueError("reset link expired")

        app: Any = Starlette(routes=[Route("/reset/{uidb64:known_user}/{token}/", reset)])
    else:
        app = FastAPI()

        @app.get("/reset/{uidb64:known_user}/{token}/")
        async def reset_view(uidb64: str, token: str) -> None:
            raise ValueError("reset link expired")

    app.add_middleware(FailsBeforeCallNext)
    return SentryMiddleware(app)


async def _url_kept_then_filtered(app: Any, kept: str, transport: Any, http: Any) -> None:
    """The events sent for ``kept`` have its URL as asked for; those for RESET_PATH the token out."""
    assert (await http(app, kept)).status_code == 500
    for event in _failure_and_message(transport):
        assert event["request"]["url"] == f"http://testserver{kept}"
    transport.envelopes.clear()
    assert (await http(app, RESET_PATH)).status_code == 500
    for event in _failure_and_message(transport):
        assert event["request"]["url"] == FILTERED_URL
        assert RESET_TOKEN not in json.dumps(event)


@pytest.mark.parametrize("framework", list(FRAMEWORKS))
async def test_path_convertor_failing_as_routes_are_matched_before_routing_leaves_the_url(
    framework, sentry_init, http
):
    """An app's path convertor that raises as its routes are matched for an event sent before the router ran leaves that URL as it was, the events sent; where it converts, the token is [Filtered]."""
    transport = sentry_init(auto_enabling_integrations=False)
    await _url_kept_then_filtered(
        _with_convertor(framework), f"/reset/XX/{RESET_TOKEN}/", transport, http
    )


@pytest.mark.parametrize("framework", list(FRAMEWORKS))
async def test_no_route_matching_before_routing_filters_nothing(framework, sentry_init, http):
    """A path no route matches leaves an event sent before the router ran with its URL as asked for; a matching one in the same app has the token [Filtered]."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = SentryMiddleware(_with_failing_middleware(framework, "add_middleware"))
    await _url_kept_then_filtered(app, f"/reset/MQ/{RESET_TOKEN}/again", transport, http)


@pytest.mark.parametrize("middleware", [FailsBeforeRouting, AnswersBeforeRouting])
@pytest.mark.parametrize("framework", list(FRAMEWORKS))
async def test_secret_route_parameter_is_filtered_in_sentry_sdks_transaction_before_routing(
    framework, middleware, sentry_init, http
):
    """With sentry_sdk's integration's middleware around this one (add_middleware), the transaction it sends for a request a middleware failed or answered before the router ran has the token [Filtered]."""
    transport = sentry_init(traces_sample_rate=1.0)
    app = FRAMEWORKS[framework]()
    app.add_middleware(middleware)
    app.add_middleware(SentryMiddleware)
    await http(app, RESET_PATH)
    (transaction,) = transport.transactions
    assert transaction["request"]["url"] == FILTERED_URL
    assert RESET_TOKEN not in json.dumps([*transport.events, transaction])


@pytest.mark.parametrize("framework", list(FRAMEWORKS))
async def test_event_sentry_sdk_names_after_the_raw_url_before_routing_has_its_secrets_out(
    framework, sentry_init, http
):
    """With sentry_sdk's integration on, an event sent before the router ran, which it names after the raw URL, has a secret path parameter's value [Filtered] in that name."""
    transport = sentry_init(traces_sample_rate=1.0)
    app = FRAMEWORKS[framework]()
    app.add_middleware(FailsBeforeRouting)
    app.add_middleware(SentryMiddleware)
    session = "S3" + "5510n-7a6b5c4d"
    await http(app, f"/items/5;jsessionid={session}")
    for event in _failure_and_message(transport):
        assert event["transaction"].endswith("/items/5;jsessionid=[Filtered]")
        assert session not in json.dumps(event)
