"""Which host names the inbox answers to: its guard against DNS rebinding.

A website can point a name of its own at this machine's address (or at 127.0.0.1); a browser
then sends that name as the Host, and lets the site's scripts read the answers. The inbox answers
only to names that cannot be a website's: IP addresses, ``localhost``, this machine's own names,
and the names it is given.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Collection

ANY = "*"
"""The allowed name that stands for every name: the guard off."""

_LOOPBACK_NAME = "localhost"
# a DNS name (letters, digits, "-", "."), or a container's name, which may hold "_"
_NAME = re.compile(r"[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?")


def checked_name(text: str) -> str:
    """The name ``text`` allows, as Host headers are compared; a ValueError says what is wrong."""
    name = _normal(text.strip())
    if name == ANY or _NAME.fullmatch(name) or is_ip_literal(name):
        return name
    msg = f"{text!r} is not a host name: give one without scheme or port (inbox), or '*' for any"
    raise ValueError(msg)


def host_name(host_header: str) -> str:
    """The name a Host header gives: without its port, in lower case, without a final dot."""
    host = host_header.lower()  # host names are case-insensitive (RFC 3986)
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return _normal(host.rsplit(":", 1)[0])


def is_ip_literal(name: str) -> bool:
    """Tell an IPv4 address, or an IPv6 one in brackets: no website can point one elsewhere."""
    if name.startswith("[") and name.endswith("]"):
        return _parses(ipaddress.IPv6Address, name[1:-1])
    return _parses(ipaddress.IPv4Address, name)


def machine_names() -> frozenset[str]:
    """This machine's host name and its fully qualified one, which may ask DNS: not on the loop."""
    return frozenset(_normal(name) for name in (socket.gethostname(), socket.getfqdn()) if name)


class AllowedHosts:
    """The host names an inbox answers to: the ones no website can own, and those it is given."""

    def __init__(self, names: Collection[str]) -> None:
        if isinstance(names, str):
            msg = f"allowed_hosts takes a list of host names, not the string {names!r}"
            raise TypeError(msg)
        self.given = frozenset(checked_name(name) for name in names)
        self.any = ANY in self.given

    def allows_at_once(self, name: str) -> bool:
        """Tell a name allowed without asking what this machine is called."""
        return self.any or name in self.given or name == _LOOPBACK_NAME or is_ip_literal(name)


def refusal(name: str) -> str:
    """Say why a request for ``name`` is refused, and which option would allow it."""
    if not name:
        return "this inbox answers only to requests that name its host (a Host header)"
    return (
        f"this inbox does not answer to the host name {name!r}, which any website could point"
        f" at this machine (DNS rebinding): to allow it, start the inbox with --allowed-host {name}"
    )


def _normal(name: str) -> str:
    return name.lower().removesuffix(".")  # "localhost." is the same name as "localhost"


def _parses(parse: type[ipaddress.IPv4Address | ipaddress.IPv6Address], text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True
