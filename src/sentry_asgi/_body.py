"""The request body, recorded as the app itself reads it, and parsed only for an event.

Reading the body in the middleware would consume the stream the app needs (the "stream
consumed" and hanging requests users of other integrations report). So nothing is read
ahead: the chunks the app receives are copied as they pass, up to a cap, and never changed.
"""

from __future__ import annotations

import ast
import gzip
import io
import json
import re
import zlib
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote_plus

from sentry_asgi._privacy import (
    LEARN_BODY_CAP,
    OAUTH_CODE,
    KeyRule,
    is_sensitive,
    mentions_secret,
    names_oauth_code,
    takes_secret_params,
)
from sentry_asgi._scrub import FILTERED, Secrets, filter_url, holds_jwt, looks_secret

if TYPE_CHECKING:
    from collections.abc import Iterator


class BodyRecorder:
    """A copy of the body chunks the app received, bounded by ``cap``.

    ``sent`` is how much of it may go out with an event; a body over it (or any body, when it
    is 0) is recorded all the same, up to ``cap``, to learn the secrets the app parsed from it.
    """

    __slots__ = ("cap", "chunks", "ended", "sent", "size", "too_large", "unlearned")

    def __init__(self, cap: int, sent: int | None = None) -> None:
        self.cap = cap
        self.sent = cap if sent is None else sent
        self.chunks: list[bytes] = []
        self.size = 0
        self.too_large = False
        self.ended = False
        self.unlearned = False  # its secrets could not be read from it: too large, or encoded

    def record(self, message: Any) -> None:
        """Copy one ``http.request`` message's body, dropping everything once over the cap."""
        body = message.get("body")
        if isinstance(body, (bytes, bytearray)) and body and not self.too_large:
            self.size += len(body)
            if self.size > self.cap:
                self.too_large = self.unlearned = True
                self.chunks.clear()  # never hold more than the cap
            else:
                self.chunks.append(bytes(body))
        if not message.get("more_body", False):
            self.ended = True

    def whole(self, content_length: str | None) -> bool:
        """Tell whether the app read the whole body.

        A framework that reads exactly Content-Length bytes never asks for the server's closing
        empty message, yet it has read everything.
        """
        if self.ended:
            return True
        return bool(content_length and content_length.isdigit()) and self.size >= int(
            content_length or 0
        )


# zlib's window bits for the request Content-Encodings an app may inflate (47: zlib or gzip).
_GZIP = 31
_RAW_DEFLATE = -15
_WBITS = {"gzip": _GZIP, "x-gzip": _GZIP, "deflate": 47}


def inflated(body: bytes, encoding: str, cap: int) -> bytes | None:
    """The body as the app decompresses it; None for a coding not known, corrupt, or over ``cap``.

    Codings listed one after another (``gzip, deflate``) were applied in that order: they are
    undone last first. Never more than ``cap`` bytes are inflated at any step: a small body may
    expand a thousandfold.
    """
    codings = [coding.strip().lower() for coding in encoding.split(",")]
    for coding in reversed(codings):
        if coding in ("", "identity"):
            continue
        wbits = _WBITS.get(coding)
        if wbits is None:
            return None
        try:
            body = _gunzipped(body, cap) if wbits == _GZIP else _undeflated(body, wbits, cap)
        except (OSError, EOFError, zlib.error):  # corrupt or cut short: the app cannot read it
            return None
        if len(body) > cap:
            return None
    return body


def _gunzipped(body: bytes, cap: int) -> bytes:
    """Every member of a gzip body, as ``gzip.decompress`` reads them, up to ``cap`` + 1 bytes."""
    with gzip.GzipFile(fileobj=io.BytesIO(body)) as members:
        return members.read(cap + 1)


def _undeflated(body: bytes, wbits: int, cap: int) -> bytes:
    """A zlib (or gzip) stream, or a raw deflate one: many clients send that as ``deflate``."""
    try:
        return zlib.decompressobj(wbits).decompress(body, cap + 1)
    except zlib.error:
        return zlib.decompressobj(_RAW_DEFLATE).decompress(body, cap + 1)


