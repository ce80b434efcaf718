"""Runs every benchmark and writes benchmarks/results/latest.{json,md,png}.

    python benchmarks/run.py [--smoke] [--out DIR] [--encode-python PATH]

scripts/bench builds the environments this needs and calls it; --smoke is the quick pass the test
suite runs so that the harness keeps working.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import inprocess
import memory
import report
import server
import variants

ROOT = Path(__file__).resolve().parent.parent
FULL = {"rounds": 20, "batch_seconds": 0.25, "smoke_n": None}
SMOKE = {"rounds": 3, "batch_seconds": 0.0, "smoke_n": 100}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a few hundred requests per variant")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--encode-python", help="interpreter with encode/sentry-asgi 0.2 installed")
    args = parser.parse_args()

    pythons = {"main": sys.executable}
    if args.encode_python:
        pythons["encode"] = args.encode_python
    result: dict[str, Any] = {"meta": machine(pythons, smoke=args.smoke)}

    _say("in process: every variant, interleaved rounds")
    timings, unavailable = inprocess.measure(pythons, **(SMOKE if args.smoke else FULL))
    result["inprocess"] = {"rounds": (SMOKE if args.smoke else FULL)["rounds"], "variants": timings}
    result["unavailable"] = unavailable
    report.derive(timings)

    _say(f"over uvicorn, load generator: {server.load_generator()}")
    names = [name for name in variants.SERVER_VARIANTS if name in timings]
    result["server"] = server.measure(
        sys.executable,
        names,
        rounds=1 if args.smoke else 3,
        seconds=1 if args.smoke else 5,
        warmup=0 if args.smoke else 1,
    )

    requests = 300 if args.smoke else 100_000
    _say(f"memory over {requests:,} requests per variant")
    result["memory"] = memory.measure(pythons, list(timings), requests)
    result["targets"] = report.targets(result)
    write(result, args.out)
    if not args.smoke:
        update_readme(report.markdown(result))


README = Path(__file__).parent.parent / "README.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def update_readme(table: str) -> None:
    """Put a full run's tables into the README, between its markers, so the two never disagree."""
    text = README.read_text(encoding="utf-8")
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    if not tail:
        return
    README.write_text(
        f"{head}{BEGIN}\nLast full run. {table.strip()}\n{END}{tail}", encoding="utf-8"
    )


def write(result: dict[str, Any], out: Path) -> None:
    """Write the JSON, the Markdown and, when matplotlib is there, the chart."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    table = report.markdown(result)
    (out / "latest.md").write_text(table, encoding="utf-8")
    try:
        import chart

        chart.draw(result, out / "latest.png")
    except ImportError:
        _say("matplotlib is not installed: no chart")
    print(table)


def machine(pythons: dict[str, str], *, smoke: bool) -> dict[str, Any]:
    """Describe what the numbers were measured on, and with which versions."""
    cpu = platform.processor() or platform.machine()
    with Path("/proc/cpuinfo").open(encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {"sentry-asgi": _ours_version()}
    for package in (
        "sentry-sdk",
        "opentelemetry-sdk",
        "opentelemetry-instrumentation-asgi",
        "uvicorn",
        "uvloop",
        "httptools",
    ):
        versions[package] = _version(package)
    if "encode" in pythons:
        versions["encode/sentry-asgi"] = _run(
            [pythons["encode"], "-c", "import sentry_asgi; print(sentry_asgi.__version__)"]
        )
    if server.load_generator() == "wrk":
        versions["wrk"] = _run(["wrk", "--version"]).split()[1]
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "versions": versions,
        "smoke": smoke,
    }


def _ours_version() -> str:
    try:
        import sentry_asgi
    except ImportError:
        return "not installed"
    commit = _run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    return f"{sentry_asgi.__version__} ({commit})" if commit else sentry_asgi.__version__


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _run(command: list[str]) -> str:
    """Return the first line a command prints (wrk --version exits 1), or "" if it cannot run."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return ""
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else ""


def _say(message: str) -> None:
    print(f"== {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
