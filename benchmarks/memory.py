"""Memory held after many requests: RSS and live objects, each variant in a fresh process.

A middleware that keeps something per request shows it here as growth proportional to the count.
Timing does not matter, so two variants run at once.
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import variants

WORKER = Path(__file__).with_name("worker.py")


def measure(pythons: dict[str, str], names: list[str], n: int) -> dict[str, Any]:
    """Return the growth of RSS and of the live-object count over n requests, per variant."""

    def one(name: str) -> tuple[str, dict[str, Any]]:
        python = pythons[variants.BY_NAME[name].env]
        done = subprocess.run(
            [python, str(WORKER), name, "--memory", str(n)],
            capture_output=True,
            text=True,
            check=True,
            timeout=1800,
        )
        reply = json.loads(done.stdout.splitlines()[-1])
        before, after = reply["before"], reply["after"]
        return name, {
            "rss_before_kib": before["rss_kib"],
            "rss_after_kib": after["rss_kib"],
            "rss_growth_kib": after["rss_kib"] - before["rss_kib"],
            "objects_growth": after["objects"] - before["objects"],
        }

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(pool.map(one, names))
    return {"requests": n, "variants": results}
