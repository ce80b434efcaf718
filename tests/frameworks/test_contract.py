"""What the middleware promises on every supported framework, checked on each one's real app."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import json
import logging
import weakref
from typing import Any

import pytest
from conftest import (
    RESET_TOKEN,
    STARLETTE_VERSION,
    Conversation,
    call,
    collect_leftovers,
    http_scope,
    started,
)
from fastapi import FastAPI
from litestar import Litestar
from sentry_sdk.consts import ClientConstructor
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Mount
from starlette.websockets import WebSocketDisconnect

from frameworks.apps.fastapi_app import fastapi_app
from frameworks.apps.litestar_app import reset as litestar_reset
from frameworks.apps.quart_app import quart_app
from frameworks.apps.starlette_app import starlette_app
from frameworks.cases import FRAMEWORKS, Framework, each, mountable, with_websockets
from frameworks.helpers import MessageBeforeRouting, frame_functions, named, websocket_scope
from sentry_asgi import SentryMiddleware
from sentry_asgi._exchange import Exchange

pytestmark = pytest.mark.anyio

BROKEN = [f for f in FRAMEWORKS if f.broken]
HOOKED = [f for f in FRAMEWORKS if f.hooked]
REFUSING = [f for f in FRAMEWORKS if f.refuses_methods]
# Quart's handle_user_exception re-raises the exception it holds, and Django (Channels' HTTP app
# here) keeps it in its threads' contexts: cycles of their own, with or without the middleware.
FREEING = [f for f in HOOKED if f.name not in {"quart", "django", "channels"}]
needs_full_stack = pytest.mark.skipif(
    "add_full_stack" not in inspect.signature(ClientConstructor.__init__).parameters,
    reason="add_full_stack is newer than this sentry-sdk",
)


@pytest.mark.parametrize("framework", each("errors"))
async def test_view_error_is_reported_once_with_its_frame_and_request(
    framework: Framework, sentry_init, http
):
    """A view's exception, answered with a 500, reaches Sentry once, with its frame, mechanism and the request."""
    transport = sentry_init(auto_enabling_integrations=False)
    response = await http(SentryMiddleware(framework.app()), "/items/42?q=1")
    assert response.status_code == 500
    (event,) = transport.events
    (value,) = event["exception"]["values"]
    assert (value["type"], value["value"]) == ("ValueError", "item 42")
    assert value["mechanism"] == {"type": framework.mechanism, "handled": False}
    assert framework.view_frame in frame_functions(event)
    assert event["request"]["url"] == "http://testserver/items/42"
    assert event["request"]["method"] == "GET"
    assert event["request"]["query_string"] == "q=1"


@pytest.mark.parametrize("framework", each("errors"))
async def test_view_error_behind_other_middleware_is_reported_as_itself(
    framework: Framework, sentry_init, http
):
    """With middleware between it and the framework's app (CORSMiddleware(app)), a view's exception is still reported as itself, through the framework's hook."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = SentryMiddleware(CORSMiddleware(framework.app(), allow_origins=["https://a.example"]))
    assert (await http(app, "/items/42")).status_code == 500
    (event,) = transport.events
    (value,) = event["exception"]["values"]
    assert (value["type"], value["value"]) == ("ValueError", "item 42")
    assert value["mechanism"] == {"type": framework.mechanism, "handled": False}
    assert framework.view_frame in frame_functions(event)


class StartedLater:
    """A middleware that keeps its app out of sight: ``app`` fails until it has started."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    @property
    def app(self) -> Any:
        msg = "not started yet"
        raise RuntimeError(msg)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.inner(scope, receive, send)


@pytest.mark.parametrize("framework", each("errors"))
async def test_middleware_whose_app_cannot_be_read_is_where_the_search_ends(
    framework: Framework, sentry_init, http
):
    """A middleware whose ``app`` raises ends the search for a framework: no fault, the request still reported."""
    transport = sentry_init(auto_enabling_integrations=False)
    inner = framework.app()
    await started(inner)  # as a server would: StartedLater keeps it out of the fixture's sight
    hidden = StartedLater(inner)
    app = SentryMiddleware(CORSMiddleware(hidden, allow_origins=["https://a.example"]))
    assert (await http(app, "/items/42")).status_code == 500
    assert [e["level"] for e in transport.events] == ["error"]


