"""What README.md and SECURITY.md promise, checked against the code and the installed sentry_sdk."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from sentry_sdk.consts import ClientConstructor

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(text: str, title: str) -> str:
    """The body of one ``## title`` section."""
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def init_options_named_in_readme() -> set[str]:
    """Every sentry_sdk.init option the README's examples pass or its Options section names."""
    names = set()
    for call in re.findall(r"sentry_sdk\.init\(([^)]*)\)", README):
        names.update(re.findall(r"(\w+)=", call))
    listed = README.split("Everything else comes from `sentry_sdk.init`:", 1)[1].split("\n\n")[0]
    names.update(re.findall(r"`([a-z_]+)(?:=[^`]*)?`", listed))
    return names


def test_init_options_the_installed_sdk_lacks_are_named_with_their_release():
    """An option this sentry_sdk does not accept is listed under Compatibility with its release."""
    accepted = set(inspect.signature(ClientConstructor.__init__).parameters)
    compatibility = section(README, "Compatibility")
    missing = sorted(init_options_named_in_readme() - accepted)
    unexplained = [
        name for name in missing if not re.search(rf"`{name}`[^.]*?\b2\.\d+", compatibility)
    ]
    assert unexplained == []