def _learn_leaves(node: Any, secrets: Secrets, *, nested: bool = False) -> None:
    """Remember the strings and numbers under a secret key: frames show them one by one.

    A value held directly is remembered whatever it is. Inside a list or an object (where a
    name like ``keywords`` or ``sort_keys`` looks secret but holds plain words) only what looks
    like a secret is: long, or with a digit in it. Searching the whole event for ``error`` or
    ``email`` would take the event apart, not protect anything.
    """
    if isinstance(node, str):
        if not nested or looks_secret(node):
            secrets.add(node)
    elif isinstance(node, dict):
        for key, value in node.items():  # a secret name inside holds a secret, whatever it is
            _learn_leaves(value, secrets, nested=not (isinstance(key, str) and is_sensitive(key)))
    elif isinstance(node, list):
        for value in node:
            _learn_leaves(value, secrets, nested=True)
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        secrets.add(str(node))


def learn_from_variables(event: dict[str, Any], secrets: Secrets) -> None:
    """Learn the secrets of a body that could not be read, from what the app parsed out of it.

    The app's frame variables hold it: a value under a secret key in a dict (its parsed body), or
    a variable with a secret name. Only values that look like secrets are learned (long, or with
    a digit): a loop's ``key = "name"`` must not take every "name" out of the event.
    """
    for frame in _frames(event):
        variables = frame.get("vars")
        if isinstance(variables, dict):
            _learn_keyed(variables, secrets)


def learn_response_body(body: object, secrets: Secrets) -> None:
    """Remember the secrets the app sent in a JSON or form response: a token it issued.

    An OAuth token response, an API key the app created: never request data, but what runs
    after the response (a background task sending the welcome mail) holds them in its frames.
    Only values under secret names that look like secrets (long, or with a digit) are learned:
    ``"token_type": "Bearer"`` must not take every "Bearer" out of the event. Read for an error
    or message event only.
    """
    if not isinstance(body, bytes) or not body or len(body) > LEARN_BODY_CAP:
        return
    if body[:2] == _GZIP_MAGIC:  # compressed by a middleware inside (GZipMiddleware)
        inflated_body = inflated(body, "gzip", LEARN_BODY_CAP)
        if inflated_body is None:
            return
        body = inflated_body
    parsed = _json_text(body)
    if parsed is None and _FORM_LIKE.fullmatch(body):  # GitHub's token response, by default
        parsed = dict(parse_qsl(body.decode("latin-1")))
    _learn_keyed(parsed, secrets)


_GZIP_MAGIC = b"\x1f\x8b"
# A urlencoded form: name=value pairs and nothing else.
_FORM_LIKE = re.compile(rb"[\w.%+-]+=[^\s&=]*(?:&[\w.%+-]+=[^\s&=]*)*")


