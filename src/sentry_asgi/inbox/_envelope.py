"""The Sentry envelope format: a JSON header line, then items of a header line and a payload.

Parsing is strict about structure (a bad envelope is refused whole, with a reason the sender can
read) and lenient about content: unknown item types pass through untouched for the caller to skip.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any


class EnvelopeError(ValueError):
    """The body is not a well-formed envelope; the message is the one-line reason."""


@dataclass(frozen=True)
class Item:
    """One envelope item: its header (``type``, ``length``, ...) and its raw payload."""

    headers: dict[str, Any]
    payload: bytes
    index: int = 0  # position in the envelope, for error messages

    @property
    def type(self) -> str:
        """The item type, e.g. ``event`` or ``transaction``."""
        return str(self.headers["type"])

    def json(self) -> dict[str, Any]:
        """Decode the payload as a JSON object, for the item types that carry one."""
        return _json_object(self.payload, f"item {self.index} ({self.type}) payload")


@dataclass(frozen=True)
class Envelope:
    """A parsed envelope: its header and its items, in order."""

    headers: dict[str, Any]
    items: list[Item]
    digest: bytes = b""  # of the whole body: the same envelope sent twice has the same digest


def parse(body: bytes) -> Envelope:
    """Split ``body`` into header and items, or raise `EnvelopeError` saying what is wrong."""
    if not body.strip():
        msg = "empty envelope"
        raise EnvelopeError(msg)
    line, pos = _line(body, 0)
    headers = _json_object(line, "envelope header")
    items: list[Item] = []
    while pos < len(body):
        line, pos = _line(body, pos)
        if not line.strip():
            continue  # blank lines between or after items carry nothing
        item_headers = _json_object(line, f"item {len(items)} header")
        if not isinstance(item_headers.get("type"), str):
            msg = f"item {len(items)} header has no type"
            raise EnvelopeError(msg)
        payload, pos = _payload(body, pos, item_headers, len(items))
        items.append(Item(item_headers, payload, len(items)))
    return Envelope(headers, items, hashlib.sha256(body).digest())


def _line(body: bytes, pos: int) -> tuple[bytes, int]:
    """Return the line starting at ``pos`` (without its newline) and where the next one starts."""
    end = body.find(b"\n", pos)
    if end == -1:
        return body[pos:], len(body)
    return body[pos:end], end + 1


def _payload(body: bytes, pos: int, headers: dict[str, Any], index: int) -> tuple[bytes, int]:
    """Read an item payload: ``length`` bytes when given, else up to the end of the line."""
    length = headers.get("length")
    if length is None:
        return _line(body, pos)
    if not isinstance(length, int) or isinstance(length, bool) or length < 0:
        msg = f"item {index} has an invalid length: {length!r}"
        raise EnvelopeError(msg)
    end = pos + length
    if end > len(body):
        msg = f"item {index} is truncated: length {length}, only {len(body) - pos} bytes left"
        raise EnvelopeError(msg)
    if end < len(body) and body[end : end + 1] != b"\n":
        msg = f"item {index} payload is longer than its length {length}"
        raise EnvelopeError(msg)
    return body[pos:end], end + 1


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    """Decode ``raw`` as a JSON object; anything else is an `EnvelopeError` naming ``what``."""
    try:
        value = json.loads(raw)
        if _SURROGATE_ESCAPE.search(raw):
            value = _without_lone_surrogates(value)
    except (ValueError, UnicodeDecodeError) as exc:
        msg = f"{what} is not valid JSON: {exc}"
        raise EnvelopeError(msg) from None
    except RecursionError:
        msg = f"{what} is nested too deeply"
        raise EnvelopeError(msg) from None
    if not isinstance(value, dict):
        msg = f"{what} is not a JSON object"
        raise EnvelopeError(msg)
    return value


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_lone_surrogates(value: Any) -> Any:
    """Replace lone surrogates with U+FFFD: JSON can escape them, but no UTF-8 text holds them.

    Python strings from undecodable file names (``os.fsdecode``) carry them, and sentry_sdk sends
    them as they are; SQLite and the pages could not store or show such text.
    """
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in value.items()}
    return value
