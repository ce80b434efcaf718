"""Recognising the wrapped app's framework: cheap, by class, and never fatal."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import needs_mounts_keeping_the_path
from quart import Quart

from sentry_asgi import SentryMiddleware


async def plain_app(scope, receive, send):
    pass


def test_plain_asgi_app_has_no_framework():
    """A bare ASGI callable gets no framework adapter."""
    assert SentryMiddleware(plain_app).framework is None


def test_a_subclass_of_a_framework_app_is_recognised():
    """An app class derived from a framework's (a user's own Quart subclass) gets that framework's adapter."""

    class MyQuart(Quart):
        pass

    assert SentryMiddleware(MyQuart(__name__)).framework is not None


def test_wrapping_imports_no_framework_the_app_does_not_use():
    """Wrapping a plain app imports none of the supported frameworks, nor their adapters."""
    code = (
        "import sys\n"
        "from sentry_asgi import SentryMiddleware\n"
        "before = set(sys.modules)\n"
        "async def app(scope, receive, send): pass\n"
        "SentryMiddleware(app)\n"
        "print(sorted(set(sys.modules) - before))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"


@pytest.mark.internal_errors_expected
def test_a_framework_whose_internals_moved_still_starts(sentry_init, no_internal_errors):
    """If a framework's hook cannot be installed, the app is wrapped anyway, without it, and the fault is logged."""
    sentry_init(debug=True)  # sentry_sdk shows its logger's records only in debug mode

    class App:
        async def __call__(self, scope, receive, send):
            pass

    App.__module__ = "falcon.asgi.app"  # looks like Falcon, has none of its parts
    middleware = SentryMiddleware(App())
    assert middleware.framework is None
    assert len(no_internal_errors) == 1


@pytest.mark.anyio
@pytest.mark.internal_errors_expected
@needs_mounts_keeping_the_path
async def test_a_mounted_app_whose_framework_moved_leaves_the_others_hooked(
    sentry_init, http, no_internal_errors
):
    """A mounted app whose framework's hook cannot be installed is served without it; the apps mounted after it keep theirs."""
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from frameworks.apps.quart_app import quart_app

    transport = sentry_init(debug=True, auto_enabling_integrations=False)

    class App:
        async def __call__(self, scope, receive, send):
            pass

    App.__module__ = "falcon.asgi.app"  # looks like Falcon, has none of its parts
    routes = [Mount("/moved", app=App()), Mount("/api", app=quart_app())]
    app = SentryMiddleware(Starlette(routes=routes))
    assert (await http(app, "/api/items/42")).status_code == 500
    (event,) = transport.events
    assert event["exception"]["values"][-1]["mechanism"] == {"type": "quart", "handled": False}
    assert len(no_internal_errors) == 1
