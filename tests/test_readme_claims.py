"""What README.md and SECURITY.md promise, checked against the code and the installed sentry_sdk."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sentry_sdk
from conftest import call, http_scope
from sentry_sdk.consts import ClientConstructor
from sentry_sdk.scrubber import EventScrubber

from sentry_asgi import SentryMiddleware, _sdk

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(text: str, title: str) -> str:
    """The body of one ``## title`` section."""
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def init_options_named_in_readme() -> set[str]:
    """Every sentry_sdk.init option the README's examples pass or its Options section names."""
    names = set()
    for arguments in re.findall(r"sentry_sdk\.init\(([^)]*)\)", README):
        names.update(re.findall(r"(\w+)=", arguments))
    listed = README.split("Everything else comes from `sentry_sdk.init`:", 1)[1].split("\n\n")[0]
    names.update(re.findall(r"`([a-z_]+)(?:=[^`]*)?`", listed))
    return names


def test_init_options_the_installed_sdk_lacks_are_named_with_their_release():
    """An option this sentry_sdk does not accept is listed under Compatibility with its release."""
    accepted = set(inspect.signature(ClientConstructor.__init__).parameters)
    compatibility = section(README, "Compatibility")
    missing = sorted(init_options_named_in_readme() - accepted)
    unexplained = [
        name for name in missing if not re.search(rf"`{name}`[^.]*?\b2\.\d+", compatibility)
    ]
    assert unexplained == []


def snippet_after(text: str, lead: str) -> str:
    """The first Python code block after the line ``lead``."""
    return text.split(f"\n{lead}\n", 1)[1].split("```python\n", 1)[1].split("\n```", 1)[0]


def quickstart_app(lead: str) -> Any:
    """The app a quickstart builds, run as written (the fixture has initialised sentry_sdk)."""
    code = snippet_after(README, lead).replace("sentry_sdk.init(dsn=...)\n", "")
    namespace: dict[str, Any] = {}
    exec(compile(code, lead, "exec"), namespace)  # noqa: S102 - the README's own example
    return namespace["app"]


STARLETTE_QUICKSTART = (
    "Starlette, as in the original README (whose `@app.route` decorator Starlette 1.0 removed):"
)


@pytest.mark.anyio
@pytest.mark.parametrize("integrations", ["bare", "defaults"])
async def test_starlette_quickstart_reports_the_views_error_once(sentry_init, integrations):
    """The original README's Starlette example, as this README gives it, reports "nope" once."""
    transport = sentry_init(
        **({"auto_enabling_integrations": False} if integrations == "bare" else {})
    )
    app = quickstart_app(STARLETTE_QUICKSTART)
    with pytest.raises(ValueError, match="nope"):
        await call(app, http_scope("/"))
    (event,) = transport.events
    (error,) = event["exception"]["values"]
    assert (error["value"], error["mechanism"]) == ("nope", {"type": "asgi", "handled": False})


@pytest.mark.anyio
async def test_fastapi_quickstart_serves_and_names_by_url(sentry_init):
    """The FastAPI quickstart answers as FastAPI does and names its transactions by route."""
    transport = sentry_init(auto_enabling_integrations=False, traces_sample_rate=1.0)
    app = quickstart_app("FastAPI:")

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    conversation = await call(app, http_scope("/items/7"))
    assert conversation.sent[0]["status"] == 200
    sentry_sdk.flush()
    (transaction,) = transport.transactions
    assert transaction["transaction"] == "/items/{item_id}"


@pytest.mark.anyio
async def test_raw_asgi_quickstart_runs_as_written(sentry_init):
    """The raw ASGI quickstart's DSN and options are ones sentry_sdk accepts, and its app is served."""
    code = snippet_after(README, "Raw ASGI:").replace("sentry_sdk.init(", "sentry_init(")
    namespace: dict[str, Any] = {"sentry_init": sentry_init}
    exec(compile(code, "Raw ASGI", "exec"), namespace)  # noqa: S102 - the README's own example
    assert sentry_sdk.get_client().options["traces_sample_rate"] == 0.1
    conversation = await call(namespace["app"], http_scope("/"))
    assert conversation.sent == []  # the example's app answers nothing, and nothing is added


def test_the_recommended_set_up_disables_sentry_sdks_starlette_and_fastapi_integrations():
    """The README's set-up, run in a fresh interpreter as an app runs it, leaves both integrations off."""
    lead = "monkeypatching (which, for example, reads request bodies ahead of the app):"
    code = snippet_after(README, lead).replace("dsn=...", 'dsn="http://public@127.0.0.1:9/1"')
    code += "\nprint(*sorted(sentry_sdk.get_client().integrations))"
    ran = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    active = set(ran.stdout.split())
    assert "logging" in active
    assert not {"starlette", "fastapi"} & active


def test_the_current_scope_is_read_from_sentry_sdks_context_variable():
    """Compatibility's `_current_scope` is found: the request's current scope is read from it."""
    assert "`sentry_sdk.scope._current_scope`" in section(README, "Compatibility")
    assert _sdk._current_scope_var is not None
    with sentry_sdk.new_scope() as current:
        assert _sdk._current_scope_var.get(None) is current


@pytest.mark.anyio
async def test_pii_consent_sends_what_was_received_but_a_bodys_secret_fields(sentry_init):
    """With send_default_pii=True a body's secret fields alone stay filtered, across the event too."""
    transport = sentry_init(
        send_default_pii=True,
        event_scrubber=EventScrubber(denylist=[]),
        include_source_context=False,  # the test's own source names the password
    )

    async def app(scope, receive, send):
        password = json.loads((await receive())["body"])["password"]
        raise RuntimeError(len(password))

    headers = [(b"host", b"h"), (b"content-type", b"application/json")]
    headers.append((b"authorization", b"Bearer abcdefgh1234"))
    body = json.dumps({"password": "hunter22hunter", "user": "bob"}).encode()
    scope = http_scope("/login", method="POST", headers=headers)
    with pytest.raises(RuntimeError):
        await call(SentryMiddleware(app), scope, [{"type": "http.request", "body": body}])
    event = transport.events[0]
    assert event["request"]["data"] == {"password": "[Filtered]", "user": "bob"}
    assert event["request"]["headers"]["authorization"] == "Bearer abcdefgh1234"
    frames = json.dumps(event["exception"])
    assert "hunter22hunter" not in frames  # the app's variable holding it is searched
    assert "Bearer abcdefgh1234" in frames  # the scope the app's frame holds, as received