def _frames(event: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for section in ("exception", "threads"):
        container = event.get(section)
        values = container.get("values") if isinstance(container, dict) else None
        for value in values if isinstance(values, list) else ():
            stacktrace = value.get("stacktrace") if isinstance(value, dict) else None
            frames = stacktrace.get("frames") if isinstance(stacktrace, dict) else None
            if isinstance(frames, list):
                yield from (frame for frame in frames if isinstance(frame, dict))


def _is_scope(node: Any) -> bool:
    """Tell whether a variable holds the ASGI scope (Starlette's websocket ``session`` does).

    Its secrets are the request's, filtered by name: its other values name no secret.
    """
    return isinstance(node, dict) and "asgi" in node and "type" in node


def _learn_keyed(node: Any, secrets: Secrets) -> None:
    if isinstance(node, dict):
        if _secret_positional_params(node, _unrepr(node.get("method"))):
            _learn_leaves(_unrepr(node["params"]), secrets, nested=True)
        for key, value in node.items():
            if isinstance(key, str) and is_sensitive(key) and not _is_scope(value):
                _learn_leaves(_unrepr(value), secrets, nested=True)
            else:
                _learn_keyed(value, secrets)
    elif isinstance(node, list):
        for value in node:
            _learn_keyed(value, secrets)
    elif isinstance(node, str) and "=" in node:  # a parsed model's or dataclass's repr
        for value in _inline_fields(node):
            _learn_leaves(value, secrets, nested=True)


def _unrepr(node: Any) -> Any:
    """The values sentry_sdk wrote as ``repr`` into frame variables (``"'hunter2'"``), as text."""
    if isinstance(node, str):
        if len(node) >= 2 and node[0] in "'\"" and node[-1] == node[0]:
            return node[1:-1]
        return node
    if isinstance(node, dict):
        return {key: _unrepr(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_unrepr(value) for value in node]
    return node


def scrub_fields(node: Any, secrets: Secrets) -> Any:
    """Filter values under secret-looking keys, at any depth of a parsed body."""
    if isinstance(node, dict):
        cleaned = {}
        named = _values_named_secret(node)
        for key, value in node.items():
            if (isinstance(key, str) and is_sensitive(key)) or key in named:
                _learn_leaves(value, secrets)
                cleaned[key] = FILTERED
            else:
                cleaned[key] = scrub_fields(value, secrets)
        return cleaned
    if isinstance(node, list):
        return [scrub_fields(value, secrets) for value in node]
    if isinstance(node, str):
        if holds_jwt(node):  # a token whatever the field's name
            secrets.add(node)
            return FILTERED
        if _STRUCTURED.match(node):
            return _structured_text(node, secrets)
        if _URL_LIKE.fullmatch(node):  # a redirect target, a webhook: ?token=, user:password@
            return filter_url(node, _BY_NAME, secrets, _holds_secret)
    return node


# A field that may be a URL with a secret in it: no spaces, a query, a fragment or a userinfo.
_URL_LIKE = re.compile(r"\S*[?#@]\S*")
# What a text needs for :func:`scrub_fields` to find a secret in it: a JWT's "eyJ", a bracket of
# JSON or of a GraphQL document, or a URL's "?", "#" or "@".
_MAY_HOLD_SECRET = re.compile(r"eyJ|[{\[(?#@]")


def may_hold_secret(text: str) -> bool:
    """Tell cheaply whether :func:`scrub_fields` could find a secret in a text (most hold none)."""
    return _MAY_HOLD_SECRET.search(text) is not None


_BY_NAME = KeyRule("denylist")  # a body's secrets go by name whatever the consent


def _holds_secret(text: str, secrets: Secrets) -> bool:
    """Tell whether a URL's parameter holds a secret of its own: JSON, a document, a URL."""
    return bool(scrub_fields(text, secrets) != text)


# The names a name/value pair gives its value under, before "value" (with the same prefix:
# AWS's ParameterKey / ParameterValue): {"name": "password", "value": ...} as jQuery's
# serializeArray sends a form, an environment variable, JSON Patch's {"path": "/password", ...}.
_PAIR_NAMES = ("name", "key", "path", "field")


def _values_named_secret(pair: dict[Any, Any]) -> set[str]:
    """The keys of a dict's values that a name beside them calls a secret.

    OAuth's one-time ``code`` is one beside ``state`` (a callback posted as a form, as Sign in
    with Apple does) or ``grant_type`` (a token request).
    """
    keys = {key.lower(): key for key in pair if isinstance(key, str)}
    secret = {OAUTH_CODE} if names_oauth_code(pair) else set()
    if _secret_positional_params(pair, pair.get("method")):
        secret.add("params")
    for lowered, key in keys.items():
        if lowered.endswith("value"):
            for name in _PAIR_NAMES:
                named = pair.get(keys.get(lowered[: -len("value")] + name))
                if isinstance(named, str) and any(map(is_sensitive, named.split("/"))):
                    secret.add(key)
    return secret


def _secret_positional_params(call: dict[Any, Any], method: object) -> bool:
    """Tell whether a JSON-RPC call's parameters are a list its method takes a secret in.

    Named ones (an object) are filtered by their names, as any field is.
    """
    return (
        isinstance(method, str)
        and isinstance(call.get("params"), list)
        and takes_secret_params(method)
    )


# A field whose text is itself structured: JSON (Slack's form field ``payload``, a multipart
# GraphQL ``operations`` part, JSON sent as a string) or a GraphQL document, whose arguments are
# written inline (``mutation { login(password: "...") }``).
_STRUCTURED = re.compile(r"\s*(?:[{\[]|(?:query|mutation|subscription)\b[^{(]*[{(])")


def _structured_text(text: str, secrets: Secrets) -> str:
    """A field holding JSON or a GraphQL document, with its secrets out as a body's are.

    JSON has its secret fields filtered, and is sent again as JSON text; a document that is not
    JSON is sent only when it names no secret, as a body that is not fields.
    """
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, (dict, list)):
        scrubbed = scrub_fields(parsed, secrets)
        return text if scrubbed == parsed else json.dumps(scrubbed, ensure_ascii=False)
    return _text_without_secrets(text, secrets)


# A value written inline under a name (``password: "..."`` as GraphQL arguments are, ``token=...``,
# ``password='...'`` as a model's or a dataclass's repr shows it): quoted, escapes and all, or bare.
_INLINE_FIELD = re.compile(
    r"""(?<![\w.-])([A-Za-z_][\w.-]*)\s*[:=]\s*"""
    r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s,;)}\]&"']+)"""
)


