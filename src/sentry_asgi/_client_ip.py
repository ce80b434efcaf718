"""The end user's address, believing forwarding headers only from proxies the user trusts.

X-Forwarded-For and Forwarded are written by whoever sends the request, so the leftmost
entry is whatever a client wants it to be. Only hops appended by a trusted proxy are
believed: walk from the right (the entry the direct peer added) past trusted proxies, and
take the first address that is not one.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sentry_asgi._options import IPNetwork

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse(entry: str) -> IPAddress | None:
    """Parse one hop: a bare address, ``1.2.3.4:80``, ``[::1]:80`` or a quoted RFC 7239 value."""
    text = entry.strip().strip('"')
    if text.startswith("["):  # [v6] or [v6]:port
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:  # v4:port
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None  # "unknown", obfuscated identifiers, garbage: never believed


def _trusted(address: IPAddress, proxies: tuple[IPNetwork, ...]) -> bool:
    """Tell whether an address is a trusted proxy's, also as a dual-stack socket writes it.

    A server listening on ``::`` (granian does) sees an IPv4 proxy as ``::ffff:10.0.0.5``.
    """
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return any(
        address in network or (mapped is not None and mapped in network) for network in proxies
    )


def is_trusted(text: str, proxies: tuple[IPNetwork, ...]) -> bool:
    """Tell whether an address, as written in a hop or the peer, is one of the trusted proxies."""
    if not proxies:
        return False
    address = _parse(text)
    return address is not None and _trusted(address, proxies)


def forwarded_for(values: Iterable[str]) -> list[str]:
    """The ``for=`` hops of RFC 7239 ``Forwarded`` header values, left to right."""
    hops = []
    for value in values:
        for element in value.split(","):
            for pair in element.split(";"):
                name, _, hop = pair.strip().partition("=")
                if name.lower() == "for":
                    hops.append(hop)
    return hops


def x_forwarded_for(values: Iterable[str]) -> list[str]:
    """The hops of ``X-Forwarded-For`` header values, left to right."""
    return [hop for value in values for hop in value.split(",")]


def client_ip(peer: str | None, hops: list[str], proxies: tuple[IPNetwork, ...]) -> str | None:
    """Resolve the client address from the direct peer and the forwarded hops."""
    if not proxies or peer is None:
        return peer
    current = _parse(peer)
    if current is None or not _trusted(current, proxies):
        return peer
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            # The trusted proxy to its right vouched for garbage: nothing further left can be
            # believed, so the last trusted hop is as close to the client as we can prove.
            break
        current = address
        if not _trusted(address, proxies):
            break
    return str(current)


def resolve_client(
    peer: str | None,
    forwarded: list[str],
    x_forwarded: list[str],
    proxies: tuple[IPNetwork, ...],
) -> str | None:
    """Resolve the client address from ``Forwarded`` and ``X-Forwarded-For`` hops.

    A trusted proxy that maintains one of the two headers passes the other through as the
    client wrote it, and nothing tells which one it maintains. When both name a client and
    disagree, one of them is forged: the peer is the nearest address that is certain.
    """
    by_forwarded = client_ip(peer, forwarded, proxies) if forwarded else None
    by_x_forwarded = client_ip(peer, x_forwarded, proxies) if x_forwarded else None
    if by_forwarded is None or by_x_forwarded is None:
        return by_forwarded or by_x_forwarded or peer
    return by_forwarded if by_forwarded == by_x_forwarded else peer


def hop_addresses(hops: Iterable[str]) -> list[str]:
    """The addresses forwarded hops name, as written with and without a port: personal data.

    Only ever searched for, never believed, so they are told from ``unknown`` and obfuscated
    identifiers by their characters alone, without the cost of parsing them.
    """
    addresses = []
    for hop in hops:
        text = hop.strip().strip('"')
        if text.startswith("["):  # [v6] or [v6]:port
            address = text[1 : text.find("]")] if "]" in text else ""
        else:
            address = text.partition(":")[0] if text.count(":") == 1 else text  # v4:port
        if _ADDRESS_TEXT.fullmatch(address):
            addresses.append(address)
            if text != address:
                addresses.append(text)
    return addresses


_ADDRESS_TEXT = re.compile(r"[0-9A-Fa-f:.]*[:.][0-9A-Fa-f:.]*")
