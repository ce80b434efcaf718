"""The ``request`` part of an event, built from the ASGI scope only when an event needs it."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sentry_asgi._asgi import scope_headers
from sentry_asgi._client_ip import client_ip, forwarded_for, x_forwarded_for
from sentry_asgi._scrub import FILTERED, Secrets, filter_cookies, filter_pairs, filter_query

if TYPE_CHECKING:
    from sentry_asgi._asgi import Scope
    from sentry_asgi._options import IPNetwork
    from sentry_asgi._privacy import Policy

_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_METHOD = re.compile(r"[A-Z_-]{3,32}")  # what Sentry accepts as a method


def decode_headers(scope: Scope) -> list[tuple[str, str]]:
    """Decode the raw header list once: names lower-cased, bytes as Latin-1 (never fails)."""
    headers = scope_headers(scope)
    try:  # what every server sends: (bytes, bytes) pairs
        return [
            (name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in headers
        ]
    except (TypeError, ValueError, AttributeError):
        pass
    decoded = []
    for pair in headers:
        try:
            name, value = pair
            decoded.append((bytes(name).decode("latin-1").lower(), bytes(value).decode("latin-1")))
        except (TypeError, ValueError):
            continue  # a server bug is not a reason to lose the event
    return decoded


def header_value(scope: Scope, name: bytes) -> str | None:
    """One header's value straight from the raw list (the first one), without decoding the rest."""
    for pair in scope_headers(scope):
        try:
            if pair[0] == name:
                return bytes(pair[1]).decode("latin-1")
        except (TypeError, IndexError):
            continue
    return None


def _scheme(scope: Scope) -> str:
    scheme = scope.get("scheme")
    if not isinstance(scheme, str) or not scheme:
        scheme = "http"
    if scope.get("type") == "websocket":
        return {"http": "ws", "https": "wss"}.get(scheme, scheme)
    return scheme


def _host(scope: Scope, host_header: str | None, scheme: str) -> str | None:
    if host_header and not any(char in host_header for char in "/\\ @?#"):
        return host_header
    server = scope.get("server")
    try:
        host, port = server  # type: ignore[misc]
    except (TypeError, ValueError):
        return None
    if not isinstance(host, str) or not host:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"


def full_path(scope: Scope) -> str:
    """The path as the client sent it: root_path + path, never the mount prefix twice."""
    path = scope.get("path")
    path = path if isinstance(path, str) else ""
    root = scope.get("root_path")
    if isinstance(root, str) and root and not _below(path, root):
        path = root.rstrip("/") + path
    return path or "/"


def _below(path: str, root: str) -> bool:
    """Tell whether ``path`` already starts with the mount point ``root``, segment by segment.

    ``/api-docs`` is not below ``/api``: it is a path relative to the mount, as Starlette reads it.
    """
    root = root.rstrip("/")
    return path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/")


def url_of(scope: Scope, host_header: str | None) -> str:
    """Scheme + host + root_path + path, without the query string."""
    scheme = _scheme(scope)
    path = quote(full_path(scope), safe=_PATH_SAFE)
    host = _host(scope, host_header, scheme)
    return f"{scheme}://{host}{path}" if host else path


def peer_address(scope: Scope) -> str | None:
    """The direct peer's address from ``scope["client"]``, if the server gave one."""
    client = scope.get("client")
    try:
        host = client[0]  # type: ignore[index]
    except (TypeError, IndexError, KeyError):
        return None
    return host if isinstance(host, str) and host else None


def _joined(headers: list[tuple[str, str]]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in headers:
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    return joined


def build_request_data(
    scope: Scope,
    headers: list[tuple[str, str]],
    policy: Policy,
    proxies: tuple[IPNetwork, ...],
    secrets: Secrets,
) -> dict[str, Any]:
    """Build Sentry's ``request`` interface; filtered values are added to ``secrets``."""
    by_name = _joined(headers)
    data: dict[str, Any] = {"url": url_of(scope, by_name.get("host"))}
    method = scope.get("method")
    if isinstance(method, str) and _METHOD.fullmatch(method.upper()):
        data["method"] = method.upper()

    raw_query = scope.get("query_string")
    if isinstance(raw_query, (bytes, bytearray)) and raw_query:
        data["query_string"] = filter_query(raw_query.decode("latin-1"), policy.query, secrets)

    if policy.headers.mode != "off":
        cookies = {}
        for name in ("cookie", "set-cookie"):
            value = by_name.pop(name, None)
            if value is not None:
                cookies[name] = filter_cookies(value, policy.cookies, secrets)
        data["headers"] = dict(filter_pairs(by_name.items(), policy.headers, secrets))
        data["headers"].update((name, value) for name, value in cookies.items() if value)
    else:
        data["headers"] = {}

    if policy.user_info:
        hops = forwarded_for(v for n, v in headers if n == "forwarded") or x_forwarded_for(
            v for n, v in headers if n == "x-forwarded-for"
        )
        address = client_ip(peer_address(scope), hops, proxies)
        if address:
            data["env"] = {"REMOTE_ADDR": address}
    return data


__all__ = ["FILTERED", "build_request_data", "decode_headers", "full_path", "url_of"]