def _text_without_secrets(text: str, secrets: Secrets) -> str:
    """Text that is not fields, withheld (and searched for whole) if it names a secret.

    Its secrets cannot be told apart from the rest, but a value written inline under a secret
    name is also searched for on its own: the app holds it apart once it has parsed the text.
    """
    if not mentions_secret(text):
        return text
    secrets.add(text)
    for value in _inline_fields(text):
        secrets.add(value)
    return FILTERED


def _unquoted(value: str) -> str:
    """An inline value as the app reads it: a quoted string without its quotes and escapes."""
    if value[:1] not in ("'", '"'):
        return value
    try:  # a string literal matched whole: nothing but a string can come out
        return str(ast.literal_eval(value))
    except (ValueError, SyntaxError):
        return value[1:-1]


def _inline_fields(text: str) -> Iterator[str]:
    """The values written inline in ``text`` under secret names."""
    for name, value in _INLINE_FIELD.findall(text):
        if is_sensitive(name):
            yield _unquoted(value)


def _form(text: str, secrets: Secrets) -> dict[str, Any]:
    """Form fields (a list only where a field repeats), as Starlette decodes them (Latin-1).

    A secret field's value is also remembered as sent, percent-encoded the client's way.
    """
    fields: dict[str, Any] = {}
    raw_codes: list[str] = []  # secrets, as sent, once OAuth's other names are beside them
    for part in text.split("&"):
        if not part:
            continue
        raw_name, _, raw_value = part.partition("=")
        name = unquote_plus(raw_name)
        value = unquote_plus(raw_value)
        if is_sensitive(name):
            secrets.add(raw_value)
        elif name == OAUTH_CODE:
            raw_codes.append(raw_value)
        if name in fields:
            previous = fields[name]
            fields[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            fields[name] = value
    if names_oauth_code(fields):
        for raw_code in raw_codes:
            secrets.add(raw_code)
    return fields


def _multipart(body: bytes, content_type: str) -> dict[str, Any]:
    """Text fields as text, files as their name and size: never a file's content."""
    boundary = ""
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary":
            boundary = value.strip('"')
    if not boundary:
        return {}
    fields: dict[str, Any] = {}
    for part in body.split(b"--" + boundary.encode("latin-1"))[1:]:
        head, _, content = part.partition(b"\r\n\r\n")
        disposition = {}
        for line in head.decode("latin-1").split("\r\n"):
            if line.lower().startswith("content-disposition:"):
                for param in line.split(";")[1:]:
                    key, _, value = param.strip().partition("=")
                    disposition[key.lower()] = value.strip('"')
        if "name" not in disposition:
            continue
        content = content.removesuffix(b"\r\n")
        if "filename" in disposition:
            fields[disposition["name"]] = (
                f"[file {disposition['filename']!r}, {len(content)} bytes]"
            )
        else:
            fields[disposition["name"]] = content.decode("utf-8", errors="replace")
    return fields


def _json_text(body: bytes) -> Any:
    """A body parsed as JSON if it is a JSON object or array, else None.

    Many clients send JSON without a Content-Type, as text/plain (it spares a CORS preflight),
    text/json or application/octet-stream, and frameworks parse it as JSON all the same
    (FastAPI takes any ``*/json``; Starlette's ``request.json()`` reads any body): its secret
    fields must be found whatever the Content-Type says.
    """
    start = body.lstrip()[:1]
    if start not in (b"{", b"["):
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return parsed if isinstance(parsed, (dict, list)) else None


def parse_body(body: bytes, content_type: str, secrets: Secrets) -> Any:
    """Parse a body for an event: JSON, form fields, multipart fields, else text."""
    kind = content_type.split(";", maxsplit=1)[0].strip().lower()
    parsed: Any
    if kind == "application/json" or kind.endswith("+json"):
        try:
            parsed = json.loads(body)
        except ValueError:
            return _text(body, secrets)
    elif kind == "application/x-www-form-urlencoded":
        parsed = _form(body.decode("latin-1"), secrets)
    elif kind == "multipart/form-data":
        parsed = _multipart(body, content_type)
    else:
        parsed = _json_text(body)
        if parsed is None:
            return _text(body, secrets)
    return scrub_fields(parsed, secrets)


def _text(body: bytes, secrets: Secrets) -> str:
    """A body that is not fields, as text; withheld, and searched for whole, if it names a secret.

    Its secrets cannot be told apart from the rest (malformed JSON, XML, a form sent as
    text/plain): a body mentioning ``password`` or ``token`` may hold one anywhere.
    """
    return _text_without_secrets(body.decode("utf-8", errors="replace"), secrets)
