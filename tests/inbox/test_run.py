import json
import signal
import socket
import sqlite3
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from .helpers import Process, free_port, wait_for, without_sentry_env

pytestmark = pytest.mark.e2e

EXAMPLES = str(Path(__file__).parents[2] / "examples")


def fetch(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def answered(url: str) -> int | None:
    """The status of a request, or None while nothing accepts connections yet."""
    try:
        return fetch(url)
    except urllib.error.URLError:
        return None


# How `run` ends on each signal: Ctrl+C's exits 0; on SIGTERM it ends by the signal, as uvicorn does.
ENDS = {signal.SIGINT: 0, signal.SIGTERM: -signal.SIGTERM}


@contextmanager
def app_served(proc: Process, sig: int = signal.SIGINT) -> Iterator[None]:
    """Wait until `run` serves the app; at the end, stop it with ``sig`` and check how it ended."""
    try:
        proc.expect(r"Uvicorn running on http://127\.0\.0\.1")
        yield
    finally:
        assert proc.stop(sig) == ENDS[sig]


def run_demo(*args: str, env: dict[str, str]) -> tuple[Process, str]:
    port = free_port()
    proc = Process(
        "run", "demo_app:app", "--app-dir", EXAMPLES, "--port", str(port), *args, env=env
    )
    return proc, f"http://127.0.0.1:{port}"


def run_written_app(
    tmp_path: Path,
    module: str,
    source: str,
    app: str,
    *flags: str,
    port: int,
    db: Path | None = None,
) -> Process:
    """`run` an app written to ``tmp_path/module.py``, its inbox on a free port."""
    (tmp_path / f"{module}.py").write_text(source)
    stored = ("--inbox-db", str(db)) if db is not None else ()
    return Process(
        "run",
        f"{module}:{app}",
        *flags,
        "--app-dir",
        str(tmp_path),
        "--port",
        str(port),
        "--inbox-port",
        "0",
        *stored,
        env=without_sentry_env(),
    )


def test_run_without_dsn_starts_the_inbox_and_reports_to_it():
    """With no SENTRY_DSN, `run` serves the app, starts an inbox, and its events print there."""
    proc, app_url = run_demo("--inbox-port", "0", env=without_sentry_env())
    try:
        inbox_url = proc.expect(
            r"^SENTRY_DSN is not set: events go to the local inbox\. "
            r"Open (http://127\.0\.0\.1:\d+) to see them\.$"
        )[1]
        proc.expect(r"Uvicorn running on http://127\.0\.0\.1")
        assert fetch(app_url + "/fail") == 500
        proc.expect(r"ERROR   ZeroDivisionError: division by zero  GET " + app_url + "/fail  trace")
        assert fetch(app_url + "/items/7") == 200
        proc.expect(r"TXN     \S+  GET " + app_url + r"/items/7  \d+\.\d ms  trace [0-9a-f]{32}")
        page = wait_for(lambda: _text(inbox_url + "/"))
        assert "ZeroDivisionError" in page
    finally:
        assert proc.stop() == 0


@pytest.mark.parametrize("mode", [("--workers", "2"), ("--reload",)], ids=["workers", "reload"])
def test_run_reports_from_worker_and_reload_processes(mode):
    """Under --workers or --reload the app runs in child processes; their events reach the inbox."""
    proc, app_url = run_demo("--inbox-port", "0", *mode, env=without_sentry_env())
    try:
        proc.expect(r"^SENTRY_DSN is not set: events go to the local inbox\.")
        proc.expect(r"Started server process \[\d+\]")  # a child: the parent only supervises
        assert wait_for(lambda: answered(app_url + "/fail")) == 500
        proc.expect(r"ERROR   ZeroDivisionError: division by zero  GET " + app_url + "/fail  trace")
    finally:
        assert proc.stop() == 0


def test_run_with_a_dsn_sends_there(inbox):
    """With SENTRY_DSN set, `run` starts no inbox of its own and events go to that DSN."""
    env = {**without_sentry_env(), "SENTRY_DSN": inbox.dsn, "SENTRY_ENVIRONMENT": "staging"}
    proc, app_url = run_demo(env=env)
    with app_served(proc):
        assert fetch(app_url + "/user") == 500
        [issue] = wait_for(inbox.store.issues)
        assert issue.title == "PermissionError: user 42 may not open invoice 7"
        event = inbox.store.event(issue.last_event_id)
        assert event is not None
        assert event["environment"] == "staging"
        assert event["user"]["id"] == "42"
        assert event["tags"]["plan"] == "pro"
    assert not any("local inbox" in line for line in proc.seen)


def _text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
        return str(response.read().decode())


# An app that reports as it stops: sixty events, captured in its lifespan shutdown.
SHUTDOWN_APP = """
import sentry_sdk

async def app(scope, receive, send):
    while (await receive())["type"] != "lifespan.shutdown":
        await send({"type": "lifespan.startup.complete"})
    for n in range(60):
        sentry_sdk.capture_message(f"stopping {n}")
    await send({"type": "lifespan.shutdown.complete"})
"""


@pytest.mark.parametrize("sig", list(ENDS), ids=["SIGINT", "SIGTERM"])
def test_run_stops_its_inbox_only_after_the_app_s_last_events_reached_it(tmp_path, sig):
    """Events the app captures as it stops (its lifespan shutdown) are all stored by the inbox."""
    db = tmp_path / "inbox.sqlite3"
    proc = run_written_app(tmp_path, "stopping_app", SHUTDOWN_APP, "app", port=free_port(), db=db)
    with app_served(proc, sig):
        pass  # served, then stopped: its shutdown is what is checked
    with closing(sqlite3.connect(db)) as stored:
        assert stored.execute("SELECT COUNT(*) FROM events").fetchone() == (60,)


# An app without lifespan whose last request, under way as the server stops, reports as it ends.
LAST_REQUEST_APP = """
import asyncio
import sentry_sdk

async def app(scope, receive, send):
    if scope["type"] != "http":
        raise RuntimeError("no lifespan here")
    print("request under way", flush=True)
    await asyncio.sleep(1)
    for n in range(60):
        sentry_sdk.capture_message(f"finishing {n}")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"done"})
"""


def test_run_stopped_by_sigterm_sends_what_the_last_request_captured(tmp_path):
    """On SIGTERM, what a request under way captures as it ends reaches the inbox before `run` ends."""
    db = tmp_path / "inbox.sqlite3"
    port = free_port()
    proc = run_written_app(tmp_path, "last_request", LAST_REQUEST_APP, "app", port=port, db=db)
    answers: list[int] = []
    request = threading.Thread(target=lambda: answers.append(fetch(f"http://127.0.0.1:{port}/")))
    with app_served(proc, signal.SIGTERM):
        request.start()
        proc.expect(r"^request under way$")
    request.join(timeout=10)
    assert answers == [200]
    with closing(sqlite3.connect(db)) as stored:
        kinds = stored.execute("SELECT kind, COUNT(*) FROM events GROUP BY kind ORDER BY kind")
        assert kinds.fetchall() == [("error", 60), ("transaction", 1)]


# An app that sets sentry_sdk up itself, with a before_send hook that marks what it let through.
SELF_INITIALISED_APP = """
import sentry_sdk

def before_send(event, hint):
    event.setdefault("tags", {})["checked_by"] = "the app"
    return event

sentry_sdk.init(before_send=before_send)

async def app(scope, receive, send):
    if scope["type"] == "http":
        raise RuntimeError("failing under its own sentry_sdk options")
"""


def test_run_keeps_the_sentry_sdk_options_of_an_app_that_initialises_it(tmp_path):
    """An app's own sentry_sdk.init (its before_send scrubbing, say) is kept, not replaced."""
    port = free_port()
    db = tmp_path / "inbox.sqlite3"
    proc = run_written_app(
        tmp_path, "self_initialised", SELF_INITIALISED_APP, "app", port=port, db=db
    )
    with app_served(proc):
        assert fetch(f"http://127.0.0.1:{port}/") == 500
        proc.expect(r"ERROR   RuntimeError: failing under its own sentry_sdk options")
    with closing(sqlite3.connect(db)) as stored:
        [(data,)] = stored.execute("SELECT data FROM events WHERE kind = 'error'").fetchall()
    assert json.loads(data)["tags"] == {"checked_by": "the app"}


def demo_run(port: int, *, inbox_port: int) -> Process:
    """`sentry-asgi run` serving the demo app on ``port``, its inbox asked for on ``inbox_port``."""
    return Process(
        "run",
        "demo_app:app",
        "--app-dir",
        EXAMPLES,
        "--port",
        str(port),
        "--inbox-port",
        str(inbox_port),
        env=without_sentry_env(),
    )


def test_run_on_the_inbox_port_leaves_that_port_to_the_app():
    """`run --port 8969` (the inbox's port) serves the app there; its inbox takes a free port."""
    port = free_port()
    proc = demo_run(port, inbox_port=port)
    try:
        inbox_url = proc.expect(r"events go to the local inbox\. Open (http://\S+) to see them")[1]
        proc.expect(rf"Uvicorn running on http://127\.0\.0\.1:{port}")
        assert inbox_url != f"http://127.0.0.1:{port}"
        assert fetch(f"http://127.0.0.1:{port}/items/7") == 200
        proc.expect(r"TXN     \S+  GET http://127\.0\.0\.1:\d+/items/7")
    finally:
        assert proc.stop() == 0


def test_run_with_its_inbox_port_taken_starts_the_inbox_on_a_free_one():
    """`run` whose --inbox-port another program holds (a second inbox) starts its inbox on a free port and serves the app."""
    port = free_port()
    with closing(socket.socket()) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        proc = demo_run(port, inbox_port=taken)
        try:
            inbox_url = proc.expect(
                r"events go to the local inbox\. Open (http://\S+) to see them"
            )[1]
            proc.expect(rf"Uvicorn running on http://127\.0\.0\.1:{port}")
            assert inbox_url != f"http://127.0.0.1:{taken}"
            assert wait_for(lambda: answered(inbox_url + "/")) == 200
        finally:
            assert proc.stop() == 0


# An app made by a factory, as uvicorn's --factory serves it.
FACTORY_APP = """
async def made(scope, receive, send):
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"made"})

def create_app():
    return made
"""


@pytest.mark.parametrize("flag", [("--factory",), ()], ids=["factory", "detected"])
def test_run_serves_the_app_a_factory_makes(tmp_path, flag):
    """`run module:create_app` serves the app the factory returns: with --factory, or as uvicorn detects one."""
    port = free_port()
    proc = run_written_app(tmp_path, "factory_app", FACTORY_APP, "create_app", *flag, port=port)
    with app_served(proc):
        assert fetch(f"http://127.0.0.1:{port}/") == 200
        proc.expect(rf"TXN     /  GET http://127\.0\.0\.1:{port}/ ")
    detected = [line for line in proc.seen if "ASGI app factory detected" in line]
    assert len(detected) == (0 if flag else 1)


def test_run_with_factory_on_an_app_says_it_is_none_and_stops(tmp_path):
    """`run --factory` on what is no factory stops with uvicorn's line, not a 500 per request."""
    proc = run_written_app(
        tmp_path, "factory_app", FACTORY_APP, "made", "--factory", port=free_port()
    )
    try:
        proc.expect(r"Error loading ASGI app factory: .*made\(\) missing 3 required positional")
    finally:
        status = proc.stop()
    assert status != 0
