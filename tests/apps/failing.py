"""An ASGI app that always fails, kept apart from test data so its source context holds no secret."""


async def fail(scope, receive, send):
    raise RuntimeError("boom")
