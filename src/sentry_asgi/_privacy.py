"""What the user allowed us to collect, resolved once per sentry_sdk client.

sentry_sdk is moving from the single ``send_default_pii`` switch to the structured
``data_collection`` option; both are honoured, and ``data_collection`` wins when set.
With neither, the policy is secret-safe: no IP address, no secret header, cookie,
query parameter or body field.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Mode = Literal["all", "denylist", "allowlist", "off"]

# Matched as case-insensitive substrings of a header, cookie, query or body key, with "-"
# and "_" treated alike. Broader than sentry_sdk's exact-name list on purpose: a header
# called "X-Upstream-Auth-Token" is a secret whatever its exact name.
SENSITIVE_TERMS = (
    "auth",
    "bearer",
    "cookie",
    "credential",
    "csrf",
    "identity",
    "jwt",
    "key",
    "passcode",
    "passphrase",
    "passwd",
    "password",
    "private",
    "pwd",
    "saml",
    "secret",
    "sess",
    "signature",
    "sso",
    "token",
    "xsrf",
)
# Short names that are secrets only as a whole word (signed-URL signatures, session ids, a login
# form's password).
SENSITIVE_WORDS = ("sig", "sid", "otp", "pin", "pass", "pw")
# Names that are secret as written whole, in a key as in free text: OAuth's credentials (PKCE's
# proof of the client, RFC 7636; the device flow's, RFC 8628), and "password" in the languages apps
# are most often written in, where a form or a JSON body names the field in the user's language:
# German, Spanish, French, Dutch, Swedish, Danish and Norwegian, Finnish, Vietnamese, Russian and
# Ukrainian, Chinese, Japanese, Korean.
WHOLE_TERMS = (
    "code_verifier",
    "device_code",
    "passwort",
    "kennwort",
    "contrasena",
    "contraseña",
    "motdepasse",
    "mot_de_passe",
    "wachtwoord",
    "losenord",
    "lösenord",
    "adgangskode",
    "passord",
    "salasana",
    "matkhau",
    "mat_khau",
    "пароль",
    "密码",
    "パスワード",
    "비밀번호",
)
# "password" in Portuguese, French shorthand, Polish, Czech, Turkish and Spanish: a word of its own
# only, as longer words hold it ("resenha", "hasLoggedIn", "autoclave").
WHOLE_WORDS = ("senha", "mdp", "haslo", "hasło", "heslo", "sifre", "şifre", "clave")
# Of those, the words that name a password only as a name's last word (user_pass, db-pw, pass[]):
# pass_through, pass_rate and pw_policy are settings, not secrets.
SENSITIVE_LAST_WORDS = ("pass", "pw")
# Endings that name session ids glued to a prefix: Google's SAPISID, APISID, HSID, SSID cookies.
SENSITIVE_SUFFIXES = ("sid",)
# OAuth 2.0 hands the client a one-time credential as "code": to its callback beside "state" (RFC
# 6749, 4.1.2), and back to the authorization server in a token request beside "grant_type",
# "redirect_uri" and PKCE's "code_verifier" (4.1.3, RFC 7636). Alone, "code" names no secret (a
# country, a promotion, an error code).
OAUTH_CODE = "code"
OAUTH_CODE_COMPANIONS = ("state", "grant_type", "redirect_uri", "code_verifier")


def names_oauth_code(names: Container[str]) -> bool:
    """Tell whether parameter or field names are OAuth's, so that their ``code`` is a secret."""
    return OAUTH_CODE in names and any(name in names for name in OAUTH_CODE_COMPANIONS)


# JSON-RPC names no positional parameter (``"params": ["alice", "hunter2"]``): the method tells
# whether they hold a secret. Besides one whose name does (``auth.login``, bitcoind's
# ``walletpassphrase``), one that signs a user in or up, or unlocks something, takes one; so does
# bitcoind's ``encryptwallet``, and every method of geth's ``personal`` namespace (the account's
# passphrase: ``personal_unlockAccount``, ``personal_sign``).
SECRET_METHOD_WORDS = frozenset(
    {"login", "logon", "signin", "signup", "register", "unlock", "encryptwallet"}
)
SECRET_METHOD_NAMESPACES = ("personal",)


# Headers that carry end-user addresses or identities: personal data, not secrets.
# "clientip", "socketip" and "_addr" catch Azure Front Door's X-Azure-ClientIP / X-Azure-SocketIP
# and Envoy's X-Envoy-External-Address.
PERSONAL_TERMS = ("forwarded", "_ip", "clientip", "socketip", "_addr", "remote_", "_user")
PERSONAL_WORDS = ("via",)