@pytest.mark.parametrize("framework", [pytest.param(f, id=f.name) for f in FRAMEWORKS])
async def test_two_wrapped_apps_still_report_once(framework: Framework, sentry_init, http):
    """Wrapping a second app of the framework installs no second hook: one event per error."""
    transport = sentry_init(auto_enabling_integrations=False)
    SentryMiddleware(framework.app())
    await http(SentryMiddleware(framework.app()), "/items/3")
    assert len(transport.events) == 1


@pytest.mark.parametrize("framework", each("errors"))
async def test_with_default_integrations_there_is_one_event_and_one_transaction(
    framework: Framework, sentry_init, http
):
    """sentry_sdk's default and auto-enabled integrations (logging, the framework's) on: still one event, one transaction."""
    transport = sentry_init(traces_sample_rate=1.0)
    await http(SentryMiddleware(framework.app(), transaction_style="url"), "/items/7")
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "item 7"
    (transaction,) = transport.transactions
    if framework.sdk_names_first:
        # sentry_sdk's own integration names it first, in its own way (which varies by release):
        # a deliberate name that the middleware keeps, never a raw URL.
        assert transaction["transaction_info"]["source"] in ("component", "route")
    else:
        assert named([transaction]) == [(framework.route, "route")]


@pytest.mark.parametrize("framework", each("errors", BROKEN))
async def test_failed_status_event_does_not_double_a_captured_error(
    framework: Framework, sentry_init, http
):
    """The 500 the framework renders for a captured error is not reported again; a bare 503 still is, once; a 404 never.

    Django logs the 503 as an error itself (``django.request``): sentry_sdk's logging integration
    reports that line, and the failed status is not reported a second time.
    """
    transport = sentry_init(auto_enabling_integrations=False)
    app = SentryMiddleware(framework.app())
    await http(app, "/items/1")
    await http(app, "/broken")
    assert (await http(app, "/missing")).status_code == 404
    assert [bool(e.get("exception")) for e in transport.events] == [True, False]
    failed = transport.events[1]
    if framework.mechanism == "django":
        assert failed["logger"] == "django.request"
        assert "Service Unavailable" in failed["logentry"]["params"]
    else:
        assert failed["message"].startswith("503 Service Unavailable")


@pytest.mark.parametrize("framework", each("route names"))
async def test_url_style_names_the_route_template(framework: Framework, sentry_init, http):
    """transaction_style='url' names /items/42 and /items/43 after the route template, source route."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = SentryMiddleware(framework.app(), transaction_style="url")
    await http(app, "/items/42")
    await http(app, "/items/43")
    assert named(transport.events) == [(framework.route, "route")] * 2
    assert named(transport.transactions) == [(framework.route, "route")] * 2


@pytest.mark.parametrize("framework", each("route names"))
async def test_traces_sampler_gets_the_route_where_the_framework_matches_up_front(
    framework: Framework, sentry_init, http
):
    """http.route is the template where the framework can route before its app runs, else absent."""
    routes = []

    def sampler(context: dict[str, Any]) -> float:
        routes.append(context.get("http.route"))
        return 1.0

    sentry_init(auto_enabling_integrations=False, traces_sampler=sampler)
    app = SentryMiddleware(framework.app())
    await http(app, "/items/42")  # BlackSheep starts on its first request when no lifespan ran
    await http(app, "/items/43")
    assert routes[-1] == (framework.route if framework.routes_up_front else None)


@pytest.mark.parametrize("framework", each("route names"))
async def test_endpoint_style_names_the_view(framework: Framework, sentry_init, http):
    """The default style names the view (module and qualname), source component, for events and transactions."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    await http(SentryMiddleware(framework.app()), "/items/42")
    assert named(transport.events) == [(framework.view, "component")]
    assert named(transport.transactions) == [(framework.view, "component")]


