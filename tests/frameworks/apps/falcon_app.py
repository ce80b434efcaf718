"""A real Falcon ASGI app: its catch-all error handler turns responder errors into 500s."""

from __future__ import annotations

import falcon
import falcon.asgi
import sentry_sdk


class UserFromHeader:
    """A Falcon middleware component (the framework's request hook) that names the user."""

    async def process_request(self, req, resp):
        user = req.get_header("x-user")
        if user:
            sentry_sdk.set_user({"id": user})
            sentry_sdk.set_tag("hook", "falcon-middleware")


class Items:
    """A responder that fails."""

    async def on_get(self, req, resp, item_id):
        raise ValueError(f"item {item_id}")


class Reset:
    """Answers /reset/{uidb64}/{token}/: a password-reset link."""

    async def on_get(self, req, resp, uidb64, token):
        raise ValueError(f"reset link expired ({len(token)} characters)")


class Broken:
    """A responder that answers 503 with no exception."""

    async def on_get(self, req, resp):
        resp.status = 503
        resp.text = "down"


class Missing:
    """A responder that answers 404 through an HTTPError."""

    async def on_get(self, req, resp):
        raise falcon.HTTPNotFound


class Orders:
    """A responder that reads the JSON body, then fails."""

    async def on_post(self, req, resp):
        raise ValueError((await req.get_media())["name"])


class SignIn:
    """A responder that reads a form, urlencoded or multipart, then fails."""

    async def on_post(self, req, resp):
        form = await req.get_media()
        if req.content_type.startswith("multipart/"):
            form = {part.name: await part.get_text() async for part in form}
        raise ValueError(form["name"])


class Socket:
    """A websocket responder that fails after accepting."""

    async def on_websocket(self, req, ws):
        await ws.accept()
        raise RuntimeError("websocket failed")


class Listen:
    """A websocket responder that reads until the client leaves."""

    async def on_websocket(self, req, ws):
        await ws.accept()
        while True:
            await ws.receive_text()


def falcon_app() -> falcon.asgi.App:
    app = falcon.asgi.App(middleware=[UserFromHeader()])
    app.add_route("/items/{item_id:int}", Items())
    app.add_route("/reset/{uidb64}/{token}/", Reset())
    app.add_route("/broken", Broken())
    app.add_route("/missing", Missing())
    app.add_route("/ws", Socket())
    app.add_route("/listen", Listen())
    app.add_route("/orders", Orders())
    app.add_route("/signin", SignIn())
    return app
