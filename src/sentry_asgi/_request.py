"""The ``request`` part of an event, built from the ASGI scope only when an event needs it."""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from sentry_asgi._asgi import scope_headers
from sentry_asgi._body import may_hold_secret, scrub_fields
from sentry_asgi._client_ip import (
    forwarded_for,
    hop_addresses,
    is_trusted,
    resolve_client,
    x_forwarded_for,
)
from sentry_asgi._privacy import is_sensitive, mentions_secret
from sentry_asgi._scrub import (
    FILTERED,
    USERINFO_PASSWORD,
    Secrets,
    filter_cookies,
    filter_pairs,
    filter_url,
    filter_url_query,
    without_password,
)
from sentry_asgi._scrub import filter_query as filter_query_by_name

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sentry_asgi._asgi import Message, Scope
    from sentry_asgi._options import IPNetwork
    from sentry_asgi._privacy import KeyRule, Policy

_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
_PATH_SAFE = "/:@!$&'()*+,;=-._~"  # a % in the decoded path is a percent sign: %25
_METHOD = re.compile(r"[A-Z_-]{3,32}")  # what Sentry accepts as a method
# The headers sentry_sdk's ASGI middleware reads the client address from before the peer's.
_FORWARDING = frozenset({"x-forwarded-for", "x-real-ip"})
# How sentry_sdk names a request header among a streamed span's attributes.
_HEADER_ATTRIBUTE = "http.request.header."


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
            decoded.append((_as_text(name).lower(), _as_text(value)))
        except (TypeError, ValueError):
            continue  # a server bug is not a reason to lose the event
    return decoded


def _as_text(raw: object) -> str:
    """A header name or value as text: bytes as Latin-1, text (which an app may send) as it is."""
    return raw if isinstance(raw, str) else bytes(raw).decode("latin-1")  # type: ignore[call-overload]


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
    if not isinstance(host, str) or not host or "/" in host:  # a Unix socket's path: no host
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    default = _DEFAULT_PORTS.get(scheme)
    # Granian gives the port as text.
    is_default = port is None or (default is not None and str(port) == str(default))
    return host if is_default else f"{host}:{port}"


def full_path(scope: Scope) -> str:
    """The path as the client sent it: root_path + path, never the mount prefix twice."""
    path = scope.get("path")
    return _under_root(scope, path if isinstance(path, str) else "")


def requested_path(scope: Scope) -> str | None:
    """The path the client asked for, decoded, from ``raw_path``; None if the server gave none.

    For a scope whose ``path`` a framework replaced in place (Litestar's mounts): ``raw_path`` is
    never rewritten. The server may give it with ``root_path`` in front or without.
    """
    raw = scope.get("raw_path")
    if not isinstance(raw, (bytes, bytearray)) or not raw:
        return None
    return _under_root(scope, unquote(bytes(raw).decode("latin-1")))


def _under_root(scope: Scope, path: str) -> str:
    """``path`` with ``root_path`` in front, unless it already starts with it."""
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


def url_of(scope: Scope, host_header: str | None, path: str | None = None) -> str:
    """Scheme + host + root_path + path (or the given full ``path``), without the query string."""
    scheme = _scheme(scope)
    path = quote(full_path(scope) if path is None else path, safe=_PATH_SAFE)
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


# RFC 9113 section 8.2.3: cookie lines are joined with "; ", every other header with ", ".
_COOKIE_HEADERS = ("cookie", "set-cookie")


