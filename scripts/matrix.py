"""Rewrite the framework table in README.md from a JUnit report of the tagged framework tests.

Each test tagged ``matrix(framework, feature)`` carries a ``matrix`` property in the report.
A cell reads "yes" when every test behind it passed, "no" when any failed, and "n/a" when no
test stands behind it (the framework has no such feature).
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

FRAMEWORKS = {
    "starlette": "Starlette",
    "fastapi": "FastAPI",
    "litestar": "Litestar",
    "quart": "Quart",
    "django": "Django",
    "channels": "Django Channels",
    "falcon": "Falcon",
    "blacksheep": "BlackSheep",
}
FEATURES = ("errors", "route names", "user", "body", "websockets")
BEGIN = "<!-- framework-matrix:begin -->"
END = "<!-- framework-matrix:end -->"


def outcomes(report: Path) -> dict[tuple[str, str], list[str]]:
    """Per (framework, feature): each tagged test's outcome, plus any note it carries."""
    found: dict[tuple[str, str], list[str]] = {}
    root = ET.parse(report).getroot()  # noqa: S314 - our own report
    for case in root.iter("testcase"):
        tags = [p.get("value", "") for p in case.iter("property") if p.get("name") == "matrix"]
        failed = case.find("failure") is not None or case.find("error") is not None
        skipped = case.find("skipped") is not None
        outcome = "failed" if failed else "skipped" if skipped else "passed"
        for tag in tags:
            framework, feature, note = [*tag.split(":", 2), ""][:3]
            found.setdefault((framework, feature), []).append(outcome)
            if note:
                found[framework, feature].append(f"note:{note}")
    return found


def cell(results: list[str]) -> str:
    """Render one cell from the outcomes of the tests behind it."""
    runs = [r for r in results if not r.startswith("note:")]
    notes = sorted({r.removeprefix("note:") for r in results if r.startswith("note:")})
    if not runs or all(r == "skipped" for r in runs):
        return "n/a"
    if "failed" in runs:
        return "**no**"
    return "yes" + "".join(f" ({note})" for note in notes)


def table(found: dict[tuple[str, str], list[str]]) -> str:
    """The Markdown table, one row per framework."""
    lines = [
        "| framework | " + " | ".join(FEATURES) + " |",
        "|---" * (len(FEATURES) + 1) + "|",
    ]
    for key, name in FRAMEWORKS.items():
        cells = [cell(found.get((key, feature), [])) for feature in FEATURES]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(report: str, readme: str) -> None:
    """Replace what lies between the README's markers with the table."""
    path = Path(readme)
    text = path.read_text(encoding="utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    path.write_text(f"{text[:start]}\n{table(outcomes(Path(report)))}\n{text[end:]}", "utf-8")
    print(f"{readme}: framework table rewritten from {report}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
