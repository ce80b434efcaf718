"""The benchmark harness, run end to end in its smoke mode so that it cannot rot."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
SENTRY_MODES = ["off", "unsampled", "sampled", "stream", "error"]
EXPECTED = {
    "bare",
    "bare-error",
    "isolation_scope",
    "isolation_held",
    "ours-off-gc",
    "otel-api",
    "otel-sdk",
    "encode",
    "encode-error",
    "floor-sampled",
    "floor-stream",
    "floor-error",
    *(f"ours-{mode}" for mode in SENTRY_MODES),
    *(f"sdk-{mode}" for mode in SENTRY_MODES),
}
# What the server target needs: the bare app, ours with tracing off, and the isolation floor.
NEEDED_SERVED = {"bare", "ours-off", "isolation_held"}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [str(ROOT / "scripts" / "bench"), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def result(results: Path) -> dict[str, Any]:
    return json.loads((results / "latest.json").read_text(encoding="utf-8"))


def test_every_variant_is_timed(result):
    """Every in-process variant runs, with positive per-request times; none is left out."""
    timed = result["inprocess"]["variants"]
    assert result["unavailable"] == {}
    assert set(timed) == EXPECTED
    for row in timed.values():
        assert 0 < row["min_us"] <= row["median_us"] <= row["max_us"]


def test_middlewares_cost_more_than_the_bare_app(result):
    """Each wrapped variant shows a positive overhead over its baseline."""
    timed = result["inprocess"]["variants"]
    for name in EXPECTED - {"bare", "bare-error"}:
        assert timed[name]["overhead_us"] > 0, name


def test_sentry_variants_send_what_their_mode_promises(result):
    """Sampled requests send a transaction or spans, errors an event, tracing off no trace."""
    timed = result["inprocess"]["variants"]
    for prefix in ("ours", "sdk", "floor"):
        if prefix != "floor":
            assert "transaction" not in timed[f"{prefix}-off"]["sent_per_request"]
        assert timed[f"{prefix}-sampled"]["sent_per_request"]["transaction"] == 1
        assert timed[f"{prefix}-stream"]["sent_per_request"]["span"] >= 1
        assert timed[f"{prefix}-error"]["sent_per_request"]["event"] == 1


def test_server_and_memory_cover_their_variants(result):
    """The uvicorn runs report throughput and latency; memory covers every timed variant."""
    served = result["server"]["variants"]
    assert NEEDED_SERVED <= set(served) <= EXPECTED
    for row in served.values():
        assert row["rps"] > 0
        assert 0 < row["p50_ms"] <= row["p99_ms"]
    assert set(result["memory"]["variants"]) == EXPECTED


def test_report_renders(results, result):
    """The Markdown has the tables and a row per variant; the chart is a PNG."""
    table = (results / "latest.md").read_text(encoding="utf-8")
    assert "| Variant | µs/request |" in table
    assert "| Target | measured | wanted | met | floor |" in table
    assert table.count("\n| ") >= len(EXPECTED) + len(result["server"]["variants"]) + len(
        result["targets"]
    )
    assert (results / "latest.png").read_bytes().startswith(b"\x89PNG")