def _joined(headers: list[tuple[str, str]]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in headers:
        if name in joined:
            separator = "; " if name in _COOKIE_HEADERS else ", "
            joined[name] = f"{joined[name]}{separator}{value}"
        else:
            joined[name] = value
    return joined


def _learn_lines(
    headers: list[tuple[str, str]], by_name: dict[str, str], rule: KeyRule, secrets: Secrets
) -> None:
    """Remember each line of a filtered header sent on several lines: frames hold them apart."""
    for name, value in headers:
        joined = by_name.get(name)
        if joined is not None and joined != value:  # the name repeats: joined is longer
            verdict = rule.keeps(name)
            if verdict is False or (verdict is None and rule.hides(name)):
                secrets.add(value)


# An authority alone: a Host header (HTTP/2's ``:authority``, which hypercorn passes as Host).
_AUTHORITY_PASSWORD = re.compile(r"([^/?#@:\s]*:)([^/?#\s]*)@(?=[^/?#@\s]+$)")


# A path parameter (RFC 3986's ";name=value" in a segment): ``/cart;jsessionid=...``.
_PATH_PARAMETER = re.compile(r";([^/;=?#]*)=([^/;?#]*)")


def _without_secret_path_parameters(url: str, raw_path: str, secrets: Secrets) -> str:
    """Filter the values of secret path parameters (a session id in the path), kept as secrets.

    The path names the request everywhere (its transaction and span names): the value learned
    here is taken out of those too. A value is read whole from ``raw_path``, as the client
    encoded it: a base64 session id's ``%2F`` or ``%3B`` is a ``/`` or ``;`` in the URL.
    """
    for name, value in _PATH_PARAMETER.findall(raw_path):
        if is_sensitive(unquote(name)):
            secrets.add(value)
            secrets.add(unquote(value))
            name_in_url = quote(unquote(name), safe=_PATH_SAFE)
            value_in_url = quote(unquote(value), safe=_PATH_SAFE)
            url = url.replace(f";{name_in_url}={value_in_url}", f";{name_in_url}={FILTERED}")

    def filtered(parameter: re.Match[str]) -> str:
        name, value = parameter.groups()
        if not is_sensitive(unquote(name)):
            return parameter.group(0)
        secrets.add(value)
        secrets.add(unquote(value))
        return f";{name}={FILTERED}"

    return _PATH_PARAMETER.sub(filtered, url)


def _without_secrets_in_path(url: str, scope: Scope, secrets: Secrets) -> str:
    """The request's URL with the secrets its path may hold filtered, kept as secrets."""
    if "@" in url:
        url = without_password(url, secrets, USERINFO_PASSWORD.search)
    if ";" in url:
        raw = scope.get("raw_path")
        raw_path = bytes(raw).decode("latin-1") if isinstance(raw, (bytes, bytearray)) else ""
        url = _without_secret_path_parameters(url, raw_path, secrets)
    return url


def filter_route_parameters(
    url: str, params: Mapping[str, object], rule: KeyRule, secrets: Secrets, raw_path: str = ""
) -> str:
    """The URL with the values of the route's secret parameters filtered, kept as secrets.

    A route names the segments of its path (``/reset/<uidb64>/<token>/``): a segment is filtered
    by its parameter's name as a query parameter is by its own, and searched for everywhere else,
    also as the client encoded it in ``raw_path`` (which the scope in every frame holds).
    """
    found = Secrets()
    for name, value in params.items():
        if value is None or not _hidden(rule, str(name)):
            continue
        text = str(value)
        # As the app holds it, as in the URL, as the client sent it.
        for form in (text, quote(text, safe=_PATH_SAFE), *_encoded_in(raw_path, text)):
            found.add(form)
            secrets.add(form)
    if not found:
        return url
    start = url.find("/", url.find("://") + 3) if "://" in url else 0
    return url if start < 0 else url[:start] + found.scrub(url[start:])


def _encoded_in(raw_path: str, value: str) -> list[str]:
    """The segments of ``raw_path`` (runs of them, for a value with a ``/``) that decode to it."""
    if "%" not in raw_path:
        return []
    segments = raw_path.split("/")
    found = []
    for width in range(1, value.count("/") + 2):
        for start in range(len(segments) - width + 1):
            raw = "/".join(segments[start : start + width])
            if "%" in raw and unquote(raw) == value:
                found.append(raw)
    return found


def _hidden(rule: KeyRule, name: str) -> bool:
    """Tell whether a parameter's value is withheld under ``rule``, sent filtered or left out."""
    verdict = rule.keeps(name)
    return verdict is False or (verdict is None and rule.hides(name))


def _without_secret_members(baggage: str, secrets: Secrets) -> str:
    """Filter the secret members of a W3C ``baggage`` list (``session_token=...;prop``), kept."""
    members = []
    for member in baggage.split(","):
        key, equals, rest = member.partition("=")
        value, semicolon, properties = rest.partition(";")
        name = unquote(key.strip())
        if equals and not name.startswith("sentry-") and is_sensitive(name):  # sentry's are public
            secrets.add(value)
            secrets.add(unquote(value))
            members.append(f"{key}={FILTERED}{semicolon}{properties}")
        else:
            members.append(member)
    return ",".join(members)


def _holds_secret(rule: KeyRule, value: str, secrets: Secrets) -> bool:
    """Tell whether a parameter is a URL, JSON or a GraphQL document holding a secret (learned)."""
    if not may_hold_secret(value):
        return False
    is_url = "?" in value or "#" in value or "@" in value
    if is_url and _url_filtered(value, rule, secrets) != value:
        return True
    return bool(scrub_fields(value, secrets) != value)


def filter_query(query: str, rule: KeyRule, secrets: Secrets) -> str:
    """A query string filtered by parameter name, and by what a parameter holding more holds.

    GraphQL over GET sends the document and its variables as parameters (``query``,
    ``variables``), secrets and all; a redirect target (``?next=/cb%3Ftoken%3D...``) is a URL.
    """
    return filter_query_by_name(query, rule, secrets, functools.partial(_holds_secret, rule))


def _filter_url(url: str, rule: KeyRule, secrets: Secrets) -> str:
    """Filter the query parameters of a URL (in a header) as the request's own are filtered."""
    return filter_url_query(url, rule, secrets, functools.partial(_holds_secret, rule))


def _url_filtered(url: str, rule: KeyRule, secrets: Secrets) -> str:
    """A URL with its password and its query's and fragment's secrets filtered (learned)."""
    return filter_url(url, rule, secrets, functools.partial(_holds_secret, rule))


def _filter_urls(
    by_name: dict[str, str], sent: dict[str, str], rule: KeyRule, secrets: Secrets
) -> None:
    """Filter URLs in header values as the request's own: a Referer, and the request's own URL.

    Proxies copy the original request line into X-Original-URL, X-Rewrite-URL or
    X-Envoy-Original-Path, its query string (``?access_token=``) included.
    """
    for name, value in by_name.items():
        if "?" in value or "@" in value:
            find = _AUTHORITY_PASSWORD.match if name == "host" else USERINFO_PASSWORD.match
            filtered = _filter_url(without_password(value, secrets, find), rule, secrets)
            if sent.get(name) == value:
                sent[name] = filtered


def _headers(
    headers: list[tuple[str, str]], by_name: dict[str, str], policy: Policy, secrets: Secrets
) -> dict[str, str]:
    """The headers to send, filtered; the values of those left out are still learned."""
    cookies = {}
    for name in _COOKIE_HEADERS:
        value = by_name.pop(name, None)
        if value is not None:
            cookies[name] = filter_cookies(value, policy.cookies, secrets)
    sent = dict(filter_pairs(by_name.items(), policy.headers, secrets))
    if len(by_name) + len(cookies) < len(headers):  # a header came on several lines
        _learn_lines(headers, by_name, policy.headers, secrets)
    if policy.query.mode != "all":
        _filter_urls(by_name, sent, policy.query, secrets)
    baggage = by_name.get("baggage")
    if baggage and "=" in baggage and policy.headers.mode != "all":
        filtered = _without_secret_members(baggage, secrets)
        if sent.get("baggage") == baggage:
            sent["baggage"] = filtered
    protocols = by_name.get("sec-websocket-protocol")
    if protocols and policy.headers.mode != "all" and mentions_secret(protocols):
        # Browsers cannot set Authorization on a websocket: tokens travel as subprotocols.
        secrets.add(protocols)
        if "sec-websocket-protocol" in sent:
            sent["sec-websocket-protocol"] = FILTERED
    if policy.headers.mode == "off":
        return {}
    sent.update((name, value) for name, value in cookies.items() if value)
    return sent


def filtered_by_name(request: dict[str, Any], policy: Policy) -> dict[str, Any]:
    """Request data sent outside any request the middleware handles, filtered by names alone.

    sentry_sdk's ASGI middleware around it (its Quart integration around ``app.asgi_app``, its
    Litestar one around the middleware in ``middleware=[...]``) sends the request's transaction
    once the middleware is done, its query string and URL as received; no secret of it is
    known then.
    """
    secrets = Secrets()
    query = request.get("query_string")
    filtered = dict(request)
    url = request.get("url")
    if isinstance(url, str) and policy.query.mode != "all":
        filtered["url"] = _without_secrets_in_path(url, {}, secrets)
    if isinstance(query, str) and policy.query.mode != "all":
        filtered["query_string"] = filter_query(query, policy.query, secrets)
    headers = request.get("headers")
    if isinstance(headers, dict):
        pairs = [(str(name).lower(), str(value)) for name, value in headers.items()]
        filtered["headers"] = _headers(pairs, dict(pairs), policy, secrets)
        if _FORWARDING.intersection(name for name, _ in pairs):
            filtered.pop("env", None)  # sentry_sdk's address is then one the client wrote
    return secrets.scrub_tree(filtered)  # type: ignore[no-any-return]


def name_filtered(name: str, policy: Policy, secrets: Secrets | None = None) -> str:
    """A name sentry_sdk gave a request outside the middleware (its raw URL), path secrets out."""
    if ";" not in name or policy.query.mode == "all":
        return name
    return _without_secret_path_parameters(name, "", Secrets() if secrets is None else secrets)


def span_filtered_by_name(span: dict[str, Any], policy: Policy) -> dict[str, Any]:
    """A streamed span sent outside any request the middleware handles, filtered by names alone.

    sentry_sdk's ASGI middleware around it streams the request's segment once the middleware
    is done, the request's headers among its attributes and, when no route matched, its URL
    as its name, which each of its child spans carries too (``sentry.segment.name``).
    """
    secrets = Secrets()
    filtered = dict(span)
    attributes = span.get("attributes")
    if isinstance(attributes, dict):
        filtered["attributes"] = _header_attributes_filtered(attributes, policy, secrets)
        segment = attributes.get("sentry.segment.name")
        if isinstance(segment, str):
            name_filtered(segment, policy, secrets)  # learned: filtered below, wherever it is
    name = span.get("name")
    if isinstance(name, str):
        filtered["name"] = name_filtered(name, policy, secrets)
    return secrets.scrub_tree(filtered)  # type: ignore[no-any-return]


def _header_attributes_filtered(
    attributes: dict[str, Any], policy: Policy, secrets: Secrets
) -> dict[str, Any]:
    """Span attributes with the request headers among them filtered as the request's own."""
    pairs = [
        (key.removeprefix(_HEADER_ATTRIBUTE), str(value))
        for key, value in attributes.items()
        if key.startswith(_HEADER_ATTRIBUTE)
    ]
    if not pairs:
        return attributes
    sent = _headers(pairs, dict(pairs), policy, secrets)
    filtered = {}
    for key, value in attributes.items():
        header = key.removeprefix(_HEADER_ATTRIBUTE) if key.startswith(_HEADER_ATTRIBUTE) else None
        if header is None or sent.get(header) == str(value):
            filtered[key] = value
        elif header in sent:
            filtered[key] = sent[header]
    return filtered


def learn_response_headers(message: Message, policy: Policy, secrets: Secrets) -> None:
    """Remember the secrets the app sends in its response: a new session cookie, an issued token.

    They never go into the request data, but the app's frames hold the headers it sent.
    """
    headers = decode_headers(message)
    for name, value in headers:
        if name == "set-cookie":  # "name=value; Path=/; HttpOnly": only the cookie is a secret
            filter_cookies(value.partition(";")[0], policy.cookies, secrets)
        elif "?" in value or "#" in value or "@" in value:  # a token in a redirect's Location
            _url_filtered(value, policy.query, secrets)
    filter_pairs(
        ((name, value) for name, value in headers if name != "set-cookie"), policy.headers, secrets
    )


def build_request_data(  # noqa: PLR0913 - the request, how to filter it, the path asked for
    scope: Scope,
    headers: list[tuple[str, str]],
    policy: Policy,
    proxies: tuple[IPNetwork, ...],
    secrets: Secrets,
    *,
    path: str | None = None,
) -> dict[str, Any]:
    """Build Sentry's ``request`` interface; filtered values are added to ``secrets``.

    ``path``: the path the client asked for, when the scope's no longer is (root_path included).
    """
    by_name = _joined(headers)
    url = url_of(scope, by_name.get("host"), path)
    if policy.query.mode != "all":
        url = _without_secrets_in_path(url, scope, secrets)
    data: dict[str, Any] = {"url": url}
    method = scope.get("method")
    if isinstance(method, str) and _METHOD.fullmatch(method.upper()):
        data["method"] = method.upper()

    raw_query = scope.get("query_string")
    if isinstance(raw_query, (bytes, bytearray)) and raw_query:
        data["query_string"] = filter_query(raw_query.decode("latin-1"), policy.query, secrets)

    data["headers"] = _headers(headers, by_name, policy, secrets)

    peer = peer_address(scope)
    forwarded = forwarded_for(_values(by_name, "forwarded"))
    if policy.user_info:
        x_forwarded = x_forwarded_for(_values(by_name, "x-forwarded-for"))
        address = resolve_client(peer, forwarded, x_forwarded, proxies)
        if address:
            data["env"] = {"REMOTE_ADDR": address}
    else:  # not sent, yet the scope in every frame holds the peer, and the app may copy any hop
        # (X-Forwarded-For, a list of bare addresses, was learned whole with the headers)
        server = _server_names(scope, by_name.get("host"))
        client = None
        if proxies:  # the client a trusted proxy is in front of (a trusted address, directly)
            x_forwarded = x_forwarded_for(_values(by_name, "x-forwarded-for"))
            client = resolve_client(peer, forwarded, x_forwarded, proxies)
        for address in (*hop_addresses(forwarded), peer, client):
            if not address or address in server:
                continue
            if address == client or not is_trusted(address, proxies):
                secrets.add(address)
    return data


# A dual-stack socket (a server listening on "::") shows a local IPv4 client as ::ffff:127.0.0.1.
_LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1", "localhost")


def _server_names(scope: Scope, host_header: str | None) -> set[str]:
    """Addresses that name this machine, not a user: loopback, the Host and the server address.

    (Trusted proxies are machines too: their addresses are left alone as well.)

    A client on the same machine (local development) has the server's address; removing it
    would take the Host header and the URL apart for nothing personal.
    """
    names = set(_LOOPBACK)
    if host_header:
        if host_header.startswith("["):  # [v6]:port
            names.add(host_header[1 : host_header.find("]")])
        else:
            names.add(host_header.partition(":")[0] if host_header.count(":") == 1 else host_header)
    server = scope.get("server")
    if isinstance(server, (tuple, list)) and server and isinstance(server[0], str):
        names.add(server[0])
    return names


def _values(by_name: dict[str, str], name: str) -> tuple[str, ...]:
    value = by_name.get(name)
    return (value,) if value else ()


__all__ = [
    "FILTERED",
    "build_request_data",
    "decode_headers",
    "filter_route_parameters",
    "full_path",
    "learn_response_headers",
    "requested_path",
    "url_of",
]
