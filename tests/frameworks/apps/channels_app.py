"""A real Django Channels app: Django's ASGI app for HTTP, consumers behind URLRouter for websockets."""

from __future__ import annotations

import sentry_sdk
from channels.auth import AuthMiddlewareStack
from channels.exceptions import DenyConnection
from channels.generic.http import AsyncHttpConsumer
from channels.generic.websocket import (
    AsyncWebsocketConsumer,
    JsonWebsocketConsumer,
    WebsocketConsumer,
)
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path, re_path

from frameworks.apps.django_app import django_app


class Failing(AsyncWebsocketConsumer):
    """Accepts, then fails."""

    async def connect(self):
        await self.accept()
        raise RuntimeError("websocket failed")


class Listening(AsyncWebsocketConsumer):
    """Accepts, and reads until the client leaves."""


def in_the_room(scope) -> None:
    """Tag the connection with its room, and name its user after it."""
    room = scope["url_route"]["kwargs"]["room"]
    sentry_sdk.set_tag("room", room)
    sentry_sdk.set_user({"id": f"in-{room}"})


class Chat(AsyncWebsocketConsumer):
    """A room's chat: tagged with its room, it fails on the message "fail"."""

    async def connect(self):
        in_the_room(self.scope)
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None):
        if text_data == "fail":
            raise ValueError(f"chat in {self.scope['url_route']['kwargs']['room']}")
        await self.send(text_data=text_data)


class SyncChat(WebsocketConsumer):
    """A room's chat, run in a thread: tagged with its room, it fails on any message."""

    def connect(self):
        in_the_room(self.scope)
        self.accept()

    def receive(self, text_data=None, bytes_data=None):
        raise ValueError(f"chat in {self.scope['url_route']['kwargs']['room']}")


class Member(AsyncWebsocketConsumer):
    """A room's member, tagged: relays what it receives to the room; member "b" fails on it."""

    async def connect(self):
        self.member = self.scope["url_route"]["kwargs"]["member"]
        sentry_sdk.set_tag("member", self.member)
        await self.channel_layer.group_add("room", self.channel_name)
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None):
        await self.channel_layer.group_send("room", {"type": "relayed", "text": text_data})

    async def relayed(self, message):
        if self.member == "b":
            raise ValueError(f"b got {message['text']}")


class Refusing(AsyncWebsocketConsumer):
    """Refuses every connection, as Channels documents: DenyConnection in connect."""

    async def connect(self):
        raise DenyConnection


class Orders(JsonWebsocketConsumer):
    """A sync JSON consumer, run in a thread: fails on what the client sent."""

    def receive_json(self, content, **kwargs):
        raise KeyError(content["name"])


class Session(AsyncWebsocketConsumer):
    """Fails with the cookies, the session and the user in its variables, as an app using them would."""

    async def connect(self):
        cookies, session, user = self.scope["cookies"], self.scope["session"], self.scope["user"]
        raise ValueError(f"{len(cookies)} cookies, session {bool(session.session_key)}, {user}")


class Report(AsyncHttpConsumer):
    """An HTTP consumer that fails."""

    async def handle(self, body):
        raise ValueError(f"report of {len(body)} bytes")


WEBSOCKET_ROUTES = [
    path("ws", Failing.as_asgi()),
    path("listen", Listening.as_asgi()),
    path("ws/chat/<str:room>/", Chat.as_asgi()),
    re_path(r"^ws/rooms/(?P<room>\w+)/$", Chat.as_asgi()),
    path("ws/sync-chat/<str:room>/", SyncChat.as_asgi()),
    path("ws/room/<str:member>/", Member.as_asgi()),
    path("ws/refuse", Refusing.as_asgi()),
    path("ws/orders", Orders.as_asgi()),
    path("ws/session", AuthMiddlewareStack(Session.as_asgi())),
    path("ws/v<int:version>/", URLRouter([path("chat/<str:room>/", Chat.as_asgi())])),
    path("ws/v<int:version>/rooms/<str:room>/", Chat.as_asgi()),  # tried once the router has none
    path("ws/invites/<str:token>/", URLRouter([path("chat/<str:room>/", Chat.as_asgi())])),
]


class TokenFromQuery:
    """A middleware written as Channels documents it: the next app kept as ``app``."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        return await self.app(dict(scope, token=scope["query_string"]), receive, send)


def documented_stack() -> ProtocolTypeRouter:
    """The websockets behind the middleware stack Channels' tutorial puts around them."""
    return ProtocolTypeRouter(
        {
            "http": django_app(),
            "websocket": AllowedHostsOriginValidator(
                AuthMiddlewareStack(TokenFromQuery(URLRouter(WEBSOCKET_ROUTES)))
            ),
        }
    )


def channels_app() -> ProtocolTypeRouter:
    """The application of a Channels project's asgi.py, as its documentation writes it."""
    return ProtocolTypeRouter(
        {
            "http": URLRouter([path("report", Report.as_asgi()), re_path(r"", django_app())]),
            "websocket": URLRouter(WEBSOCKET_ROUTES),
        }
    )
