"""Take secrets out of request data, and out of anything else in an event that repeats them.

Request data is filtered by key (header, cookie, query parameter, body field names). But the
same values travel elsewhere: every frame of an ASGI app holds the ``scope`` dict, whose raw
``headers`` list carries the Cookie and Authorization values into the stack-frame variables
of each error event. So the values filtered out of the request are remembered, and every
string in the event is searched for them, in the forms serialisation gives them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, MutableMapping, MutableSequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus, unquote_plus

if TYPE_CHECKING:
    from sentry_asgi._privacy import KeyRule

FILTERED = "[Filtered]"  # sentry_sdk's marker for a removed value
# Shorter values are left alone: replacing "1" everywhere would wreck the event, not protect it.
MIN_SECRET_LENGTH = 4
_PLAIN = re.compile(r"[A-Za-z0-9._~-]+")


def _encodings(secret: str) -> set[str]:
    """The forms a secret takes once serialised: raw, URL-, JSON-, repr- and bytes-repr-encoded."""
    if _PLAIN.fullmatch(secret):  # every encoding of a plain token is the token itself
        return {secret}
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    forms.add(repr(secret)[1:-1])
    try:
        forms.add(repr(secret.encode("latin-1"))[2:-1])
    except UnicodeEncodeError:
        forms.add(repr(secret.encode("utf-8"))[2:-1])
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


class Secrets:
    """The secret values seen in one request, to be searched for across a whole event."""

    __slots__ = ("_forms", "_pattern")

    def __init__(self) -> None:
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        """Remember a value that was filtered out, and the parts an attacker could reuse."""
        value = value.strip()
        if len(value) < MIN_SECRET_LENGTH:
            return
        self._forms |= _encodings(value)
        scheme, _, credentials = value.partition(" ")
        if credentials and scheme.isalpha():  # "Bearer abc": the token alone is the secret
            self._forms |= _encodings(credentials.strip())
        self._pattern = None

    def __bool__(self) -> bool:
        return bool(self._forms)

    def _compiled(self) -> re.Pattern[str]:
        if self._pattern is None:
            ordered = sorted(self._forms, key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, ordered)))
        return self._pattern

    def scrub(self, text: str) -> str:
        """Replace every known secret form in ``text`` (longest first, in one pass)."""
        if not self._forms:
            return text
        return self._compiled().sub(FILTERED, text)

    def found_in(self, event: Any) -> bool:
        """Tell, in one C-speed pass over the event as JSON, whether any secret form is in it.

        Cheaper than walking an event that, like most transactions, holds none. The JSON text
        escapes some characters, so the escaped forms are among those searched for.
        """
        if not self._forms:
            return False
        text = json.dumps(event, default=repr, ensure_ascii=False)
        return self._compiled().search(text) is not None

    def scrub_tree(self, node: Any) -> Any:
        """Scrub every string (and dict key) in a JSON-like tree, in place where possible."""
        kind = type(node)
        if kind is str:
            return self.scrub(node)
        if kind is int or kind is float or kind is bool or node is None:
            return node
        if kind is dict or isinstance(node, MutableMapping):
            for key in list(node):
                if key in _NEVER_SECRET:
                    continue
                value = self.scrub_tree(node[key])
                new_key = self.scrub(key) if type(key) is str else key
                if new_key != key:
                    del node[key]
                node[new_key] = value
            return node
        if kind is list or isinstance(node, MutableSequence):
            for index, value in enumerate(node):
                node[index] = self.scrub_tree(value)
            return node
        if kind is tuple:
            return tuple(self.scrub_tree(value) for value in node)
        return node


# Parts of an event that describe the SDK, the machine or the source code, never request data.
_NEVER_SECRET = frozenset(
    {"modules", "sdk", "debug_meta", "_meta", "pre_context", "post_context", "context_line"}
)


def filter_pairs(
    pairs: Iterable[tuple[str, str]], rule: KeyRule, secrets: Secrets
) -> list[tuple[str, str]]:
    """Apply a key rule to name/value pairs; remember what was filtered."""
    kept = []
    for name, value in pairs:
        verdict = rule.keeps(name)
        if verdict is None:
            secrets.add(value)
        elif verdict:
            kept.append((name, value))
        else:
            secrets.add(value)
            kept.append((name, FILTERED))
    return kept


def filter_query(query: str, rule: KeyRule, secrets: Secrets) -> str:
    """Filter a query string's values by parameter name, keeping everything else as sent."""
    if rule.mode == "all" or not query:
        return query
    parts = []
    for part in query.split("&"):
        raw_name, sep, raw_value = part.partition("=")
        verdict = rule.keeps(unquote_plus(raw_name))
        if verdict is None:
            secrets.add(unquote_plus(raw_value))
            continue
        if not verdict:
            secrets.add(unquote_plus(raw_value))
            secrets.add(raw_value)
            raw_value = FILTERED
        parts.append(f"{raw_name}{sep}{raw_value}")
    return "&".join(parts)


def filter_cookies(header: str, rule: KeyRule, secrets: Secrets) -> str | None:
    """Filter a Cookie header cookie by cookie; None when no cookie may be sent."""
    if rule.mode == "all":
        return header
    kept = []
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        verdict = rule.keeps(name)
        if verdict:
            kept.append(f"{name}{sep}{value}")
        else:
            secrets.add(value)
            if verdict is False:
                kept.append(f"{name}={FILTERED}")
    return "; ".join(kept) if kept else None