@pytest.mark.parametrize("framework", each("route names"))
async def test_unrouted_request_keeps_the_raw_path(framework: Framework, sentry_init, http):
    """A path no route matches is named by its raw path, source url."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = SentryMiddleware(framework.app(), transaction_style="url")
    assert (await http(app, "/nowhere")).status_code == 404
    assert named(transport.transactions) == [("/nowhere", "url")]
    assert transport.events == []


@pytest.mark.parametrize("style", ["url", "endpoint"])
@pytest.mark.parametrize("framework", each("route names", REFUSING))
async def test_method_the_route_lacks_is_named_after_the_route(
    framework: Framework, style, sentry_init, http
):
    """A 405 (the path matched a route, the method did not) is named after the route template, source route, in either style: no view ran."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = SentryMiddleware(framework.app(), transaction_style=style)
    assert (await http(app, "/items/42", method="DELETE")).status_code == 405
    assert (await http(app, "/items/43", method="DELETE")).status_code == 405
    assert named(transport.transactions) == [(framework.route, "route")] * 2


def adding_a_header(app: Any) -> Any:
    """A middleware that passes on a copy of the scope, with one more header."""

    async def middleware(scope: Any, receive: Any, send: Any) -> None:
        await app({**scope, "headers": [*scope["headers"], (b"x-seen", b"1")]}, receive, send)

    return middleware


def mounted_at_api(app: Any, outer: str, style: str, at: str = "/api") -> Any:
    """``app``, wrapped, mounted at /api in a Starlette or FastAPI app (wrapped too, or not).

    ``wrapped, copying``: with a middleware between the mount and the app that copies the scope.
    """
    wrapped = SentryMiddleware(app, transaction_style=style)
    if outer == "fastapi":
        router = FastAPI()
        router.mount(at, wrapped)
        return router
    if outer == "wrapped, copying":
        wrapped = adding_a_header(wrapped)
    router = Starlette(routes=[Mount(at, app=wrapped)])
    return SentryMiddleware(router, transaction_style=style) if outer != "starlette" else router


@pytest.mark.parametrize("outer", ["starlette", "fastapi", "wrapped", "wrapped, copying"])
@pytest.mark.parametrize("framework", mountable(FRAMEWORKS))
async def test_app_mounted_under_a_router_is_named_after_its_own_route(
    framework: Framework, outer, sentry_init, http
):
    """A wrapped app mounted at /api is named /api plus its route, or its view: never the mount, nor the middleware."""
    if framework.name == "starlette" and outer == "wrapped, copying" and STARLETTE_VERSION < (1, 7):
        pytest.skip("Starlette records its route in the scope from 1.7: README, Compatibility")
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = framework.app()
    for style in ("url", "endpoint"):
        assert (await http(mounted_at_api(app, outer, style), "/api/items/42")).status_code == 500
    expected = [(f"/api{framework.route}", "route"), (framework.view, "component")]
    assert named(transport.events) == named(transport.transactions) == expected


@pytest.mark.parametrize("outer", [Starlette, FastAPI])
@pytest.mark.parametrize("framework", mountable(HOOKED))
async def test_app_mounted_unwrapped_under_a_wrapped_router_reports_its_views_exception(
    framework: Framework, outer, sentry_init, http
):
    """Mounted as it is below a wrapped Starlette or FastAPI app, a view's exception is reported once, as itself."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = SentryMiddleware(outer(routes=[Mount("/api", app=framework.app())]))
    assert (await http(app, "/api/items/42")).status_code == 500
    (event,) = transport.events
    (reported,) = event["exception"]["values"]
    assert (reported["type"], reported["value"]) == ("ValueError", "item 42")
    assert reported["mechanism"] == {"type": framework.mechanism, "handled": False}


@pytest.mark.parametrize("outer", [Starlette, FastAPI])
@pytest.mark.parametrize("framework", mountable(HOOKED))
async def test_app_mounted_unwrapped_under_a_wrapped_router_is_named_after_its_own_route(
    framework: Framework, outer, sentry_init, http
):
    """Mounted as it is below a wrapped Starlette or FastAPI app, a request is named /api plus the app's route, or its view."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    for style in ("url", "endpoint"):
        router = outer(routes=[Mount("/api", app=framework.app())])
        app = SentryMiddleware(router, transaction_style=style)
        assert (await http(app, "/api/items/42")).status_code == 500
    expected = [(f"/api{framework.route}", "route"), (framework.view, "component")]
    assert named(transport.events) == named(transport.transactions) == expected


