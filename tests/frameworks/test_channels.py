"""Django Channels specifics: consumers behind its routers, named after URLRouter's routes.

The shared contract (tests/frameworks/test_contract.py) runs on the Channels app too: Django's
views below ``ProtocolTypeRouter``, and a websocket consumer that fails.
"""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from blacksheep import Application
from blacksheep.server.routing import Router
from channels.routing import ProtocolTypeRouter, URLRouter
from conftest import (
    CHANNELS_VERSION,
    RESET_TOKEN,
    Conversation,
    call,
    needs_channels_routing_below_the_root,
    needs_mounts_keeping_the_path,
)
from django.test import override_settings
from starlette.applications import Starlette
from starlette.routing import Mount

from frameworks.apps.channels_app import WEBSOCKET_ROUTES, channels_app, documented_stack
from frameworks.apps.django_app import django_app
from frameworks.helpers import frame_functions, named, websocket_scope
from frameworks.test_django import TENANT, TENANT_URLS
from sentry_asgi import SentryMiddleware

pytestmark = pytest.mark.anyio
CONSUMERS = "frameworks.apps.channels_app"
IN_MEMORY_LAYER = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
FAILING_CHAT = [
    {"type": "websocket.connect"},
    {"type": "websocket.receive", "text": "fail"},
]


async def chat(app, path: str) -> None:
    """Connect to a chat room and send "fail": the consumer's exception leaves the app."""
    with pytest.raises(ValueError, match="chat in"):
        await call(app, websocket_scope(path), FAILING_CHAT)


@pytest.mark.parametrize(
    ("path", "route", "consumer"),
    [
        ("/ws/chat/lobby/", "/ws/chat/<str:room>/", "Chat"),
        ("/ws/rooms/lobby/", "/ws/rooms/{room}/", "Chat"),
        ("/ws/v2/chat/lobby/", "/ws/v<int:version>/chat/<str:room>/", "Chat"),
        ("/ws/v2/rooms/lobby/", "/ws/v<int:version>/rooms/<str:room>/", "Chat"),
    ],
)
async def test_websocket_is_named_after_its_url_route_or_consumer(
    path, route, consumer, sentry_init
):
    """A websocket is named after URLRouter's route (path(), re_path(), nested routers joined, the next route where a nested router has none) in url style, its consumer class in endpoint style."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    for style in ("url", "endpoint"):
        await chat(SentryMiddleware(channels_app(), transaction_style=style), path)
    expected = [(route, "route"), (f"{CONSUMERS}.{consumer}", "component")]
    assert named(transport.events) == named(transport.transactions) == expected


async def test_secret_parameter_of_an_outer_router_is_filtered(sentry_init):
    """A ``token`` a router matched above the consumer's own route is [Filtered] in the URL and nowhere in the event."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    await chat(SentryMiddleware(channels_app()), f"/ws/invites/{RESET_TOKEN}/chat/lobby/")
    (event,) = transport.events
    assert event["request"]["url"] == "ws://testserver/ws/invites/[Filtered]/chat/lobby/"
    assert RESET_TOKEN not in json.dumps([event, *transport.transactions])


async def test_documented_asgi_py_reports_and_names_views_and_consumers(sentry_init, http):
    """The asgi.py Channels documents (Django's app under "http", consumers behind AllowedHostsOriginValidator, AuthMiddlewareStack and a middleware keeping ``app``): a view's and a consumer's exceptions reported as themselves, named after their routes."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = SentryMiddleware(documented_stack(), transaction_style="url")
    assert (await http(app, "/items/42")).status_code == 500
    scope = websocket_scope("/ws/chat/lobby/")
    scope["headers"] = [*scope["headers"], (b"origin", b"http://testserver")]
    with pytest.raises(ValueError, match="chat in lobby"):
        await call(app, scope, FAILING_CHAT)
    mechanisms = [e["exception"]["values"][-1]["mechanism"]["type"] for e in transport.events]
    assert mechanisms == ["django", "asgi"]
    expected = [("/items/<int:item_id>", "route"), ("/ws/chat/<str:room>/", "route")]
    assert named(transport.events) == named(transport.transactions) == expected


@needs_mounts_keeping_the_path
@needs_channels_routing_below_the_root
async def test_websocket_below_a_mount_is_named_below_it(sentry_init):
    """Mounted at /api below a Starlette router, a websocket is named /api plus its route."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = Starlette(routes=[Mount("/api", app=channels_app())])
    await chat(SentryMiddleware(app, transaction_style="url"), "/api/ws/chat/lobby/")
    assert named(transport.transactions) == [("/api/ws/chat/<str:room>/", "route")]


