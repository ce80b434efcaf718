"""Each supported framework described once: its app, and what the shared contract expects of it.

tests/frameworks/test_contract.py runs every behaviour over these descriptions; each framework's
own module keeps only what is particular to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from conftest import (
    BLACKSHEEP_VERSION,
    LITESTAR_VERSION,
    needs_channels_routing_below_the_root,
    needs_mounts_keeping_the_path,
)

from frameworks.apps.blacksheep_app import blacksheep_app
from frameworks.apps.channels_app import channels_app
from frameworks.apps.django_app import django_app
from frameworks.apps.falcon_app import falcon_app
from frameworks.apps.fastapi_app import fastapi_app
from frameworks.apps.litestar_app import litestar_app
from frameworks.apps.quart_app import quart_app
from frameworks.apps.starlette_app import starlette_app

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable


@dataclass(frozen=True)
class Websockets:
    """How a framework answers a websocket handler that fails after accepting."""

    frame: str  # the handler's function name in the stack trace
    raises: bool = False  # the exception leaves the app (no framework handling)
    left_raises: bool = False  # a client leaving raises to the server too (WebSocketDisconnect)
    closes: bool = False  # the framework answers with a websocket.close
    # sentry_sdk options for the test
    init: dict[str, Any] = field(default_factory=lambda: {"auto_enabling_integrations": False})
    note: str = ""  # shown in the README's framework table


@dataclass(frozen=True)
class Framework:
    """One framework's app and the names, paths and hooks the contract checks on it."""

    name: str  # the README matrix key
    app: Callable[[], Any]  # a fresh ASGI app
    route: str  # the route template that /items/42 matches
    view: str  # the endpoint-style name of the /items/{id} view (module.qualname)
    view_frame: str = "item"  # that view's function name in the stack trace
    mechanism: str = ""  # the exception mechanism type of a view error (default: the name)
    # The user hook: a request to user_path with user_headers runs a hook that sets the user and
    # the "hook" tag, then a (sync, where the framework has them) view that raises user_error.
    user_path: str = "/sync/5"
    user_id: str = "u-5"
    hook_tag: str = ""  # default: "<name>-middleware"
    user_frame: str = "sync_item"
    user_error: str = "KeyError"
    user_headers: dict[str, str] = field(default_factory=lambda: {"x-user": "u-5"})
    broken: bool = True  # has /broken, a view that answers a bare 503
    hooked: bool = True  # reports through a framework hook, which must ignore unwrapped apps
    one_body_message: bool = False  # reads exactly content-length bytes, never the closing message
    refuses_methods: bool = True  # answers DELETE /items/42 (a GET route) with a 405
    # Routes the path below its mount point (Falcon routes the whole path: its own test).
    routes_below_mount: bool = True
    # With default integrations on, sentry_sdk's own integration for the framework names the
    # transaction first (otherwise the middleware names it, after the route).
    sdk_names_first: bool = False
    # Matches a request before the app runs, so traces_sampler gets its route (once it started).
    routes_up_front: bool = True
    websockets: Websockets | None = None  # None: the framework has no websockets ("n/a")

    def __post_init__(self) -> None:
        object.__setattr__(self, "mechanism", self.mechanism or self.name)
        object.__setattr__(self, "hook_tag", self.hook_tag or f"{self.name}-middleware")


# Starlette and FastAPI (built on it) alike: errors leave the app and reach the ASGI middleware
# (the framework hook serves only exceptions the app's own handlers answer, which these apps have
# none of: tests/test_frameworks_starlette.py), and no /broken view; websocket handler errors
# propagate too.
_STARLETTE_BASED: dict[str, Any] = {
    "mechanism": "asgi",
    "broken": False,
    "hooked": False,
    "routes_up_front": False,  # routing runs inside the app, after the transaction started
    "websockets": Websockets(frame="socket", raises=True, left_raises=True),
}

