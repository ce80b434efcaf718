"""Take secrets out of request data, and out of anything else in an event that repeats them.

Request data is filtered by key (header, cookie, query parameter, body field names). But the
same values travel elsewhere: every frame of an ASGI app holds the ``scope`` dict, whose raw
``headers`` list carries the Cookie and Authorization values into the stack-frame variables
of each error event. So the values filtered out of the request are remembered, and every
string in the event is searched for them, in the forms serialisation gives them.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy as _copy
import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus

from sentry_asgi._privacy import OAUTH_CODE, names_oauth_code

if TYPE_CHECKING:
    from sentry_asgi._privacy import KeyRule

FILTERED = "[Filtered]"  # sentry_sdk's marker for a removed value
# Shorter values are left alone: replacing "1" everywhere would wreck the event, not protect it.
MIN_SECRET_LENGTH = 4
_PLAIN = re.compile(r"[A-Za-z0-9._~-]+")
# An item of a list of hops or tokens: plain, or an address with colons and brackets (IPv6).
_LIST_ITEM = re.compile(r"[A-Za-z0-9._~:\[\]-]+")
_ESCAPED_BY_REPR_OR_JSON = re.compile(r"""[\\'"\x00-\x1f\x7f-\U0010ffff]""")
_ESCAPED_BY_JSON = re.compile(r"""[\\"\x00-\x1f]""")  # with ensure_ascii=False
# Events are trees: the circularity check would only slow the search down.
_JSON = json.JSONEncoder(default=repr, ensure_ascii=False, check_circular=False)


def _encodings(secret: str) -> set[str]:
    """The forms a secret takes once serialised: raw, URL-, JSON-, repr- and bytes-repr-encoded."""
    if _PLAIN.fullmatch(secret):  # every encoding of a plain token is the token itself
        return {secret}
    forms = {secret, quote(secret, safe=""), quote_plus(secret)}
    if _ESCAPED_BY_REPR_OR_JSON.search(secret):  # otherwise those forms are the raw text
        forms.add(json.dumps(secret)[1:-1])
        forms.add(repr(secret)[1:-1])
        # Raw header bytes decode as Latin-1, so "ä" arrives as two characters whose bytes repr is
        # the UTF-8 one; a body's bytes hold the UTF-8 encoding of the text parsed from them.
        forms.add(repr(secret.encode("utf-8"))[2:-1])
        with contextlib.suppress(UnicodeEncodeError):
            forms.add(repr(secret.encode("latin-1"))[2:-1])
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def _basic_credentials(credentials: str) -> tuple[str, ...]:
    """The decoded ``user:password`` of HTTP Basic credentials and the password, if long enough.

    And the user name when it looks like a key (``looks_secret``): Stripe's ``key:``, GitHub's
    ``token:x-oauth-basic`` send the credential there.
    """
    try:
        decoded = base64.b64decode(credentials, validate=True)
    except (ValueError, binascii.Error):
        return ()
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        text = decoded.decode("latin-1")
    user, colon, password = text.partition(":")
    if not colon:
        return ()
    parts = (text, password, user) if looks_secret(user) else (text, password)
    return tuple(part for part in parts if len(part.strip()) >= MIN_SECRET_LENGTH)


# A value that may be a credential, though its name does not say: long, or with a digit in it.
# Plain words ("admin", "error") are not searched for: that would take the event apart.
_SECRET_LENGTH = 8


def looks_secret(value: str) -> bool:
    """Tell whether a value looks like a secret: 8 characters or more, or with a digit in it."""
    return len(value) >= _SECRET_LENGTH or any(char.isdigit() for char in value)


def _as_utf8(value: str) -> str | None:
    """Raw bytes read as Latin-1 (headers, query strings, form fields) as an app reads them: UTF-8.

    None when they are plain ASCII, not UTF-8, or were already read as it.
    """
    if value.isascii():
        return None
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None


class Secrets:
    """The secret values seen in one request, to be searched for across a whole event."""

    __slots__ = ("_forms", "_json_needles", "_needles")

    def __init__(self) -> None:
        self._forms: set[str] = set()
        self._needles: tuple[str, ...] | None = None
        self._json_needles: tuple[str, ...] | None = None

    def add(self, value: str) -> None:
        """Remember a value that was filtered out, and the parts an attacker could reuse."""
        value = value.strip()
        if len(value) < MIN_SECRET_LENGTH or value == FILTERED:  # sentry_sdk filtered it already
            return
        utf8 = _as_utf8(value)
        if utf8 is not None:  # shorter each time: ends
            self.add(utf8)
        self._needles = self._json_needles = None
        if _PLAIN.fullmatch(value):  # a bare token (most secrets): every form of it is itself
            self._forms.add(value)
            return
        parts = [part.strip() for part in value.split(",")]
        if len(parts) > 1 and all(_LIST_ITEM.fullmatch(part) for part in parts):
            for part in parts:  # a list of hops or tokens: each one on its own, however joined
                self.add(part)
            return
        scheme, _, credentials = value.partition(" ")
        credentials = credentials.strip()
        if credentials and scheme.isalpha():  # "Bearer abc": the token alone is the secret
            self._forms |= _encodings(credentials)
            if scheme.lower() == "basic":  # apps hold the decoded password, not the base64
                for part in _basic_credentials(credentials):
                    self._forms |= _encodings(part)
            if _PLAIN.fullmatch(credentials):
                return  # every form of "Bearer abc" contains "abc": nothing more to search for
        self._forms |= _encodings(value)

    def __bool__(self) -> bool:
        return bool(self._forms)

    def needles(self) -> tuple[str, ...]:
        """Every form, longest first: a secret that holds a shorter one is replaced whole.

        Replacing the shorter one first would leave the rest of the longer one in place: a cookie
        ``en-US`` inside a text body withheld whole would take only ``en-US`` out of its copies.
        """
        if self._needles is None:
            self._needles = tuple(sorted(self._forms, key=len, reverse=True))
        return self._needles

    def scrub(self, text: str) -> str:
        """Replace every known secret form in ``text``."""
        return _replaced(text, self.needles())

    def held_by(self, item: Any) -> bool:
        """Tell whether a log, a metric or a span holds a secret form, in a key or a value.

        Such an item is a small tree of text and numbers: its texts, joined once, are searched
        at C speed, cheaper than :meth:`found_in` encoding it as JSON (by half, for a span).
        """
        if not self._forms:
            return False
        try:
            text = "\x00".join(_texts(item, [], 0))
        except (TypeError, RecursionError):  # not plain data: look closely
            return True
        return any(needle in text for needle in self.needles())

    def found_in(self, node: Any, skip: frozenset[str] = frozenset()) -> bool:
        """Tell, from one C-speed pass over ``node`` as JSON, whether any secret form is in it.

        Cheaper than walking a part of an event that, like most, holds none. JSON escapes
        quotes, backslashes and control characters, so each needle is searched for as JSON
        would write it.
        """
        if not self._forms:
            return False
        if isinstance(node, MutableMapping):  # only the parts that could hold a secret
            node = {k: v for k, v in node.items() if k not in skip and k not in _NEVER_SECRET}
        try:
            text = _JSON.encode(node)
        except (RecursionError, ValueError, TypeError):  # not a tree of plain data: look closely
            return True
        if self._json_needles is None:
            self._json_needles = tuple(
                json.dumps(needle, ensure_ascii=False)[1:-1]
                if _ESCAPED_BY_JSON.search(needle)
                else needle
                for needle in self.needles()
            )
        return any(needle in text for needle in self._json_needles)

    def scrub_tree(self, node: Any, skip: frozenset[str] = frozenset()) -> Any:
        """Scrub every string (and dict key) in a JSON-like tree, without changing the tree.

        The event's top-level dict is sentry_sdk's own and is updated in place; below it,
        containers with a secret in them are copied, never edited: sentry_sdk puts the app's
        own objects into events (``set_context``, ``set_extra``, breadcrumb data), and those
        must come out of an event exactly as they went in. Top-level keys in ``skip`` are known
        to be clean already (request data built here).
        """
        if not self._forms:
            return node
        needles = self.needles()
        shortest = len(needles[-1])  # needles are longest first: anything shorter holds none
        if isinstance(node, MutableMapping):
            for key, value in list(node.items()):
                if key not in skip and key not in _NEVER_SECRET:
                    scrubbed = _walk(value, needles, shortest, 1, _below(key, _NEVER_SECRET))
                    if scrubbed is not value:
                        node[key] = scrubbed
            return node
        return _walk(node, needles, shortest, 0, _NEVER_SECRET)


def _replaced(text: str, needles: tuple[str, ...]) -> str:
    for needle in needles:
        if needle in text:
            bounded = _bounded(needle)
            if bounded is None:
                text = text.replace(needle, FILTERED)
            else:
                text = bounded.sub(FILTERED, text)
    if TRUNCATED in text:
        text = _without_cut_secrets(text, needles)
    return text


# Where a long string was shortened: sentry_sdk ends one it cut at ``max_value_length`` with it
# (frame variables are cut at 1024 characters, before event processors, by older releases), and
# pydantic's errors show a long input as its start, "...", and its end.
TRUNCATED = "..."
# How many (cut, secret) pairs one string may cost: a validation error with dozens of cut
# inputs, checked against dozens of secrets, is well within it.
_CUT_CHECKS = 10_000


def _without_cut_secrets(text: str, needles: tuple[str, ...]) -> str:
    """Replace what is left of a secret cut at "...": ``"Bearer eyJhb..."``, ``"sk_live_5...XyZ"``.

    The whole secret is no longer there to be found, yet what is left of it is most of it: a
    start of it (4 characters or more) right before "...", and, unless the string ends there,
    an end of it right after. Only secrets whose start is in ``text`` are tried; a text with
    more cuts to try than :data:`_CUT_CHECKS` allows is withheld whole, so that text made of
    "..." cannot hold the event loop.
    """
    needles = tuple(needle for needle in needles if needle[:MIN_SECRET_LENGTH] in text)
    if not needles:
        return text
    cuts_left = _CUT_CHECKS // len(needles)
    at = text.find(TRUNCATED)
    while at != -1:
        cuts_left -= 1
        if cuts_left < 0:
            return FILTERED
        after = at + len(TRUNCATED)
        for needle in needles:
            start = _start_of(needle, text, at)
            if start == -1:
                continue
            if after == len(text):
                return text[:start] + FILTERED + TRUNCATED
            end = _end_of(needle, text, after)
            if end != -1:
                text = text[:start] + FILTERED + text[end:]
                after = start + len(FILTERED)
                break
        at = text.find(TRUNCATED, after)
    return text


def _start_of(needle: str, text: str, end: int) -> int:
    """Where the longest start of ``needle`` that ``text[:end]`` ends with begins; -1 if none."""
    head = needle[:MIN_SECRET_LENGTH]
    start = text.find(head, max(0, end - len(needle) + 1), end)
    while start != -1:
        if needle.startswith(text[start:end]):
            return start
        start = text.find(head, start + 1, end)
    return -1


def _end_of(needle: str, text: str, start: int) -> int:
    """Where the longest end of ``needle`` that ``text[start:]`` starts with ends; -1 if none."""
    tail = needle[-MIN_SECRET_LENGTH:]
    found = text.rfind(tail, start, start + len(needle) - 1)
    while found != -1:
        end = found + len(tail)
        if needle.endswith(text[start:end]):
            return end
        found = text.rfind(tail, start, end - 1)
    return -1


_NUMBER_OR_IPV4 = re.compile(r"[0-9]+(?:\.[0-9]+)*")
_IPV6 = re.compile(r"[0-9A-Fa-f]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*")


@functools.lru_cache(maxsize=256)
def _bounded(needle: str) -> re.Pattern[str] | None:
    """A pattern for a needle that is a number or an address, found only as a whole one.

    A PIN of ``1234`` is in ``12345`` and a client address ``10.0.0.1`` in ``10.0.0.12``, but
    neither is the secret there. Other needles are searched as plain text.
    """
    if _NUMBER_OR_IPV4.fullmatch(needle):
        return re.compile(rf"(?<![0-9]){re.escape(needle)}(?![0-9])")
    if _IPV6.fullmatch(needle):
        return re.compile(rf"(?<![0-9A-Fa-f:]){re.escape(needle)}(?![0-9A-Fa-f:])")
    return None


# Keys are renamed only for secrets this long (a token used as a key): shorter ones are words,
# and a dict whose key "email" became "[Filtered]" would lose its meaning, not a secret.
_KEY_SECRET_LENGTH = 8
# Deeper than any event sentry_sdk builds: only a container that holds itself gets here, and
# what is below is cut off, so that a cycle cannot carry a secret past the walk.
_MAX_DEPTH = 64


def _walk(  # noqa: C901, PLR0912
    node: Any, needles: tuple[str, ...], shortest: int, depth: int, skip: frozenset[str]
) -> Any:
    """Return ``node`` with every secret replaced: ``node`` itself when it holds none.

    The error path's loop, unrolled for speed: the needle test runs inline, and a container is
    copied only once something in it changes. Dicts and sequences share one loop over (slot,
    value): a sequence's slots are its indexes, never in ``skip`` and never strings. ``skip``
    holds the keys left alone here: the event's own fields, none in the app's own data.
    """
    kind = type(node)
    if kind is str:
        return _replaced(node, needles) if len(node) >= shortest else node
    if kind is bytes or kind is bytearray:
        return _scrubbed_bytes(node, needles)
    if kind is dict or (kind is not list and kind is not tuple and isinstance(node, Mapping)):
        slots: Iterable[tuple[Any, Any]] = node.items()
        mapping = True
    elif kind is list or kind is tuple or (isinstance(node, Sequence) and kind is not bytes):
        slots = enumerate(node)
        mapping = False
    else:
        return _scrubbed_repr(node, needles)
    if depth >= _MAX_DEPTH:
        return FILTERED
    copy: Any = None
    for slot, value in slots:
        if slot in skip:
            continue
        scrubbed = value
        if type(value) is str:
            if TRUNCATED in value:
                scrubbed = _replaced(value, needles)
            elif len(value) >= shortest:
                for needle in needles:
                    if needle in value:
                        scrubbed = _replaced(value, needles)
                        break
        elif value is not None and type(value) not in _SCALARS:
            below = _below(slot, skip) if skip else skip  # in the app's own data: nothing
            scrubbed = _walk(value, needles, shortest, depth + 1, below)
        renamed = False
        if type(slot) is str and len(slot) >= _KEY_SECRET_LENGTH:
            for needle in needles:
                if len(needle) >= _KEY_SECRET_LENGTH and needle in slot:
                    renamed = True
                    break
        if scrubbed is value and not renamed:
            continue
        if copy is None:
            copy = dict(node) if mapping else list(node)
        if renamed:
            del copy[slot]
            long_needles = tuple(n for n in needles if len(n) >= _KEY_SECRET_LENGTH)
            copy[_replaced(slot, long_needles)] = scrubbed
        else:
            copy[slot] = scrubbed
    if copy is None:
        return node
    return tuple(copy) if kind is tuple else copy


def _texts(node: Any, out: list[str], depth: int) -> list[str]:
    """Every key and value of a tree of plain data, as text, into ``out``."""
    if depth > _MAX_DEPTH:
        raise RecursionError
    kind = type(node)
    if kind is str:
        out.append(node)
    elif kind is dict:
        out += node  # its keys (a key that is no text fails the join: looked at closely)
        for value in node.values():
            _texts(value, out, depth + 1)
    elif kind is list or kind is tuple:
        for value in node:
            _texts(value, out, depth + 1)
    elif node is not None:
        out.append(str(node))
    return out


_SCALARS = frozenset({int, float, bool})


def _scrubbed_bytes(node: bytes | bytearray, needles: tuple[str, ...]) -> Any:
    """Bytes the app attached (the raw query string, a body), as sentry_sdk's serializer sends them.

    It decodes them as UTF-8; the text, once it held a secret, is sent in their place.
    """
    text = node.decode("utf-8", errors="replace")
    scrubbed = _replaced(text, needles)
    return node if scrubbed == text else scrubbed


def _scrubbed_repr(node: object, needles: tuple[str, ...]) -> Any:
    """An object as sentry_sdk sends it, its repr: in its place, filtered, if it holds a secret.

    A log record's extras reach the event as objects (Django's security log: its request, whose
    repr is the path and query string), turned into text only as the event is sent.
    """
    try:
        text = repr(node)
    except Exception:  # noqa: BLE001 - the app's repr: sentry_sdk sends a placeholder for it
        return node
    scrubbed = _replaced(text, needles)
    return node if scrubbed == text else scrubbed


def _below(slot: Any, skip: frozenset[str]) -> frozenset[str]:
    """The keys to leave alone under ``slot``: none in data the app named itself.

    A frame's local variables, extra, tags, user, breadcrumb and span data, log and span
    attributes, and the contexts the app set are keyed by the app's own names: a variable
    called ``source`` or ``status`` holds what the app put there, a card token as likely as
    anything.
    """
    if not skip or slot in _APP_DATA:
        return _NOTHING
    if skip is _CONTEXTS:  # one context: sentry_sdk's own, or one the app set
        return _NEVER_SECRET if slot in _SDK_CONTEXTS else _NOTHING
    return _CONTEXTS if slot == "contexts" else skip


# Parts of an event that describe the SDK, the machine or the source code, never request data.
_NEVER_SECRET = frozenset(
    {
        "modules",
        "sdk",
        "debug_meta",
        "_meta",
        "pre_context",
        "post_context",
        "context_line",
        "runtime",
        "os",
        # where code runs and which event this is: never request data
        "abs_path",
        "filename",
        "function",
        "module",
        "lineno",
        "in_app",
        "event_id",
        "timestamp",
        "start_timestamp",
        "trace_id",
        "span_id",
        "parent_span_id",
        # fields of the event's own vocabulary, which Sentry validates
        "level",
        "platform",
        "logger",
        "type",
        "op",
        "origin",
        "status",
        "source",
        "handled",
        "environment",
        "release",
        "dist",
        "server_name",
    }
)
_NOTHING: frozenset[str] = frozenset()
# The keys of the event's contexts: left alone as everywhere in the event's own fields, a
# distinct object so that :func:`_below` knows its children are contexts.
_CONTEXTS: frozenset[str] = frozenset([*_NEVER_SECRET])
_SDK_CONTEXTS = frozenset({"trace", "response", "otel", "profile", "flags"})
# Keys whose values the app names and fills: a frame's variables, extra, tags, user, breadcrumb
# and span data, and the attributes of a log or a streamed span.
_APP_DATA = frozenset({"vars", "extra", "tags", "user", "data", "attributes"})


# A JSON Web Token (base64url of a JSON header and of JSON claims, both "eyJ", and a signature):
# a bearer credential or signed identity claims, whatever name it is sent under.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")


def holds_jwt(value: str) -> bool:
    """Tell whether a value holds a JSON Web Token ("Bearer eyJ..." included)."""
    return "eyJ" in value and _JWT.search(value) is not None


def _with_jwt(rule: KeyRule, verdict: bool | None, value: str) -> bool | None:  # noqa: FBT001 - a verdict, not a flag
    """A key rule's verdict on a value with "eyJ" in it: a JWT is filtered under any name.

    Callers test for "eyJ" themselves: most values have none, and pay no call for it.
    """
    if rule.mode != "all" and verdict is not False and _JWT.search(value) is not None:
        return False if verdict else None
    return verdict


def _hidden(rule: KeyRule, name: str, value: str) -> bool:
    """Tell whether a value left out (mode "off") is secret: its name says so, or it is a JWT."""
    return rule.hides(name) or (rule.mode != "all" and holds_jwt(value))


def filter_pairs(
    pairs: Iterable[tuple[str, str]], rule: KeyRule, secrets: Secrets
) -> list[tuple[str, str]]:
    """Apply a key rule to name/value pairs; remember what was filtered.

    A pair left out altogether (mode "off") is remembered only if its value is secret or
    personal: the key rule says what may be sent, not that every dropped value is a secret.
    """
    kept = []
    for name, value in pairs:
        verdict = rule.keeps(name)
        if "eyJ" in value:
            verdict = _with_jwt(rule, verdict, value)
        if verdict:
            kept.append((name, value))
        elif verdict is False:
            secrets.add(value)
            kept.append((name, FILTERED))
        elif _hidden(rule, name, value):
            secrets.add(value)
    return kept


_QUERY_SEPARATOR = re.compile("([&;])")  # ";" still separates parameters for many servers


def filter_query(
    query: str,
    rule: KeyRule,
    secrets: Secrets,
    holds_secret: Callable[[str, Secrets], bool] | None = None,
) -> str:
    """Filter a query string's values by parameter name, keeping everything else as sent.

    A filtered value is remembered both decoded and as sent: a frame holding the raw query
    string shows the client's own percent-encoding (``%2f`` as well as ``%2F``). A value that
    ``holds_secret`` finds a secret in (GraphQL over GET: ``?query=mutation{login(password:...)}``,
    ``&variables={"password": ...}``) is filtered whole, whatever its name, and so is an OAuth
    authorization code (``/callback?code=...&state=...``, ``?grant_type=...&code=...``).
    """
    if rule.mode == "all" or not query:
        return query
    kept: list[str] = []
    pieces = _QUERY_SEPARATOR.split(query)  # parameter, separator, parameter, ...
    oauth = OAUTH_CODE in query and _answers_oauth(pieces)
    for index in range(0, len(pieces), 2):
        raw_name, sep, raw_value = pieces[index].partition("=")
        name = unquote_plus(raw_name)
        verdict = rule.keeps(name)
        if "eyJ" in raw_value:
            verdict = _with_jwt(rule, verdict, unquote_plus(raw_value))
        if verdict and holds_secret is not None and holds_secret(unquote_plus(raw_value), secrets):
            verdict = False
        oauth_code = oauth and name == OAUTH_CODE
        if oauth_code and verdict:
            verdict = False
        if not verdict and (verdict is False or oauth_code or _hidden(rule, name, raw_value)):
            secrets.add(unquote_plus(raw_value))
            secrets.add(raw_value)
        if verdict is None:
            continue
        if kept:
            kept.append(pieces[index - 1])  # the separator the client used
        kept.append(f"{raw_name}{sep}{raw_value if verdict else FILTERED}")
    return "".join(kept)


def _answers_oauth(pieces: list[str]) -> bool:
    """Tell whether a query's parameters are OAuth's, its ``code`` a credential."""
    return names_oauth_code({unquote_plus(piece.partition("=")[0]) for piece in pieces[::2]})


USERINFO_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/?#@:]*:)([^/?#]*)@")
_Find = Callable[[str], "re.Match[str] | None"]
_HoldsSecret = Callable[[str, Secrets], bool]


def without_password(url: str, secrets: Secrets, find: _Find = USERINFO_PASSWORD.match) -> str:
    """Filter the password of a URL's userinfo (``https://user:pass@host/``), kept as a secret.

    ``find`` finds it elsewhere: after other text, as an absolute-form request target
    (``GET http://user:pass@host/ HTTP/1.1``, a proxy's request line) is in the request's URL
    (uvicorn's h11, hypercorn and daphne give it whole as the path), or in a Host header's
    authority.
    """
    match = find(url)
    if match is None:
        return url
    password = match.group(2)
    secrets.add(password)
    secrets.add(unquote(password))
    return f"{url[: match.start()]}{match.group(1)}{FILTERED}@{url[match.end() :]}"


def filter_url_query(
    url: str, rule: KeyRule, secrets: Secrets, holds_secret: _HoldsSecret | None = None
) -> str:
    """Filter the query parameters of a URL as the request's own are filtered."""
    rest, hash_mark, fragment = url.partition("#")
    base, question_mark, query = rest.partition("?")
    if not query:
        return url
    query = filter_query(query, rule, secrets, holds_secret)
    return f"{base}{question_mark if query else ''}{query}{hash_mark}{fragment}"


def filter_url(
    url: str, rule: KeyRule, secrets: Secrets, holds_secret: _HoldsSecret | None = None
) -> str:
    """A URL with its password and secret parameters filtered, its fragment's too (learned).

    OAuth's implicit flow sends ``#access_token=...`` to the browser.
    """
    rest, hash_mark, fragment = without_password(url, secrets).partition("#")
    rest = filter_url_query(rest, rule, secrets, holds_secret)
    if fragment:
        fragment = filter_query(fragment, rule, secrets, holds_secret)
    return f"{rest}{hash_mark}{fragment}"


def filter_cookies(header: str, rule: KeyRule, secrets: Secrets) -> str | None:
    """Filter a Cookie header cookie by cookie; None when no cookie may be sent."""
    if rule.mode == "all":
        return header
    kept = []
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        verdict = rule.keeps(name)
        if "eyJ" in value:
            verdict = _with_jwt(rule, verdict, value)
        if verdict:
            kept.append(f"{name}{sep}{value}")
        else:
            _learn_cookie(value, secrets)
            if verdict is False:
                kept.append(f"{name}={FILTERED}")
    return "; ".join(kept) if kept else None


# A quoted cookie value's escapes, as Python's http.cookies (Starlette's parser) undoes them:
# an octal byte (``\073`` is ``;``) or any escaped character.
_COOKIE_ESCAPE = re.compile(r"\\(?:([0-3][0-7][0-7])|(.))")


def _learn_cookie(value: str, secrets: Secrets) -> None:
    """Remember a cookie's value, and as the app may read it: unquoted, decoded, parsed.

    Starlette and ``http.cookies`` take the quotes off a quoted one (``sid="..."``), and the
    escapes out. A value set with ``encodeURIComponent`` (as browsers' scripts and Express set
    them) is percent-decoded by the app, and JSON in it parsed: each string in it that looks
    like a secret is remembered too.
    """
    secrets.add(value)
    if len(value) > 1 and value[0] == value[-1] == '"':
        secrets.add(_COOKIE_ESCAPE.sub(_unescaped, value[1:-1]))
    if "%" in value:
        decoded = unquote(value)
        secrets.add(decoded)
        if decoded[:1] in ("{", "["):
            with contextlib.suppress(ValueError, RecursionError):
                _learn_json_strings(json.loads(decoded), secrets)


def _learn_json_strings(node: Any, secrets: Secrets) -> None:
    if isinstance(node, str):
        if looks_secret(node):
            secrets.add(node)
    elif isinstance(node, dict):
        for value in node.values():
            _learn_json_strings(value, secrets)
    elif isinstance(node, list):
        for value in node:
            _learn_json_strings(value, secrets)


def _unescaped(escape: re.Match[str]) -> str:
    octal, character = escape.groups()
    return chr(int(octal, 8)) if octal else character


def scrub_attachments(attachments: Sequence[Any], secrets: Secrets) -> list[Any]:
    """An event's attachments, those that are text without the request's secrets.

    sentry_sdk sends them beside the event, out of event processors' reach but for the hint, and
    the app may attach what it received (its body, its headers). The app's own attachment objects
    are left as they are: a changed one is a copy. Binary data and files on disk are sent as they
    are.
    """
    return [_scrubbed_attachment(attachment, secrets) for attachment in attachments]


def _scrubbed_attachment(attachment: Any, secrets: Secrets) -> Any:
    data = getattr(attachment, "bytes", None)
    if isinstance(data, (bytes, bytearray)):
        scrubbed: Any = _scrubbed_text(data, secrets)
        if scrubbed is data:
            return attachment
    elif callable(data):  # produced as the envelope is built: scrubbed then
        scrubbed = functools.partial(_produced_scrubbed, data, secrets)
    else:
        return attachment
    copy = _copy.copy(attachment)
    copy.bytes = scrubbed
    return copy


def _produced_scrubbed(produce: Callable[[], Any], secrets: Secrets) -> Any:
    data = produce()
    return _scrubbed_text(data, secrets) if isinstance(data, (bytes, bytearray)) else data


def _scrubbed_text(data: bytes | bytearray, secrets: Secrets) -> bytes | bytearray:
    """UTF-8 text with the secrets out; ``data`` itself when it holds none, or is not text."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    scrubbed = secrets.scrub(text)
    return data if scrubbed == text else scrubbed.encode("utf-8")
