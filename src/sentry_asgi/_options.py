"""The middleware's options, checked once at construction so that a typo fails at start-up."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Literal

TransactionStyle = Literal["endpoint", "url"]
TRANSACTION_STYLES: tuple[TransactionStyle, ...] = ("endpoint", "url")
# IANA's HTTP Method Registry (WebDAV's PROPFIND, CalDAV's MKCALENDAR, ...) and QUERY: a
# method out of it is a typo far more often than a request a server will ever see.
HTTP_METHODS = frozenset(
    {
        *("ACL", "BASELINE-CONTROL", "BIND", "CHECKIN", "CHECKOUT", "CONNECT", "COPY", "DELETE"),
        *("GET", "HEAD", "LABEL", "LINK", "LOCK", "MERGE", "MKACTIVITY", "MKCALENDAR", "MKCOL"),
        *("MKREDIRECTREF", "MKWORKSPACE", "MOVE", "OPTIONS", "ORDERPATCH", "PATCH", "POST"),
        *("PROPFIND", "PROPPATCH", "PUT", "QUERY", "REBIND", "REPORT", "SEARCH", "TRACE"),
        *("UNBIND", "UNCHECKOUT", "UNLINK", "UNLOCK", "UPDATE", "UPDATEREDIRECTREF"),
        "VERSION-CONTROL",
    }
)
# OPTIONS and HEAD are pre-flights and probes: tracing them burns quota and says nothing.
DEFAULT_HTTP_METHODS_TO_CAPTURE = frozenset(HTTP_METHODS - {"OPTIONS", "HEAD"})
DEFAULT_FAILED_REQUEST_STATUS_CODES = frozenset(range(500, 600))

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# A trusted proxy as README says it may be given: text, or an ipaddress address or network.
TrustedProxy = str | ipaddress.IPv4Address | ipaddress.IPv6Address | IPNetwork
_IP_OBJECTS = (
    ipaddress.IPv4Address,
    ipaddress.IPv6Address,
    ipaddress.IPv4Network,
    ipaddress.IPv6Network,
)


@dataclass(frozen=True, slots=True)
class Options:
    """Validated, immutable middleware configuration shared by every request."""

    transaction_style: TransactionStyle
    http_methods_to_capture: frozenset[str]
    failed_request_status_codes: frozenset[int]
    exclude_paths: tuple[re.Pattern[str], ...]
    trusted_proxies: tuple[IPNetwork, ...]


def _fail(option: str, allowed: str, got: object) -> ValueError:
    return ValueError(f"SentryMiddleware option {option!r} must be {allowed}; got {got!r}")


def _transaction_style(value: object) -> TransactionStyle:
    for style in TRANSACTION_STYLES:
        if value == style:
            return style
    raise _fail("transaction_style", "one of " + ", ".join(map(repr, TRANSACTION_STYLES)), value)


def _items(option: str, value: object, allowed: str) -> Iterable[object]:
    """The option's items; a lone string or a scalar is a TypeError naming the option."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        msg = f"SentryMiddleware option {option!r} must be {allowed}; got {value!r}"
        raise TypeError(msg)
    return value


def _methods(value: object) -> frozenset[str]:
    allowed = "a collection of HTTP methods such as {'GET', 'POST'}"
    items = _items("http_methods_to_capture", value, allowed)
    methods = set()
    for method in items:
        if not isinstance(method, str) or method.upper() not in HTTP_METHODS:
            raise _fail(
                "http_methods_to_capture",
                "registered HTTP methods (GET, POST, PUT, PATCH, DELETE, PROPFIND, QUERY, ...)",
                method,
            )
        methods.add(method.upper())
    return frozenset(methods)


def _status_codes(value: object) -> frozenset[int]:
    allowed = "a collection of HTTP status codes (100-599), e.g. range(500, 600)"
    items = _items("failed_request_status_codes", value, allowed)
    codes = set()
    for code in items:
        if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
            raise _fail("failed_request_status_codes", allowed, code)
        codes.add(code)
    return frozenset(codes)


def _path_patterns(value: object) -> tuple[re.Pattern[str], ...]:
    allowed = "a collection of paths ('/health') or compiled regular expressions"
    items = _items("exclude_paths", value, allowed)
    patterns = []
    for path in items:
        if isinstance(path, re.Pattern) and isinstance(path.pattern, str):
            patterns.append(path)
        elif isinstance(path, str) and path.startswith("/"):
            # A plain path matches itself exactly: "/health" must not exclude "/healthy".
            patterns.append(re.compile(re.escape(path)))
        else:
            raise _fail("exclude_paths", allowed, path)
    return tuple(patterns)


def _networks(value: object) -> tuple[IPNetwork, ...]:
    allowed = "a collection of IP addresses or CIDR ranges, e.g. ['10.0.0.0/8', '::1']"
    items = _items("trusted_proxies", value, allowed)
    networks = []
    for entry in items:
        if not isinstance(entry, (str, *_IP_OBJECTS)):  # an int would pass for an address
            raise _fail("trusted_proxies", allowed, entry)
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise _fail("trusted_proxies", allowed, entry) from None
    return tuple(networks)


def build_options(
    *,
    transaction_style: object,
    http_methods_to_capture: Collection[str],
    failed_request_status_codes: Collection[int],
    exclude_paths: Collection[str | re.Pattern[str]],
    trusted_proxies: Collection[TrustedProxy],
) -> Options:
    """Check every option and name the offending one, with its allowed values, on error."""
    return Options(
        transaction_style=_transaction_style(transaction_style),
        http_methods_to_capture=_methods(http_methods_to_capture),
        failed_request_status_codes=_status_codes(failed_request_status_codes),
        exclude_paths=_path_patterns(exclude_paths),
        trusted_proxies=_networks(trusted_proxies),
    )
