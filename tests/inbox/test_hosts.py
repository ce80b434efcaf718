import socket
from contextlib import closing
from types import SimpleNamespace

import pytest
import sentry_sdk

from sentry_asgi.inbox import InboxApp, Store
from sentry_asgi.inbox._server import InboxServer

from .helpers import (
    Process,
    envelope,
    event_item,
    free_port,
    get,
    request,
    resolve_to_loopback,
    sdk,
)

pytestmark = pytest.mark.e2e

WEBSITE = "rebound.example"  # a website's name its DNS points at this machine
LOOPBACK_ORIGIN = {"Origin": "http://localhost:3000"}  # CORS would let such a page read answers


def every_path(inbox, host: str) -> list[tuple[int, bytes]]:
    """Post, preflight and ask for every page under ``host``; return each status and body.

    An envelope goes to both ingest paths, then come the page, its script, its live updates
    and the envelope's event page.
    """
    body = envelope(event_item({"event_id": "a" * 32, "message": "sent by a website"}))
    asked = [
        ("POST", "/api/1/envelope/", body, {}),
        ("POST", "/stream", body, LOOPBACK_ORIGIN),
        ("OPTIONS", "/stream", b"", {**LOOPBACK_ORIGIN, "Access-Control-Request-Method": "POST"}),
        ("GET", "/", b"", {}),
        ("GET", "/inbox.js", b"", {}),
        ("GET", "/api/latest", b"", {}),
        ("GET", f"/events/{'a' * 32}", b"", {}),
    ]
    answers = []
    for method, path, sent, headers in asked:
        status, _, text = request(inbox, method, path, sent, {**headers, "Host": host})
        answers.append((status, text))
    return answers


def test_a_website_s_name_gets_a_421_naming_the_option_everywhere_and_stores_nothing(inbox):
    """Under a name a website could own, the page, script, live updates and ingest all refuse."""
    refusal = f"to allow it, start the inbox with --allowed-host {WEBSITE}".encode()
    for status, text in every_path(inbox, f"{WEBSITE}:{inbox.port}"):
        assert status == 421
        assert refusal in text
    assert inbox.store.events() == []


def test_a_request_naming_no_host_gets_a_421_saying_so_and_stores_nothing(inbox):
    """A request whose Host header names nothing is refused everywhere, saying a host is needed."""
    for status, text in every_path(inbox, ""):
        assert (status, text) == (
            421,
            b"this inbox answers only to requests that name its host (a Host header)",
        )
    assert inbox.store.events() == []


def test_the_sdk_sending_under_a_website_s_name_stores_nothing(inbox, monkeypatch):
    """A real sentry_sdk client whose DSN names a rebound website's host is refused."""
    resolve_to_loopback(monkeypatch, WEBSITE)
    with sdk(dsn=f"http://local@{WEBSITE}:{inbox.port}/1"):
        sentry_sdk.capture_message("through a rebound name")
    assert inbox.store.events() == []


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:{port}",
        "10.1.2.3:8969",  # the machine's address on a network
        "192.168.1.20",
        "[::1]:{port}",
        "[FD00::5]:8969",
        "localhost",
        "LocalHost.:{port}",
        socket.gethostname(),
        socket.getfqdn() + ":{port}",
    ],
)
def test_addresses_localhost_and_this_machine_s_names_are_answered(inbox, host):
    """No website can own an IP address, localhost or this machine's name: those are answered."""
    assert get(inbox, "/", headers={"Host": host.format(port=inbox.port)})[0] == 200


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1.rebound.example",
        "localhost.rebound.example",
        "2130706433",  # 127.0.0.1 as one number: browsers send it as 127.0.0.1
        "[::1",
        "",
    ],
)
def test_names_that_only_look_like_an_address_are_refused(inbox, host):
    """A name that starts like an address or localhost, or no name at all, gets the 421."""
    assert get(inbox, "/", headers={"Host": host})[0] == 421


@pytest.mark.parametrize("inbox", [["inbox"]], indirect=True)
def test_a_container_s_name_given_as_allowed_takes_the_sdk_s_events(inbox, monkeypatch):
    """With allowed_hosts=["inbox"], an SDK whose DSN names the service `inbox` is stored."""
    resolve_to_loopback(monkeypatch, "inbox")
    with sdk(dsn=f"http://local@inbox:{inbox.port}/1"):
        sentry_sdk.capture_message("from the app's container")
    assert [event["title"] for event in inbox.store.events()] == ["from the app's container"]
    statuses = [status for status, _ in every_path(inbox, f"INBOX:{inbox.port}")]
    assert statuses == [200, 200, 204, 200, 200, 200, 200]
    assert get(inbox, "/", headers={"Host": WEBSITE})[0] == 421


@pytest.mark.parametrize("inbox", [["*"]], indirect=True)
def test_a_star_answers_to_any_name(inbox):
    """allowed_hosts=["*"] turns the guard off: a website's name is answered too."""
    statuses = [status for status, _ in every_path(inbox, WEBSITE)]
    assert statuses == [200, 200, 204, 200, 200, 200, 200]
    assert [event["title"] for event in inbox.store.events()] == ["sent by a website"]


@pytest.mark.parametrize(
    ("allowed_hosts", "error", "message"),
    [
        ("inbox", TypeError, "allowed_hosts takes a list of host names, not the string 'inbox'"),
        (["inbox:8969"], ValueError, "'inbox:8969' is not a host name"),
        (["http://inbox"], ValueError, "'http://inbox' is not a host name"),
        (["*.example"], ValueError, "'*.example' is not a host name"),
    ],
)
def test_an_inbox_app_given_no_host_name_says_so(allowed_hosts, error, message):
    """A string, a port, a scheme or a pattern given as allowed is refused when the app is built."""
    with closing(Store(":memory:")) as store, pytest.raises(error, match=message):
        InboxApp(store, allowed_hosts=allowed_hosts)


def test_an_inbox_server_given_no_host_name_refuses_before_taking_its_port():
    """An inbox server given a port as a host name refuses it and leaves its port free."""
    port = free_port()
    with pytest.raises(ValueError, match="'inbox:8969' is not a host name"):
        InboxServer("127.0.0.1", port, ":memory:", ["inbox:8969"])
    server = InboxServer("127.0.0.1", port, ":memory:")  # the port is free: nothing holds it
    server.sock.close()
    server.store.close()


def test_inbox_command_answers_to_the_names_given_with_allowed_host():
    """`sentry-asgi inbox --allowed-host NAME` (repeatable) answers to those names, and no other."""
    names = ["--allowed-host", "inbox", "--allowed-host", "Inbox.Lan."]
    proc = Process("inbox", "--port", "0", "--db", ":memory:", *names)
    try:
        port = int(proc.expect(r"^sentry-asgi inbox on http://127\.0\.0\.1:(\d+) ")[1])
        server = SimpleNamespace(port=port)  # the port is all `get` reads of a server
        assert get(server, "/", headers={"Host": f"inbox:{port}"})[0] == 200
        assert get(server, "/", headers={"Host": "inbox.lan"})[0] == 200
        status, text = get(server, "/", headers={"Host": WEBSITE})
        assert status == 421
        assert text == (
            f"this inbox does not answer to the host name '{WEBSITE}', which any website could"
            f" point at this machine (DNS rebinding): to allow it, start the inbox with"
            f" --allowed-host {WEBSITE}"
        )
    finally:
        assert proc.stop() == 0
