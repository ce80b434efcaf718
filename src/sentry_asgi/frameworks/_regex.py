"""A route's regular expression made readable, for frameworks whose routes are regexes.

Sentry groups requests by name, and a regex is a poor one to read: the template keeps the
path's literal text and puts ``{name}`` where the regex matches a variable part.
"""

from __future__ import annotations

import functools
import re

# What a regex's atoms become: anchors nothing, character classes and wildcards one variable.
_ANCHORS = frozenset("AZbBz")
_CLASSES = frozenset("dDwWsS0123456789")  # \1: a backreference, as variable as its group
_QUANTIFIER = re.compile(r"(?:[?*+]|\{(?:\d+(?:,\d*)?|,\d*)\})[?+]?")
_VARIABLE = "{var}"
# Characters that are no literal: anchors, and a dot (often meant as one, when not repeated).
_CHARACTERS = {"^": ("", False), "$": ("", False), ".": (".", True)}
_NAMED = re.compile(r"\?P<(\w+)>")
_NON_CAPTURING = re.compile(r"\?(?:[-aiLmsux]*:|>)")  # (?:...), (?i:...), atomic (?>...)


@functools.lru_cache(maxsize=1024)
def readable(regex: str) -> str:
    """The path a route's regex matches, as a template.

    ``^articles/(?P<year>[0-9]{4})/$`` is ``articles/{year}/``: a named group is its name, an
    unnamed group or a character class ``{var}``, a non-capturing group its content, a group of
    alternatives ``{var}`` as a whole; anchors and lookarounds are dropped.
    """
    parts: list[str] = []
    i = 0
    while i < len(regex):
        text, i = _sequence(regex, i)
        parts.append(text)
        i += 1  # past a ``)`` with no ``(``: the framework would not have compiled it
    return "".join(parts)


def _sequence(regex: str, i: int) -> tuple[str, int]:
    """The template of the regex from ``i`` up to the ``)`` closing its group, or its end."""
    parts: list[str] = []
    alternatives = False
    while i < len(regex) and regex[i] != ")":
        if regex[i] == "|":
            alternatives, i = True, i + 1
            continue
        text, wildcard, i = _atom(regex, i)
        quantifier = _QUANTIFIER.match(regex, i)
        if quantifier is not None:
            i = quantifier.end()
        if wildcard and (quantifier is not None or text != "."):
            text = _VARIABLE
        if text != _VARIABLE or not parts or parts[-1] != _VARIABLE:
            parts.append(text)
    return (_VARIABLE if alternatives else "".join(parts)), i


def _atom(regex: str, i: int) -> tuple[str, bool, int]:
    """One atom's template, whether it stands for more than one path, and where it ends."""
    char = regex[i]
    if char == "\\":
        escaped = regex[i + 1 : i + 2]
        return ("" if escaped in _ANCHORS else escaped), escaped in _CLASSES, i + 2
    if char == "[":
        return _VARIABLE, True, _class_end(regex, i + 1)
    if char == "(":
        return _group(regex, i + 1)
    text, wildcard = _CHARACTERS.get(char, (char, False))
    return text, wildcard, i + 1


def _group(regex: str, i: int) -> tuple[str, bool, int]:
    """A group's template (``i`` just past its ``(``): its name, its content, or nothing."""
    named = _NAMED.match(regex, i)
    if named is not None:
        return f"{{{named.group(1)}}}", False, _group_end(regex, named.end())
    plain = _NON_CAPTURING.match(regex, i)
    if plain is not None:
        text, end = _sequence(regex, plain.end())
        return text, False, end + 1
    if not regex.startswith("?", i) or regex.startswith(("?P=", "?("), i):
        return _VARIABLE, True, _group_end(regex, i)  # a capture, a backreference, a condition
    return "", False, _group_end(regex, i)  # a lookaround, a comment, flags: no characters


def _class_end(regex: str, i: int) -> int:
    """Where a character class ends (``i`` just past its ``[``): past its ``]``."""
    i += regex.startswith("^", i)
    i += regex.startswith("]", i)  # first in the class, ``]`` is itself
    while i < len(regex) and regex[i] != "]":
        i += 2 if regex[i] == "\\" else 1
    return i + 1


def _group_end(regex: str, i: int) -> int:
    """Where a group ends (``i`` inside it): past the ``)`` that closes it."""
    depth = 1
    while i < len(regex):
        char = regex[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            i = _class_end(regex, i + 1)
            continue
        depth += (char == "(") - (char == ")")
        i += 1
        if depth == 0:
            break
    return i
