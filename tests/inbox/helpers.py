"""Plain helpers for the inbox tests: raw HTTP to the inbox, hand-built envelopes, a real SDK."""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sentry_sdk

from sentry_asgi import _sessions as sessions

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sentry_asgi.inbox._server import InboxServer


@contextmanager
def sdk(**options: Any) -> Iterator[None]:
    """Run the block with a real sentry_sdk client, flushed and closed at its end."""
    options.setdefault("default_integrations", False)  # nothing from the test process leaks in
    sentry_sdk.init(**options)
    try:
        with sentry_sdk.isolation_scope():  # the block's transaction and tags stay in it
            yield
        sentry_sdk.flush(timeout=10)
    finally:
        sessions.flush()  # the block's request counts go to its client, not to a later test's
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)  # back to a client that sends nowhere


def post(
    server: InboxServer,
    body: bytes,
    *,
    path: str = "/api/1/envelope/",
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    """POST raw bytes to the inbox; return the status and the body text."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def get(server: InboxServer, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """GET a page of the inbox; return the status and the body text."""
    status, _, body = request(server, "GET", path, headers=headers)
    return status, body.decode()


def request(
    server: InboxServer,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """Send any request to the inbox; return the status, the headers (lower-cased) and the body."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        received = {name.lower(): value for name, value in response.getheaders()}
        return response.status, received, response.read()
    finally:
        conn.close()


def resolve_to_loopback(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Resolve ``name`` to 127.0.0.1 in this process, as a container's DNS resolves a service."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host == name else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def envelope(*items: tuple[dict[str, Any], bytes], header: dict[str, Any] | None = None) -> bytes:
    """Serialise an envelope by hand: a header line, then each item's header and payload."""
    lines = [json.dumps(header or {}).encode()]
    for item_header, payload in items:
        lines += [json.dumps({**item_header, "length": len(payload)}).encode(), payload]
    return b"\n".join(lines) + b"\n"


def event_item(event: dict[str, Any], kind: str = "event") -> tuple[dict[str, Any], bytes]:
    """Build an event (or transaction) item for `envelope`."""
    return {"type": kind}, json.dumps(event).encode()


def wait_for(predicate: Any, timeout: float = 10) -> Any:
    """Poll until ``predicate()`` is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    msg = "condition not met in time"
    raise AssertionError(msg)


COMMAND = [str(Path(sys.executable).parent / "sentry-asgi")]


class Process:
    """A running ``sentry-asgi`` command whose output lines can be awaited.

    ``env`` replaces the environment when given.
    """

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [*COMMAND, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for text in self.proc.stdout:
            self.lines.put(text.rstrip("\n"))

    def expect(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        """Wait for an output line matching ``pattern``; fail with everything seen so far."""
        while True:
            try:
                text = self.lines.get(timeout=timeout)
            except queue.Empty:
                pytest.fail(f"no line matching {pattern!r}; output was:\n" + "\n".join(self.seen))
            self.seen.append(text)
            match = re.search(pattern, text)
            if match:
                return match

    def stop(self, sig: int = signal.SIGINT) -> int:
        """Interrupt the command as Ctrl+C does (or as ``sig`` does), and wait for it to end."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        finally:
            self.reader.join(timeout=5)
            assert self.proc.stdout is not None
            self.proc.stdout.close()


def without_sentry_env() -> dict[str, str]:
    """This process's environment without any SENTRY_ variable, for commands run from a test."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}


def free_port() -> int:
    """Return a port that was free a moment ago, for servers that cannot report theirs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_module() -> Any:
    """``examples/demo_app.py``, the app ``scripts/demo`` serves, imported as ``demo_app``."""
    path = Path(__file__).parents[2] / "examples" / "demo_app.py"
    spec = importlib.util.spec_from_file_location("demo_app", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["demo_app"] = module
    spec.loader.exec_module(module)
    return module