_SENSITIVE = re.compile(
    "|".join((*SENSITIVE_TERMS, *WHOLE_TERMS))
    + r"|(?:^|[^a-z0-9])(?:"
    + "|".join(
        word for word in (*SENSITIVE_WORDS, *WHOLE_WORDS) if word not in SENSITIVE_LAST_WORDS
    )
    + r")(?:$|[^a-z0-9])|(?:^|[^a-z0-9])(?:"
    + "|".join(SENSITIVE_LAST_WORDS)
    + r")(?:$|[^a-z0-9_])|(?:"
    + "|".join(SENSITIVE_SUFFIXES)
    + r")(?:$|[^a-z0-9])"
)
_PERSONAL = re.compile("|".join(PERSONAL_TERMS) + "|^(?:" + "|".join(PERSONAL_WORDS) + ")$")


def _normalise(key: str) -> str:
    return key.lower().replace("-", "_")


@functools.lru_cache(maxsize=4096)
def is_sensitive(key: str) -> bool:
    """Tell whether a key names a secret, under every policy (cached: names repeat)."""
    return _SENSITIVE.search(_normalise(key)) is not None


# A word of free text holding a secret name somewhere, searched for in the text lowered letter for
# letter (so its place is the same in the text); it starts only where a word starts, so a long word
# costs one pass.
_WORD_WITH_TERM = re.compile(
    r"(?<![a-z0-9])[a-z0-9]*?(?:" + "|".join((*SENSITIVE_TERMS, *SENSITIVE_WORDS)) + r")[a-z0-9]*"
)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_NAME_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
# In free text a secret name counts as a whole word or name part, or in one of these forms: the
# ordinary words "keyboard", "monkey", "author" or "session" name no secret.
_SECRET_PART = re.compile(
    rf"(?:{'|'.join(SENSITIVE_TERMS)})s?|{'|'.join(SENSITIVE_WORDS)}"
    r"|\w*(?:token|secret|password|passwd|credential|signature|cookie)s?|\w*sid"
    r"|(?:api|access|secret|private|signing|session|client)keys?"
    r"|auth(?:n|z|ori[sz](?:ation|e[ds]?)|enticat(?:ion|e[ds]?))s?|sessionid|sessionids"
)
_WHOLE_WORD = re.compile(r"(?<![a-z0-9])(?:" + "|".join(WHOLE_WORDS) + r")(?![a-z0-9])")


def _names_whole(lowered: str) -> bool:
    """Tell whether lowered free text holds a whole name (a pattern of them all would cost more)."""
    if any(term in lowered for term in WHOLE_TERMS):
        return True
    return any(word in lowered for word in WHOLE_WORDS) and _WHOLE_WORD.search(lowered) is not None


@functools.lru_cache(maxsize=1024)
def takes_secret_params(method: str) -> bool:
    """Tell whether a JSON-RPC method's positional parameters hold a secret (cached: names repeat).

    Its name is read as words, camelCase and separators alike: ``logIn``, ``sign_in``,
    ``personal_unlockAccount``.
    """
    if is_sensitive(method):
        return True
    words = [part.lower() for part in _NAME_PARTS.findall(method)]
    if words and words[0] in SECRET_METHOD_NAMESPACES:
        return True
    pairs = (first + second for first, second in itertools.pairwise(words))
    return any(word in SECRET_METHOD_WORDS for word in (*words, *pairs))


# "session" names a secret when it is part of a longer name (session_id) or a field (session=).
_SESSION_FIELD = re.compile(r"(?<=[_-])session|session(?=[_-]|[\"']?\s*[=:])")


def mentions_secret(text: str) -> bool:
    """Tell whether free text (a body that is not fields) names a secret as a word or name part.

    ``api_key``, ``apiKey``, ``<password>``, ``"token":`` and ``passwd=`` do; ``keyboard`` does not.
    """
    lowered = text.translate(_ASCII_LOWER)
    for word in _WORD_WITH_TERM.finditer(lowered):
        parts = _NAME_PARTS.findall(text, word.start(), word.end())
        if any(_SECRET_PART.fullmatch(part.lower()) for part in parts):
            return True
    if _names_whole(lowered if text.isascii() else text.lower()):
        return True
    return _SESSION_FIELD.search(lowered) is not None


@functools.lru_cache(maxsize=4096)
def is_personal(key: str) -> bool:
    """Tell whether a header names end-user personal data such as a forwarded IP address."""
    return _PERSONAL.search(_normalise(key)) is not None


