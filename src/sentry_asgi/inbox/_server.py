"""Serving the inbox under uvicorn: in the foreground for the CLI, or on a thread beside an app.

The socket is bound before uvicorn starts, so the address (port 0 included) is known, and
printed, before the first request can arrive.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import sys
import threading
from typing import TYPE_CHECKING

import uvicorn

from sentry_asgi.inbox._app import InboxApp
from sentry_asgi.inbox._console import line
from sentry_asgi.inbox._hosts import AllowedHosts
from sentry_asgi.inbox._store import Store

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from sentry_asgi.inbox._summary import Summary

DEFAULT_PORT = 8969  # Spotlight's port: SDKs with spotlight=True find the inbox there


class InboxServer:
    """An inbox bound to a socket, with its store and its uvicorn server."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        db: str = ":memory:",
        allowed_hosts: Collection[str] = (),
    ) -> None:
        AllowedHosts(allowed_hosts)  # refused before a socket is bound, not after
        self.sock = _bind(host, port)
        bound_host, self.port = self.sock.getsockname()[:2]
        self.host = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.url = f"http://{self.host}:{self.port}"
        try:
            self.store = Store(db)
        except BaseException:
            self.sock.close()  # no listening socket left behind by an inbox that cannot start
            raise
        self.loopback = _is_loopback(host)
        self.app = InboxApp(
            self.store,
            on_event=self._print,
            allowed_hosts=allowed_hosts,
            send_to=(self.dsn, f"{self.url}/stream"),
        )
        self.colour = sys.stdout.isatty()
        config = uvicorn.Config(
            self.app,
            log_config=None,  # leave logging alone: an app's uvicorn in this process owns it
            log_level="warning",
            lifespan="on",
            server_header=False,
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self._quieted: list[tuple[str, Callable[[logging.LogRecord], bool]]] = []

    @property
    def dsn(self) -> str:
        """A DSN that sends to this inbox (the key and project id are not checked)."""
        return f"http://local@{self.host}:{self.port}/1"

    def banner(self) -> str:
        """Say where the inbox is, who can reach it, and how to point an SDK at it."""
        reach = (
            "loopback only; --host to change"
            if self.loopback
            else "reachable from other machines, "
            + (
                "as any host name"
                if self.app.allowed_hosts.any
                else "as its addresses and this machine's names; --allowed-host to add one"
            )
        )
        return (
            f"sentry-asgi inbox on {self.url} (listening on {self.host}, {reach})\n"
            f"  send events with SENTRY_DSN={self.dsn}"
            f' or spotlight="{self.url}/stream"\n'
            f"  stored in {self.store.path}"
        )

    def serve(self) -> None:
        """Serve in this thread until interrupted (Ctrl+C)."""
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.store.close()

    def start(self) -> None:
        """Serve on a daemon thread; returns once the inbox accepts requests."""
        thread = self._thread = threading.Thread(
            target=self.server.run, args=([self.sock],), daemon=True
        )
        # The app's uvicorn logs every request, and its start and stop at the level the app's
        # config sets for both servers: the inbox's requests are the SDK's, and its stop would
        # be told twice. Only the inbox's warnings and errors are worth a line. The filters are
        # in place before the thread starts (its id is read when a line is logged): a thread
        # that got the processor first would otherwise log its whole start-up unfiltered.
        self._quieted = [
            ("uvicorn.access", lambda r: r.thread != thread.ident),
            ("uvicorn.error", lambda r: r.thread != thread.ident or r.levelno >= logging.WARNING),
        ]
        for name, keep in self._quieted:
            logging.getLogger(name).addFilter(keep)
        thread.start()
        while not self.server.started:
            if not thread.is_alive():
                msg = "the inbox server stopped while starting"
                raise RuntimeError(msg)
            thread.join(0.01)

    def stop(self) -> None:
        """Stop a server started with `start`, and close the store."""
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        for name, keep in self._quieted:  # a later thread may be given the same id
            logging.getLogger(name).removeFilter(keep)
        self.sock.close()
        self.store.close()

    def _print(self, summary: Summary) -> None:
        """Print the event's line in what the terminal can show: never a reason to refuse it.

        A terminal or file that is not UTF-8 (redirected output on Windows, say) gets a ``?``
        for each character it has no code for, and a closed one gets nothing.
        """
        encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
        text = line(summary, self.url, colour=self.colour)
        with contextlib.suppress(OSError):
            print(text.encode(encoding, "replace").decode(encoding), flush=True)  # noqa: T201


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    # The protocol named: asyncio turns Nagle's algorithm off only on sockets that name TCP, and
    # a response in two writes (headers, body) would wait for the sender's delayed ACK: 40 ms each.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
        sock.listen(2048)  # senders queue from now on, even before uvicorn starts accepting
    except OSError:
        sock.close()
        raise
    return sock


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
