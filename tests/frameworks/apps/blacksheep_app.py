"""A real BlackSheep app: it turns request handler errors into 500s itself."""

from __future__ import annotations

import sentry_sdk
from blacksheep import Application, Request, Response, WebSocket
from blacksheep.contents import TextContent
from blacksheep.server.routing import Router


def blacksheep_app() -> Application:
    app = Application(router=Router())  # not the process-wide default router

    async def user_from_header(request, handler):
        user = request.get_first_header(b"x-user")
        if user:
            sentry_sdk.set_user({"id": user.decode()})
            sentry_sdk.set_tag("hook", "blacksheep-middleware")
        return await handler(request)

    app.middlewares.append(user_from_header)

    @app.router.get("/items/{item_id}")
    async def item(item_id: int):
        raise ValueError(f"item {item_id}")

    @app.router.get("/reset/{uidb64}/{token}/")
    async def reset(uidb64: str, token: str):
        raise ValueError(f"reset link expired ({len(token)} characters)")

    @app.router.get("/sync/{item_id}")
    def sync_item(item_id: int):
        raise KeyError(item_id)

    @app.router.get("/broken")
    async def broken():
        return Response(503, content=TextContent("down"))

    @app.router.post("/signin")
    async def sign_in(request: Request):
        form = await request.form()
        raise ValueError(form["name"])

    @app.router.post("/orders")
    async def create_order(request: Request):
        raise ValueError((await request.json())["name"])

    @app.router.ws("/ws")
    async def socket(websocket: WebSocket):
        await websocket.accept()
        raise RuntimeError("websocket failed")

    @app.router.ws("/listen")
    async def listen(websocket: WebSocket):
        await websocket.accept()
        while True:
            await websocket.receive_text()

    return app
