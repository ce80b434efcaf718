"""Real servers on 127.0.0.1 for end-to-end tests: an envelope receiver and an ASGI server."""

from __future__ import annotations

import gzip
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentry_sdk.envelope import Envelope

import sentry_asgi

if TYPE_CHECKING:
    from collections.abc import Iterator


class _ReceiverHandler(http.server.BaseHTTPRequestHandler):
    server: Receiver
    protocol_version = "HTTP/1.1"  # keep-alive, as Sentry's ingest: no connection per envelope
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        encoding = self.headers.get("content-encoding")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding == "br":
            import brotli

            body = brotli.decompress(body)
        envelope = Envelope.deserialize(body)
        with self.server.lock:
            self.server.requests.append((self.path, dict(self.headers)))
            self.server.envelopes.append(envelope)
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


class Receiver(http.server.ThreadingHTTPServer):
    """Decodes what sentry_sdk's real HTTP transport sends, as Sentry's ingest would."""

    request_queue_size = 1024  # a burst of envelopes must not meet a full listen backlog

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.lock = threading.Lock()
        self.envelopes: list[Envelope] = []
        self.requests: list[tuple[str, dict[str, str]]] = []

    @property
    def dsn(self) -> str:
        return f"http://public@127.0.0.1:{self.server_address[1]}/1"

    def items(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [
                json.loads(item.payload.get_bytes())
                for envelope in self.envelopes
                for item in envelope.items
                if item.type == kind
            ]

    def wait_for(self, kind: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.items(kind)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        return self.items(kind)


@contextmanager
def receiver() -> Iterator[Receiver]:
    """Serve a receiver on a free port; stop it afterwards."""
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def connect(address: int | str) -> socket.socket:
    """A connection to a port on 127.0.0.1, or to a Unix socket's path."""
    if isinstance(address, int):
        return socket.create_connection(("127.0.0.1", address), timeout=0.2)
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(0.2)
    try:
        sock.connect(address)
    except OSError:
        sock.close()
        raise
    return sock


def wait_for_port(port: int | str, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Wait until the server listens on ``port`` (on 127.0.0.1) or on a Unix socket's path."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            msg = f"server exited early with {process.returncode}"
            raise RuntimeError(msg)
        try:
            with connect(port):
                return
        except OSError:
            time.sleep(0.05)
    msg = f"nothing listened on {port}"
    raise TimeoutError(msg)


@contextmanager
def serve(
    command: list[str], port: int | str, env: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server process until the block ends; always stop it. Its output goes to ``log``."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            command, env=env, cwd=Path(__file__).parent, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_for_port(port, process)
            yield process
        except BaseException:
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace"))
            raise
        finally:
            stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server gracefully (SIGTERM), and for good if it has not exited within 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


PYTHON = sys.executable
SERVERS = ["uvicorn", "hypercorn", "granian", "daphne"]


def server_command(server: str, app: str, port: int) -> list[str]:
    """The documented way to serve ``app`` (``module:attribute``) with ``server`` on 127.0.0.1:``port``."""
    return {
        "uvicorn": [PYTHON, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)],
        "hypercorn": [PYTHON, "-m", "hypercorn", "--bind", f"127.0.0.1:{port}", app],
        "granian": [
            *(PYTHON, "-m", "granian", "--interface", "asgi"),
            *("--host", "127.0.0.1", "--port", str(port), app),
        ],
        "daphne": [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app],
    }[server]


@contextmanager
def serving(
    server: str, app: str, inbox: Receiver, *options: str, marks: Path | None = None
) -> Iterator[int]:
    """Serve ``app`` with ``server`` on a free port, sending to ``inbox``; stop it after the block.

    ``options`` follow the server's documented command; the block is given the port. The app
    leaves its marks (``apps.reached``) in the folder ``marks``.
    """
    port = free_port()
    argv = [*server_command(server, app, port), *options]
    env = server_env(SENTRY_DSN=inbox.dsn, **({"APP_MARKS": str(marks)} if marks else {}))
    with serve(argv, port, env):
        yield port


def wait_until_reached(marks: Path, point: str, timeout: float = 20.0) -> None:
    """Wait until a request in the served app got to ``point`` (its ``apps.reached`` mark)."""
    deadline = time.monotonic() + timeout
    while not (marks / point).exists():
        if time.monotonic() > deadline:
            msg = f"no request reached {point!r} within {timeout} s"
            raise TimeoutError(msg)
        time.sleep(0.02)


def unix_server_command(server: str, app: str, path: str) -> list[str]:
    """The documented way to serve ``app`` with ``server`` on the Unix socket at ``path``."""
    return {
        "uvicorn": [PYTHON, "-m", "uvicorn", app, "--uds", path],
        "hypercorn": [PYTHON, "-m", "hypercorn", "--bind", f"unix:{path}", app],
        "granian": [PYTHON, "-m", "granian", "--interface", "asgi", "--uds", path, app],
        "daphne": [PYTHON, "-m", "daphne", "-u", path, app],
    }[server]


def server_env(**values: str) -> dict[str, str]:
    """The environment for a server process: this one's, importing the same sentry_asgi as the tests.

    A relative ``PYTHONPATH`` would not reach it from the server's working directory, and an
    installed copy could be another checkout's.
    """
    source = str(Path(sentry_asgi.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, **values}
