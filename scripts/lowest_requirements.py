"""Print the requirements of the lowest run: the oldest releases the project supports.

That is the lowest sentry-sdk of the runtime range and the oldest release of each framework that
``tests/oldest-releases.txt`` names, with the test extra's other pins (test tools, servers) kept.
The newest releases are what the test extra pins, and what the main run uses.
"""

from __future__ import annotations

import re
import sys
from importlib.metadata import requires
from pathlib import Path

from packaging.requirements import Requirement  # pytest's own dependency

ROOT = Path(__file__).resolve().parent.parent
_NAME = re.compile(r"^[A-Za-z0-9._-]+")
_TEST_EXTRA = re.compile(r"""extra\s*==\s*["']test["']""")


def _name(requirement: str) -> str:
    """A requirement's project name, normalised as PyPI compares names."""
    match = _NAME.match(requirement.strip())
    if match is None:
        message = f"not a requirement: {requirement!r}"
        raise ValueError(message)
    return re.sub(r"[-_.]+", "-", match.group()).lower()


def _applies_here(requirement: str) -> bool:
    """Whether a test extra's requirement holds on this Python (a pin may name the releases)."""
    marker = Requirement(requirement).marker
    return marker is None or marker.evaluate({"extra": "test"})


def lowest_sdk(dependencies: list[str]) -> str:
    """The lower bound of the sentry-sdk range, as an exact pin."""
    for requirement in dependencies:
        found = re.fullmatch(
            r"sentry-sdk(?:<\d+,)?>=([0-9.]+)(?:,<\d+)?", requirement.replace(" ", "")
        )
        if found:
            return f"sentry-sdk=={found.group(1)}"
    message = "sentry-asgi has no sentry-sdk>=X,<Y dependency"
    raise ValueError(message)


def oldest_releases(path: Path) -> dict[str, str]:
    """The oldest release of each framework the suite checks, by project name."""
    lines = (line.partition("#")[0].strip() for line in path.read_text().splitlines())
    return {_name(line): line for line in lines if line}


def requirements(oldest: Path) -> list[str]:
    """The test extra with the oldest releases in place of the newest, and the lowest sentry-sdk.

    Read from the installed project's metadata (``scripts/install`` has just installed it).
    """
    declared = requires("sentry-asgi") or []
    runtime = [r for r in declared if ";" not in r]
    pinned = [
        r.partition(";")[0].strip() for r in declared if _TEST_EXTRA.search(r) and _applies_here(r)
    ]
    replacing = oldest_releases(oldest)
    kept = [replacing.pop(_name(r), r) for r in pinned]
    return [*kept, *replacing.values(), lowest_sdk(runtime)]


def main() -> None:
    """Print one requirement per line, for ``pip install -r``."""
    found = requirements(ROOT / "tests" / "oldest-releases.txt")
    sys.stdout.write("".join(f"{line}\n" for line in found))


if __name__ == "__main__":
    main()