@pytest.mark.parametrize(
    ("style", "name"),
    [
        ("url", ("/sync/<str:code>", "route")),
        ("endpoint", (f"{TENANT_URLS}.sync_order", "component")),
    ],
)
async def test_django_request_routed_by_its_own_urlconf_is_named_after_its_route(
    style, name, sentry_init, http
):
    """Below ProtocolTypeRouter, a failing Django request a middleware routes with its own URLconf is named after that URLconf's route or view, event and transaction alike."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = SentryMiddleware(channels_app(), transaction_style=style)
    assert (await http(app, "/sync/7", headers=TENANT)).status_code == 500
    assert named(transport.events) == named(transport.transactions) == [name]


async def test_failing_receive_is_reported_once_as_itself(sentry_init):
    """A consumer's exception in receive() leaves the app to the server, reported once, unhandled, with its frame and ws URL."""
    transport = sentry_init()
    await chat(SentryMiddleware(channels_app()), "/ws/chat/lobby/")
    (event,) = transport.events
    (value,) = event["exception"]["values"]
    assert (value["type"], value["value"]) == ("ValueError", "chat in lobby")
    assert value["mechanism"] == {"type": "asgi", "handled": False}
    assert "receive" in frame_functions(event)
    assert event["request"]["url"] == "ws://testserver/ws/chat/lobby/"


async def test_json_consumer_run_in_a_thread_is_reported_once(sentry_init):
    """A sync JsonWebsocketConsumer's exception, raised in Channels' thread, is reported once, as itself."""
    transport = sentry_init()
    incoming = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": json.dumps({"name": "widget"})},
    ]
    with pytest.raises(KeyError):
        await call(SentryMiddleware(channels_app()), websocket_scope("/ws/orders"), incoming)
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "'widget'"
    assert "receive_json" in frame_functions(event)
    assert event["transaction"] == f"{CONSUMERS}.Orders"


@pytest.mark.skipif(
    CHANNELS_VERSION < (4, 1),
    reason="Channels 4.0 drops an AsyncHttpConsumer's exception (StopConsumer raised in a finally)",
)
async def test_http_consumer_error_is_reported_once_as_itself(sentry_init, http):
    """An AsyncHttpConsumer's exception is reported once, the server's 500 not again, named after its route."""
    transport = sentry_init(traces_sample_rate=1.0)
    app = SentryMiddleware(channels_app(), transaction_style="url")
    assert (await http(app, "/report", method="POST", content=b"abc")).status_code == 500
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "report of 3 bytes"
    assert "handle" in frame_functions(event)
    assert named(transport.transactions) == [("/report", "route")]


async def test_denied_connection_is_no_error(sentry_init):
    """A consumer that denies the handshake (DenyConnection) closes it: no event, the app's messages untouched."""
    transport = sentry_init(traces_sample_rate=1.0)
    app = SentryMiddleware(channels_app(), transaction_style="url")
    incoming = [{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1006}]
    conversation = await call(app, websocket_scope("/ws/refuse"), incoming)
    assert conversation.sent == [{"type": "websocket.close"}]
    assert transport.events == []
    assert named(transport.transactions) == [("/ws/refuse", "route")]


def below_a_mount(app):
    """The Channels app mounted at /api below a Starlette router."""
    return lambda: Starlette(routes=[Mount("/api", app=app())])


def mounted_in_blacksheep(app):
    """The Channels app mounted at /api with BlackSheep's app.mount."""

    def mounting() -> Application:
        blacksheep = Application(router=Router())
        blacksheep.mount("/api", app())
        return blacksheep

    return mounting


def http_only() -> ProtocolTypeRouter:
    """A Channels app that serves HTTP only."""
    return ProtocolTypeRouter({"http": django_app()})


@pytest.mark.parametrize("integrations", [True, False], ids=["integrations", "no integrations"])
@pytest.mark.parametrize(
    ("app", "path"),
    [
        pytest.param(channels_app, "/wp-admin/ws", id="no route"),
        pytest.param(http_only, "/ws", id="http only"),
        pytest.param(below_a_mount(channels_app), "/api/wp-admin/ws", id="no route, mounted"),
        pytest.param(below_a_mount(http_only), "/api/ws", id="http only, mounted"),
        pytest.param(
            mounted_in_blacksheep(channels_app), "/api/wp-admin/ws", id="BlackSheep mount"
        ),
    ],
)
async def test_websocket_nothing_serves_raises_as_it_did_but_is_no_error(
    app, path, integrations, sentry_init
):
    """A websocket no route or app serves (Channels' routers raise ValueError: its 404), also below a Starlette Mount or BlackSheep's app.mount and with sentry_sdk's integrations on or off, still raises to the server, but is no event, and its transaction not_found."""
    transport = sentry_init(traces_sample_rate=1.0, auto_enabling_integrations=integrations)
    with pytest.raises(ValueError, match=r"No (route|application)") as raised:
        await call(SentryMiddleware(app()), websocket_scope(path), [{"type": "websocket.connect"}])
    # As uvicorn logs what the app raised: sentry_sdk's logging integration reads the record.
    logging.getLogger("uvicorn.error").error("Exception in ASGI application", exc_info=raised.value)
    assert transport.events == []
    (transaction,) = transport.transactions
    assert transaction["contexts"]["trace"]["status"] == "not_found"


