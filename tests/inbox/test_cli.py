import errno
import logging
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import urllib.request

import pytest
import sentry_sdk

from sentry_asgi.inbox._server import InboxServer

from .helpers import COMMAND, Process, envelope, event_item, sdk, without_sentry_env


def test_without_the_extra_main_prints_the_install_line():
    """With uvicorn missing, the command explains what to install instead of a traceback."""
    code = (
        "import sys; sys.modules['uvicorn'] = None; from sentry_asgi._cli import main; exit(main())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert (
        result.stderr == 'The sentry-asgi command needs its extra: pip install "sentry-asgi[cli]"\n'
    )
    assert result.stdout == ""


@pytest.mark.e2e
def test_inbox_command_prints_events_and_keeps_them_across_restarts(tmp_path):
    """The startup line says it is loopback-only; each event prints a line; a restart loses none."""
    db = str(tmp_path / "inbox.sqlite3")
    first = Process("inbox", "--port", "0", "--db", db)
    try:
        url = first.expect(
            r"^sentry-asgi inbox on (http://127\.0\.0\.1:\d+) \(listening on 127\.0\.0\.1, "
            r"loopback only; --host to change\)$"
        )[1]
        dsn = first.expect(r"send events with SENTRY_DSN=(\S+)")[1]
        with sdk(dsn=dsn):
            sentry_sdk.capture_message("kept across restarts", level="warning")
        first.expect(
            r"^\d\d:\d\d:\d\d WARNING kept across restarts  trace [0-9a-f]{32}  "
            + re.escape(url)
            + r"/events/[0-9a-f]{32}$"
        )
    finally:
        assert first.stop() == 0

    second = Process("inbox", "--port", "0", "--db", db)
    try:
        url = second.expect(r"^sentry-asgi inbox on (\S+) ")[1]
        with urllib.request.urlopen(url + "/", timeout=10) as response:  # noqa: S310 - loopback
            assert "kept across restarts" in response.read().decode()
    finally:
        assert second.stop() == 0


@pytest.mark.e2e
def test_inbox_whose_output_cannot_show_an_event_s_text_still_stores_it():
    """Output with no code for a character (not UTF-8) prints a ? there; the SDK gets its 200."""
    proc = Process(
        "inbox", "--port", "0", "--db", ":memory:", env={**os.environ, "PYTHONIOENCODING": "ascii"}
    )
    try:
        url = proc.expect(r"^sentry-asgi inbox on (\S+) ")[1]
        body = envelope(event_item({"message": "café ☕ closed"}))
        status = urllib.request.urlopen(url + "/api/1/envelope/", body, timeout=10).status  # noqa: S310
        assert status == 200
        proc.expect(r"^\d\d:\d\d:\d\d ERROR   caf\? \? closed  ")
    finally:
        assert proc.stop() == 0