@dataclass(frozen=True, slots=True, eq=False)  # compared and hashed by identity: cheap
class KeyRule:
    """How the values of one key-value category (headers, cookies, query) are collected."""

    mode: Mode
    terms: tuple[str, ...] = ()
    personal: bool = True  # whether personal (IP-bearing) keys may be sent

    def keeps(self, key: str) -> bool | None:
        """Return True to send the value, False to send ``[Filtered]``, None to drop the key."""
        if self.mode == "all":
            return True
        if self.mode == "off":
            return None
        verdicts = _VERDICTS.get(self)
        if verdicts is None:
            verdicts = _VERDICTS[self] = {}
        verdict = verdicts.get(key)
        if verdict is None:
            if len(verdicts) >= _MAX_VERDICTS:  # header names are the client's: stay bounded
                verdicts.clear()
            verdict = verdicts[key] = _verdict(self, key)
        return verdict

    def hides(self, key: str) -> bool:
        """Tell whether a key's value is secret or personal under this rule, sent or not.

        Such a value must be searched for across the event even when the key is left out of
        the request data altogether (mode "off"): the raw ASGI scope still carries it.
        """
        return self.mode != "all" and (
            is_sensitive(key) or (not self.personal and is_personal(key))
        )


# Verdicts per rule and key: header, cookie and parameter names repeat from request to request.
_VERDICTS: dict[KeyRule, dict[str, bool]] = {}
_MAX_VERDICTS = 4096


def _verdict(rule: KeyRule, key: str) -> bool:
    if is_sensitive(key) or (not rule.personal and is_personal(key)):
        return False
    name = _normalise(key)
    listed = any(_normalise(term) in name for term in rule.terms if term)
    return listed if rule.mode == "allowlist" else not listed


# sentry_sdk's sizes for max_request_body_size. "always" still stops at Sentry's event size
# limit: a body that large could never be sent, and buffering it would only cost memory.
BODY_CAPS = {"never": 0, "small": 1_000, "medium": 10_000, "always": 1_000_000}
# A body not sent (or sent only up to a smaller cap) is still what the app parsed into its local
# variables: it is recorded up to this size anyway, to learn its secret fields, never attached.
LEARN_BODY_CAP = BODY_CAPS["medium"]


@dataclass(frozen=True, slots=True)
class Policy:
    """Everything the request data builder needs to know about consent."""

    user_info: bool
    headers: KeyRule
    cookies: KeyRule
    query: KeyRule
    bodies: bool
    max_request_body_size: str
    body_cap: int = field(init=False)  # how many body bytes to send; 0 sends none
    record_cap: int = field(init=False)  # how many to record: sent, or only searched for secrets

    def __post_init__(self) -> None:
        cap = BODY_CAPS.get(self.max_request_body_size, BODY_CAPS["medium"]) if self.bodies else 0
        object.__setattr__(self, "body_cap", cap)  # frozen: derived once, read per request
        object.__setattr__(self, "record_cap", max(cap, LEARN_BODY_CAP))


def _rule(raw: object, *, personal: bool) -> KeyRule:
    if not isinstance(raw, Mapping):
        return KeyRule("denylist", personal=personal)
    mode = raw.get("mode", "denylist")
    terms = tuple(str(term) for term in raw.get("terms") or ())
    if mode not in ("denylist", "allowlist", "off"):
        mode = "denylist"
    return KeyRule(mode, terms, personal=personal)


def resolve_policy(options: Mapping[str, Any]) -> Policy:
    """Resolve a client's options into a collection policy."""
    body_size = str(options.get("max_request_body_size") or "medium")
    collection = options.get("data_collection")
    if isinstance(collection, Mapping) and collection.get("provided_by_user", True):
        user_info = bool(collection.get("user_info", True))
        headers = collection.get("http_headers")
        header_rule = headers.get("request") if isinstance(headers, Mapping) else None
        bodies = collection.get("http_bodies")
        return Policy(
            user_info=user_info,
            headers=_rule(header_rule, personal=user_info),
            cookies=_rule(collection.get("cookies"), personal=user_info),
            query=_rule(collection.get("url_query_params"), personal=user_info),
            bodies=bodies is None or "incoming_request" in bodies,
            max_request_body_size=body_size,
        )
    # send_default_pii=True sends everything as received; without it nothing secret or personal.
    pii = bool(options.get("send_default_pii"))
    rule = KeyRule("all") if pii else KeyRule("denylist", personal=False)
    # Cookie values are opaque (session ids under any name): keep the names, never the values.
    cookies = rule if pii else KeyRule("allowlist", personal=False)
    return Policy(
        user_info=pii,
        headers=rule,
        cookies=cookies,
        query=rule,
        bodies=True,
        max_request_body_size=body_size,
    )


_last: tuple[Mapping[str, Any], Policy] | None = None  # one live client at a time


def policy_for(options: Mapping[str, Any]) -> Policy:
    """Return the policy for a client's options dict, resolving it once per dict."""
    global _last  # noqa: PLW0603 - the one-slot cache of the policy in use
    last = _last
    if last is not None and last[0] is options:
        return last[1]
    policy = resolve_policy(options)
    _VERDICTS.clear()  # the previous client's rules are gone with it
    _last = (options, policy)
    return policy