@pytest.mark.parametrize("outer", ["starlette", "fastapi", "wrapped"])
@pytest.mark.parametrize("framework", mountable(FRAMEWORKS))
async def test_app_mounted_with_path_parameters_is_named_after_the_mounts_template(
    framework: Framework, outer, sentry_init, http
):
    """Mounted at /orgs/{org_id}, a wrapped app is named after that template plus its route, not the org's id."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    for org in ("7", "8"):
        app = mounted_at_api(framework.app(), outer, "url", at="/orgs/{org_id}")
        assert (await http(app, f"/orgs/{org}/items/42")).status_code == 500
    expected = [(f"/orgs/{{org_id}}{framework.route}", "route")] * 2
    assert named(transport.events) == named(transport.transactions) == expected


@pytest.mark.parametrize("framework", each("user"))
async def test_user_set_in_a_request_hook_reaches_the_views_event(
    framework: Framework, sentry_init, http
):
    """set_user and set_tag in the framework's request hook land on the event of the (sync, run in a thread) view."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = SentryMiddleware(framework.app())
    await http(app, framework.user_path, headers=framework.user_headers)
    (event,) = transport.events
    assert event["user"]["id"] == framework.user_id
    assert event["tags"]["hook"] == framework.hook_tag
    assert event["exception"]["values"][-1]["type"] == framework.user_error
    assert framework.user_frame in frame_functions(event)


@pytest.mark.parametrize("framework", each("body"))
async def test_json_body_the_view_read_is_on_the_event(framework: Framework, sentry_init, http):
    """The JSON body the view read reaches it intact and is attached to the event, secrets filtered."""
    transport = sentry_init(auto_enabling_integrations=False)
    body = {"name": "widget", "password": "hunter2"}
    app = SentryMiddleware(framework.app())
    if framework.one_body_message:
        # One message, as servers deliver a small body: the framework reads exactly
        # content-length bytes and never asks for the closing empty message httpx sends.
        raw = json.dumps(body).encode()
        headers = [(b"host", b"testserver"), (b"content-type", b"application/json")]
        headers.append((b"content-length", str(len(raw)).encode()))
        scope = http_scope("/orders", method="POST", headers=headers)
        conversation = await call(
            app, scope, [{"type": "http.request", "body": raw, "more_body": False}]
        )
        status = conversation.sent[0]["status"]
    else:
        status = (await http(app, "/orders", method="POST", json=body)).status_code
    assert status == 500
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "widget"
    assert event["request"]["data"] == {"name": "widget", "password": "[Filtered]"}


SIGN_IN_PASSWORD = "correct-horse-battery-staple-42"  # noqa: S105 - a test secret
SIGN_IN_FORMS = {
    "urlencoded": (
        "application/x-www-form-urlencoded",
        f"name=widget&password={SIGN_IN_PASSWORD}",
    ),
    "multipart": (
        "multipart/form-data; boundary=XyZ",
        "".join(
            f'--XyZ\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            for name, value in (("name", "widget"), ("password", SIGN_IN_PASSWORD))
        )
        + "--XyZ--\r\n",
    ),
}


@pytest.mark.parametrize("encoding", SIGN_IN_FORMS)
@pytest.mark.parametrize("framework", each("body"))
async def test_form_the_view_parsed_is_on_the_event_and_its_password_nowhere(
    framework: Framework, encoding: str, sentry_init
):
    """A sign-in form the framework parsed is attached, password filtered, and the password is in no frame either."""
    transport = sentry_init(auto_enabling_integrations=False)
    content_type, text = SIGN_IN_FORMS[encoding]
    raw = text.encode()
    headers = [(b"host", b"testserver"), (b"content-type", content_type.encode())]
    headers.append((b"content-length", str(len(raw)).encode()))
    scope = http_scope("/signin", method="POST", headers=headers)
    message = {"type": "http.request", "body": raw, "more_body": False}
    conversation = Conversation(SentryMiddleware(framework.app()), scope, [message])
    with contextlib.suppress(ValueError):  # Starlette's error middleware re-raises after its 500
        await conversation.run()
    assert conversation.sent[0]["status"] == 500
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "widget"
    assert event["request"]["data"] == {"name": "widget", "password": "[Filtered]"}
    assert SIGN_IN_PASSWORD not in json.dumps(event)