@pytest.mark.e2e
def test_inbox_whose_output_was_closed_still_stores_events():
    """With its output closed (a pager or grep that quit), events still get a 200."""
    proc = subprocess.Popen(
        [*COMMAND, "inbox", "--port", "0", "--db", ":memory:"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        url = re.search(r"on (\S+) ", proc.stdout.readline())[1]
        while not proc.stdout.readline().startswith("  stored in "):  # the rest of the banner
            pass
        proc.stdout.close()  # nobody reads its lines any more
        body = envelope(event_item({"message": "printed to no one"}))
        for _ in range(2):  # the first line may still fit in the pipe
            status = urllib.request.urlopen(url + "/api/1/envelope/", body, timeout=10).status  # noqa: S310
            assert status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)


@pytest.mark.e2e
def test_inbox_command_reports_a_busy_port(tmp_path):
    """A port already in use is one clear line and exit status 1."""
    first = Process("inbox", "--port", "0", "--db", ":memory:")
    try:
        port = first.expect(r"^sentry-asgi inbox on http://127\.0\.0\.1:(\d+) ")[1]
        result = subprocess.run(
            [*COMMAND, "inbox", "--port", port, "--db", ":memory:"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        assert result.returncode == 1
        why = os.strerror(errno.EADDRINUSE)  # the reason, not "[Errno 98] ..."
        assert result.stdout == f"sentry-asgi inbox: cannot listen on 127.0.0.1:{port}: {why}\n"
    finally:
        first.stop()


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("args", "env", "status", "message"),
    [
        (["inbox", "--port", "70000"], {}, 2, "argument --port: '70000' is not a port"),
        (["inbox", "--port", "65536"], {}, 2, "argument --port: '65536' is not a port"),
        (
            ["inbox", "--allowed-host", "inbox:8969"],
            {},
            2,
            (
                "argument --allowed-host: 'inbox:8969' is not a host name: give one without"
                " scheme or port (inbox), or '*' for any"
            ),
        ),
        (
            ["run", "app:app", "--inbox-port", "-1"],
            {},
            2,
            "argument --inbox-port: '-1' is not a port",
        ),
        (
            ["inbox", "--port", "0", "--db", "{missing}/inbox.sqlite3"],
            {},
            1,
            "sentry-asgi inbox: cannot open the database {missing}/inbox.sqlite3: unable to open",
        ),
        (
            ["run", "app:app", "--inbox-port", "0", "--inbox-db", "{missing}/inbox.sqlite3"],
            {},
            1,
            "sentry-asgi run: the inbox cannot open the database {missing}/inbox.sqlite3: ",
        ),
        (
            ["run", "app:app"],
            {"SENTRY_TRACES_SAMPLE_RATE": "often"},
            1,
            "sentry-asgi run: SENTRY_TRACES_SAMPLE_RATE must be a number from 0 to 1, not 'often'",
        ),
        (
            ["run", "app:app"],
            {"SENTRY_TRACES_SAMPLE_RATE": "1.5"},
            1,
            "sentry-asgi run: SENTRY_TRACES_SAMPLE_RATE must be a number from 0 to 1, not '1.5'",
        ),
        (  # a rate of 0 is a rate: the app is loaded
            ["run", "no_such_module:app", "--port", "0", "--inbox-port", "0"],
            {"SENTRY_TRACES_SAMPLE_RATE": "0"},
            1,
            'Error loading ASGI app. Could not import module "no_such_module".',
        ),
        (
            ["run", "app:app", "--workers", "2"],
            {"SENTRY_DSN": "http://127.0.0.1:8969/1"},
            1,
            "sentry-asgi run: SENTRY_DSN is not a DSN: Missing public key",
        ),
        (
            ["run", "no_such_module:app", "--port", "0", "--inbox-port", "0"],
            {},
            1,
            'Error loading ASGI app. Could not import module "no_such_module".',
        ),
    ],
)
def test_bad_arguments_are_one_clear_line(tmp_path, args, env, status, message):
    """A bad port, database, sample rate, DSN or app is said in one line, with no traceback."""
    missing = str(tmp_path / "missing")
    result = subprocess.run(
        [*COMMAND, *(arg.format(missing=missing) for arg in args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
        env={**without_sentry_env(), **env},
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode == status
    assert message.format(missing=missing) in output
    assert "Traceback" not in output


def test_an_inbox_whose_database_cannot_open_leaves_no_socket_listening(tmp_path):
    """An inbox that fails on its database closes the socket it bound: the port is free again."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(sqlite3.OperationalError):
        InboxServer("127.0.0.1", port, str(tmp_path / "missing" / "inbox.sqlite3"))
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))  # would fail with EADDRINUSE while the inbox's socket lives


def test_inbox_beside_an_app_logs_no_start_or_stop_of_its_own(caplog):
    """The app's uvicorn sets uvicorn's log level for both: the inbox's stop is not told twice."""
    server = InboxServer("127.0.0.1", 0, ":memory:")
    caplog.set_level(logging.INFO, logger="uvicorn.error")  # as the app's uvicorn config does
    server.start()
    logging.getLogger("uvicorn.error").info("the app's own line")  # still told
    server.stop()
    assert [r.getMessage() for r in caplog.records if r.name == "uvicorn.error"] == [
        "the app's own line"
    ]