FRAMEWORKS = (
    Framework(
        name="starlette",
        app=starlette_app,
        route="/items/{item_id:int}",
        view="frameworks.apps.starlette_app.item",
        **_STARLETTE_BASED,
    ),
    Framework(
        name="fastapi",
        app=fastapi_app,
        route="/items/{item_id}",
        view="frameworks.apps.fastapi_app.fastapi_app.<locals>.item",
        user_headers={},
        user_id="u-42",
        hook_tag="fastapi-depends",
        **_STARLETTE_BASED,
    ),
    Framework(
        name="litestar",
        app=litestar_app,
        route="/items/{item_id}",
        view="frameworks.apps.litestar_app.item",
        sdk_names_first=True,
        user_path="/orders/5",
        user_headers={},
        user_id="u-7",
        hook_tag="litestar-provide",
        user_frame="order",
        websockets=Websockets(frame="socket", closes=True),
    ),
    Framework(
        name="quart",
        app=quart_app,
        route="/items/<int:item_id>",
        view="frameworks.apps.quart_app.quart_app.<locals>.item",
        sdk_names_first=True,
        hook_tag="quart-before-request",
        websockets=Websockets(frame="socket"),
    ),
    Framework(
        name="django",
        app=django_app,
        route="/items/<int:item_id>",
        view="frameworks.apps.django_app.item",
        sdk_names_first=True,
        refuses_methods=False,  # its URLconf routes every method to the view
    ),
    Framework(
        name="channels",
        app=channels_app,  # Django's ASGI app for HTTP, below Channels' routers
        route="/items/<int:item_id>",
        view="frameworks.apps.django_app.item",
        mechanism="django",
        hook_tag="django-middleware",
        sdk_names_first=True,
        refuses_methods=False,
        websockets=Websockets(frame="connect", raises=True),
    ),
    Framework(
        name="falcon",
        app=falcon_app,
        route="/items/{item_id:int}",
        view="frameworks.apps.falcon_app.Items.on_get",
        view_frame="on_get",
        user_path="/items/5",
        user_frame="on_get",
        user_error="ValueError",
        one_body_message=True,
        routes_below_mount=False,
        websockets=Websockets(frame="on_websocket", closes=True),
    ),
    Framework(
        name="blacksheep",
        app=blacksheep_app,
        route="/items/{item_id}",
        view="frameworks.apps.blacksheep_app.blacksheep_app.<locals>.item",
        refuses_methods=False,  # its router answers a method no route has with a 404
        websockets=Websockets(frame="socket", closes=True),
    ),
)


def each(feature: str, frameworks: Iterable[Framework] = FRAMEWORKS, note: str = "") -> list[Any]:
    """The frameworks as parameters, each tagged as proving its cell of the README's table."""
    params = []
    for framework in frameworks:
        extra = {"note": note} if note else {}
        mark = pytest.mark.matrix(framework.name, feature, **extra)
        params.append(pytest.param(framework, id=framework.name, marks=mark))
    return params


def mountable(frameworks: Iterable[Framework]) -> list[Any]:
    """The frameworks that route the path below their mount point, as parameters.

    Litestar before 2.6 and BlackSheep before 2.6.2 route the whole path, ``root_path`` included:
    mounted, they answer 404.
    Quart below a Starlette Mount needs the whole path, which Starlette passes on from 0.35;
    Channels routes below the root path, which it then holds, from 4.1.
    """
    old_litestar = pytest.mark.skipif(
        LITESTAR_VERSION < (2, 6), reason="Litestar before 2.6 ignores root_path"
    )
    old_blacksheep = pytest.mark.skipif(
        BLACKSHEEP_VERSION < (2, 6, 2), reason="BlackSheep before 2.6.2 ignores root_path"
    )
    marks = {
        "litestar": [old_litestar],
        "quart": [needs_mounts_keeping_the_path],
        "blacksheep": [old_blacksheep],
        "channels": [needs_mounts_keeping_the_path, needs_channels_routing_below_the_root],
    }
    return [
        pytest.param(f, id=f.name, marks=marks.get(f.name, []))
        for f in frameworks
        if f.routes_below_mount
    ]


def with_websockets() -> list[Any]:
    """The frameworks that have websockets, tagged with their websockets note."""
    return [
        param
        for framework in FRAMEWORKS
        if framework.websockets is not None
        for param in each("websockets", [framework], framework.websockets.note)
    ]