@pytest.mark.parametrize("framework", with_websockets())
async def test_websocket_handler_error_is_reported_once(framework: Framework, sentry_init):
    """A websocket handler's exception reaches Sentry once, with its frame and the request, named by its route."""
    websockets = framework.websockets
    assert websockets is not None
    transport = sentry_init(**websockets.init)
    app = SentryMiddleware(framework.app(), transaction_style="url")
    with pytest.raises(RuntimeError) if websockets.raises else contextlib.nullcontext():
        conversation = await call(app, websocket_scope("/ws"), [{"type": "websocket.connect"}])
    if websockets.closes:
        assert conversation.sent[-1]["type"] == "websocket.close"
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "websocket failed"
    assert websockets.frame in frame_functions(event)
    assert event["request"]["url"] == "ws://testserver/ws"
    assert event["transaction"] == "/ws"


@pytest.mark.parametrize(
    "options", [{"auto_enabling_integrations": False}, {}], ids=["bare", "defaults"]
)
@pytest.mark.parametrize("framework", with_websockets())
async def test_client_leaving_a_websocket_is_no_error(framework: Framework, options, sentry_init):
    """A client that leaves while the handler still reads its websocket is no error: no event, by the middleware or sentry_sdk's integrations."""
    websockets = framework.websockets
    assert websockets is not None
    transport = sentry_init(**options)
    app = SentryMiddleware(framework.app())
    incoming = [{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1001}]
    with pytest.raises(WebSocketDisconnect) if websockets.left_raises else contextlib.nullcontext():
        await call(app, websocket_scope("/listen"), incoming)
    assert transport.events == []


@pytest.mark.parametrize("framework", HOOKED, ids=[f.name for f in HOOKED])
async def test_unwrapped_app_is_left_alone(framework: Framework, sentry_init, http):
    """The hook the middleware installs in the framework does nothing for a request no SentryMiddleware handles."""
    transport = sentry_init(auto_enabling_integrations=False, default_integrations=False)
    app = framework.app()
    SentryMiddleware(app)
    assert (await http(app, "/items/3")).status_code == 500  # the wrapped app, called directly
    assert (await http(framework.app(), "/items/3")).status_code == 500  # another instance
    assert transport.events == []


@needs_full_stack
@pytest.mark.parametrize("kind", ["http", "websocket"])
@pytest.mark.parametrize("framework", FRAMEWORKS, ids=[f.name for f in FRAMEWORKS])
async def test_full_stack_holds_no_frame_of_the_middleware(framework: Framework, kind, sentry_init):
    """With add_full_stack, an error's stack trace shows the app and the server, not the middleware reporting it."""
    if kind == "websocket" and framework.websockets is None:
        pytest.skip("no websockets")
    transport = sentry_init(auto_enabling_integrations=False, add_full_stack=True)
    app = SentryMiddleware(framework.app())
    scope = websocket_scope("/ws") if kind == "websocket" else http_scope("/items/42")
    incoming = [{"type": "websocket.connect"}] if kind == "websocket" else None
    with contextlib.suppress(RuntimeError, ValueError):
        await call(app, scope, incoming)
    (event,) = transport.events
    frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
    modules = [frame.get("module") or "" for frame in frames]
    assert len(modules) > 10  # the whole stack: its callers, not only the view's traceback
    ours = [
        f"{f.get('module')}.{f.get('function')}"
        for f in frames
        if (f.get("module") or "").startswith("sentry_asgi")
    ]
    assert ours == []


# A path of its own: what an earlier test's requests leave, freed late, is not counted.
CYCLE_PATH = "/items/4271"


def _of_the_cycle_check(thing: object) -> bool:
    """Tell whether the collector freed the cycle check's own exception or exchange."""
    if type(thing) in weakref.ProxyTypes:  # cleared by the collection: isinstance would raise
        return False
    if isinstance(thing, ValueError):
        return thing.args == ("item 4271",)
    return isinstance(thing, Exchange) and thing.scope.get("path") == CYCLE_PATH