@pytest.mark.parametrize("integrations", [True, False], ids=["integrations", "no integrations"])
async def test_request_a_starlette_app_answers_500_for_a_mounted_channels_app_is_its_error(
    integrations, sentry_init, http
):
    """An HTTP request to a Channels app without "http", mounted below a Starlette app that answers its ValueError 500, is that 500's error: one event, the exception, the transaction internal_error."""
    transport = sentry_init(traces_sample_rate=1.0, auto_enabling_integrations=integrations)
    websockets_only = ProtocolTypeRouter({"websocket": URLRouter(WEBSOCKET_ROUTES)})
    app = Starlette(routes=[Mount("/api", app=websockets_only)])
    assert (await http(SentryMiddleware(app), "/api/items/1")).status_code == 500
    (event,) = transport.events
    assert (
        event["exception"]["values"][-1]["value"]
        == "No application configured for scope type 'http'"
    )
    (transaction,) = transport.transactions
    assert transaction["contexts"]["trace"]["status"] == "internal_error"


async def test_auth_stacks_cookies_session_and_user_stay_out_of_the_event(sentry_init):
    """Behind AuthMiddlewareStack, the session cookie the consumer holds (cookies, session, user in its frames) is filtered everywhere."""
    transport = sentry_init()
    secret = "sessionsecretvalue42"  # noqa: S105 - the value that must not be sent
    scope = websocket_scope("/ws/session")
    scope["headers"] = [*scope["headers"], (b"cookie", f"sessionid={secret}; theme=dark".encode())]
    with pytest.raises(ValueError, match="AnonymousUser"):
        await call(SentryMiddleware(channels_app()), scope, [{"type": "websocket.connect"}])
    (event,) = transport.events
    assert "cookies" in json.dumps(event["exception"]["values"][-1]["stacktrace"]["frames"][-1])
    assert secret not in json.dumps(event)
    assert event["transaction"] == f"{CONSUMERS}.Session"


class WaitingForBoth(Conversation):
    """A client that sends what follows its handshake once both clients' consumers accepted."""

    def __init__(self, app, path: str, incoming, accepted: list[str], both: asyncio.Event) -> None:
        super().__init__(app, websocket_scope(path), incoming)
        self.accepted = accepted
        self.both = both

    async def receive(self):
        if self.incoming and self.incoming[0]["type"] != "websocket.connect":
            await self.both.wait()
        return await super().receive()

    async def send(self, message):
        await super().send(message)
        if message["type"] == "websocket.accept":
            self.accepted.append(self.scope["path"])
            if len(self.accepted) == 2:
                self.both.set()


def both_connected(app, paths_and_incoming) -> list[WaitingForBoth]:
    """Two clients whose messages after the handshake wait until both are connected."""
    accepted: list[str] = []
    both = asyncio.Event()
    return [
        WaitingForBoth(app, path, incoming, accepted, both) for path, incoming in paths_and_incoming
    ]


@pytest.mark.parametrize("chat", ["chat", "sync-chat"])
async def test_concurrent_websockets_keep_their_own_tags_and_user(chat, sentry_init):
    """Two chats open at once (async consumers, or sync ones in Channels' thread): the room tag and user each consumer sets land on its own event only."""
    transport = sentry_init(auto_enabling_integrations=False)
    app = SentryMiddleware(channels_app())
    chats = both_connected(app, [(f"/ws/{chat}/{room}/", FAILING_CHAT) for room in ("a", "b")])
    results = await asyncio.gather(*(c.run() for c in chats), return_exceptions=True)
    assert [str(r) for r in results] == ["chat in a", "chat in b"]
    reported = sorted(
        (e["exception"]["values"][-1]["value"], e["tags"]["room"], e["user"]["id"])
        for e in transport.events
    )
    assert reported == [("chat in a", "a", "in-a"), ("chat in b", "b", "in-b")]


async def test_group_message_failing_in_another_connection_is_reported_there(sentry_init):
    """A message relayed through the channel layer that fails in another connection's consumer is reported with that connection's tag, URL and route."""
    transport = sentry_init(traces_sample_rate=1.0)
    app = SentryMiddleware(channels_app(), transaction_style="url")
    sending = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": "hi"},
        {"type": "websocket.disconnect", "code": 1000},
    ]
    members = both_connected(
        app, [("/ws/room/a/", sending), ("/ws/room/b/", [{"type": "websocket.connect"}])]
    )
    with override_settings(CHANNEL_LAYERS=IN_MEMORY_LAYER):
        results = await asyncio.gather(*(m.run() for m in members), return_exceptions=True)
    assert [repr(r) for r in results] == ["None", "ValueError('b got hi')"]
    (event,) = transport.events
    assert event["tags"]["member"] == "b"
    assert event["request"]["url"] == "ws://testserver/ws/room/b/"
    assert event["transaction"] == "/ws/room/<str:member>/"