@pytest.mark.parametrize("framework", each("errors", FREEING))
def test_view_error_a_framework_answers_leaves_no_reference_cycle_behind(
    framework: Framework, sentry_init
):
    """A view's exception a framework hook reports is freed with the request, not by the collector."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = SentryMiddleware(framework.app())

    def fail_once():
        conversation = asyncio.run(call(app, http_scope(CYCLE_PATH)))
        assert conversation.sent[0]["status"] == 500

    fail_once()
    collect_leftovers()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what the collector frees is kept in gc.garbage, to look at
    logging.disable()  # a captured log record would keep the exception from the collector
    try:
        for _ in range(3):
            fail_once()
        gc.collect()
        cycled = [o for o in gc.garbage if _of_the_cycle_check(o)]
    finally:
        logging.disable(logging.NOTSET)
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert cycled == []
    assert len(transport.events) == 4


# A link of Django's password reset (django.contrib.auth's PasswordResetConfirmView route,
# ``reset/<uidb64>/<token>/``): the user's id, then a token that resets their password.
RESET_PATH = f"/reset/MQ/{RESET_TOKEN}/"


@pytest.mark.parametrize("framework", [pytest.param(f, id=f.name) for f in FRAMEWORKS])
async def test_secret_route_parameter_is_filtered_in_the_url_and_found_everywhere_else(
    framework: Framework, sentry_init, http
):
    """A route parameter with a secret name (a reset link's ``token``) is [Filtered] in the URL and nowhere in the event, its frames or the transaction; ``uidb64`` is kept, the names stay the route's."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    await http(SentryMiddleware(framework.app(), transaction_style="url"), RESET_PATH)
    await http(SentryMiddleware(framework.app()), RESET_PATH)
    events, transactions = transport.events, transport.transactions
    assert [e["exception"]["values"][-1]["type"] for e in events] == ["ValueError"] * 2
    for sent in (*events, *transactions):
        # (Litestar takes the path's trailing slash off the scope's path, which the URL is built of)
        assert sent["request"]["url"].rstrip("/") == "http://testserver/reset/MQ/[Filtered]"
        assert RESET_TOKEN not in json.dumps(sent)
    url_style, endpoint_style = named(events)
    assert url_style[1] == "route"
    assert "{token" in url_style[0] or "<token>" in url_style[0]
    assert endpoint_style[1] == "component"
    assert "reset" in endpoint_style[0].lower()  # the view (Falcon's: Reset.on_get)
    assert named(transactions) == [url_style, endpoint_style]


def _starlette_with_add_middleware() -> Any:
    app = starlette_app()
    app.add_middleware(SentryMiddleware)
    return app


def _fastapi_with_add_middleware() -> Any:
    app = fastapi_app()
    app.add_middleware(SentryMiddleware)
    return app


def _litestar_with_middleware_list() -> Any:
    return Litestar(route_handlers=[litestar_reset], middleware=[SentryMiddleware])


def _quart_with_wrapped_asgi_app() -> Any:
    app = quart_app()
    app.asgi_app = SentryMiddleware(app.asgi_app)  # type: ignore[method-assign]
    return app


@pytest.mark.parametrize(
    "make",
    [
        _starlette_with_add_middleware,
        _fastapi_with_add_middleware,
        _litestar_with_middleware_list,
        _quart_with_wrapped_asgi_app,
    ],
)
async def test_secret_route_parameter_is_filtered_in_the_transaction_sentry_sdk_sends_around(
    make, sentry_init, http
):
    """With sentry_sdk's integration's middleware around this one (the README's add_middleware set-up), the transaction it sends once the request is over has a route's secret [Filtered] too."""
    transport = sentry_init(traces_sample_rate=1.0)
    await http(make(), RESET_PATH)
    (transaction,) = transport.transactions
    assert transaction["request"]["url"].rstrip("/") == "http://testserver/reset/MQ/[Filtered]"
    assert RESET_TOKEN not in json.dumps([*transport.events, transaction])


@pytest.mark.parametrize(
    "framework", [pytest.param(f, id=f.name) for f in FRAMEWORKS if f.routes_up_front]
)
async def test_secret_route_parameter_is_filtered_in_an_event_sent_before_routing(
    framework: Framework, sentry_init, http
):
    """Where the framework matches a request up front, an event sent before its router ran has the route's secret [Filtered] too."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = SentryMiddleware(MessageBeforeRouting(framework.app()))
    await http(app, "/fine")  # BlackSheep starts on its first request when no lifespan ran
    await http(app, RESET_PATH)
    message, failure = transport.events[-2:]
    assert message["message"] == "before routing"
    for event in (message, failure):
        assert event["request"]["url"].rstrip("/") == "http://testserver/reset/MQ/[Filtered]"
        assert RESET_TOKEN not in json.dumps(event)
