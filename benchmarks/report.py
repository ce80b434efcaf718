"""Derived numbers (overheads, ratios, targets) and the Markdown rendering of a result."""

from __future__ import annotations

from typing import Any

import variants

# (what, our variant, the reference, the largest allowed ratio of our overhead to the
# reference's, the variant standing for the least any middleware sending through sentry_sdk pays)
OVERHEAD_TARGETS = [
    ("tracing off, vs sentry_sdk", "ours-off", "sdk-off", 0.1, "isolation_scope"),
    ("tracing off, vs one bare isolation_scope()", "ours-off", "isolation_scope", 2.0, None),
    (
        "traces_sample_rate=0.0, vs sentry_sdk",
        "ours-unsampled",
        "sdk-unsampled",
        0.1,
        "isolation_scope",
    ),
    (
        "sampled, transaction lifecycle, vs sentry_sdk",
        "ours-sampled",
        "sdk-sampled",
        0.5,
        "floor-sampled",
    ),
    ("sampled, stream lifecycle, vs sentry_sdk", "ours-stream", "sdk-stream", 0.5, "floor-stream"),
    ("error path, vs sentry_sdk", "ours-error", "sdk-error", 1.0, "floor-error"),
]
SERVER_TARGET = ("uvicorn throughput, tracing off, vs bare app", "ours-off", 0.75, "isolation_held")


def derive(timings: dict[str, Any]) -> None:
    """Add the overhead and the ratios to the bare app and to sentry_sdk to every timed variant."""
    for name, row in timings.items():
        base = timings.get(variants.BY_NAME[name].baseline)
        row["overhead_us"] = row["median_us"] - base["median_us"] if base else None
        row["x_bare"] = row["median_us"] / base["median_us"] if base else None
    for name, row in timings.items():
        variant = variants.BY_NAME[name]
        peer = timings.get(variant.peer) if variant.peer else None
        if peer and row["overhead_us"] is not None and peer.get("overhead_us"):
            row["overhead_vs_sentry_sdk"] = row["overhead_us"] / peer["overhead_us"]
        else:
            row["overhead_vs_sentry_sdk"] = None


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with what was measured; a variant that could not run counts as not met."""
    timings = result["inprocess"]["variants"]

    def overhead_ratio(variant: str | None, reference: str) -> float | None:
        mine, theirs = timings.get(variant or ""), timings.get(reference)
        return mine["overhead_us"] / theirs["overhead_us"] if mine and theirs else None

    rows = [
        _target(
            what, overhead_ratio(ours, reference), limit, "<=", overhead_ratio(floor, reference)
        )
        for what, ours, reference, limit, floor in OVERHEAD_TARGETS
    ]
    server = result.get("server", {}).get("variants", {})
    what, ours, limit, floor = SERVER_TARGET

    def throughput(variant: str) -> float | None:
        return server[variant]["x_bare"] if variant in server else None

    rows.append(_target(what, throughput(ours), limit, ">=", throughput(floor)))
    return rows


def _target(
    what: str, ratio: float | None, limit: float, sense: str, floor: float | None
) -> dict[str, Any]:
    met = ratio is not None and (ratio <= limit if sense == "<=" else ratio >= limit)
    return {
        "what": what,
        "measured": ratio,
        "target": f"{sense} {limit:g}",
        "met": met,
        "floor": floor,
    }


def markdown(result: dict[str, Any]) -> str:
    """Render the whole result as Markdown tables, ready for the README."""
    meta = result["meta"]
    parts = [
        f"Machine: {meta['cpu']}, {meta['cores']} cores, Python {meta['python']}. "
        + ", ".join(f"{name} {version}" for name, version in meta["versions"].items())
        + ".",
        "",
        _inprocess_table(result["inprocess"]),
        "",
        _targets_table(result["targets"]),
    ]
    if result.get("server"):
        parts += ["", _server_table(result["server"])]
    if result.get("memory"):
        parts += ["", _memory_table(result["memory"])]
    if result.get("unavailable"):
        parts += ["", "Not measured:"]
        parts += [f"- `{name}`: {why}" for name, why in result["unavailable"].items()]
    return "\n".join(parts) + "\n"


def _inprocess_table(inprocess: dict[str, Any]) -> str:
    rows = []
    for variant in variants.VARIANTS:
        row = inprocess["variants"].get(variant.name)
        if row is not None:
            rows.append(
                [
                    variant.label,
                    f"{row['median_us']:.2f}",
                    f"{row['min_us']:.2f}..{row['max_us']:.2f}",
                    _num(row["overhead_us"]),
                    _num(row["x_bare"], "x"),
                    _num(row["overhead_vs_sentry_sdk"], "ratio"),
                ]
            )
    return _table(
        f"In process, CPU µs per request (median of {inprocess['rounds']} interleaved batches,"
        " min..max); overhead is the variant minus the bare app (the raising app for error"
        " paths).",
        ["Variant", "µs/request", "min..max", "overhead µs", "x bare", "overhead ÷ sentry_sdk's"],
        rows,
    )


def _targets_table(rows: list[dict[str, Any]]) -> str:
    return _table(
        "Targets (ratio of our overhead to the reference's; for the server, of our throughput to"
        " the bare app's). Floor: the same ratio for the least a middleware sending through"
        " sentry_sdk can cost: one isolation_scope() per request, plus a transaction, a segment or"
        " a capture_exception with nothing attached; over uvicorn, the bare app run inside one"
        " isolation_scope():",
        ["Target", "measured", "wanted", "met", "floor"],
        [
            [
                row["what"],
                _num(row["measured"], "ratio"),
                row["target"],
                "yes" if row["met"] else "**no**",
                _num(row.get("floor"), "ratio"),
            ]
            for row in rows
        ],
        align=["---", "--:", "--:", ":-:", "--:"],
    )


def _server_table(server: dict[str, Any]) -> str:
    tool = server["load_generator"]
    note = "" if tool == "wrk" else " (wrk missing: the Python load generator bounds these numbers)"
    return _table(
        f"uvicorn, 1 worker, {tool}{note}, {server['connections']} connections over loopback,"
        f" {server['seconds']:g} s per run, median of {server['rounds']}:",
        ["Variant", "req/s", "x bare", "p50 ms", "p99 ms"],
        [
            [
                variants.BY_NAME[name].label,
                f"{row['rps']:,.0f}",
                f"{row['x_bare']:.3f}",
                f"{row['p50_ms']:.2f}",
                f"{row['p99_ms']:.2f}",
            ]
            for name, row in server["variants"].items()
        ],
    )


def _memory_table(memory: dict[str, Any]) -> str:
    rows = [
        [
            variant.label,
            f"{row['rss_after_kib']:,}",
            f"{row['rss_growth_kib']:,}",
            f"{row['objects_growth']:,}",
        ]
        for variant in variants.VARIANTS
        if (row := memory["variants"].get(variant.name)) is not None
    ]
    return _table(
        f"Memory after {memory['requests']:,} requests (after a warm-up, gc collected):",
        ["Variant", "RSS KiB", "RSS growth KiB", "live objects growth"],
        rows,
    )


def _table(
    caption: str, columns: list[str], rows: list[list[str]], align: list[str] | None = None
) -> str:
    """A Markdown table under its caption; the first column left-aligned, numbers right."""
    align = align or ["---"] + ["--:"] * (len(columns) - 1)
    lines = [caption, "", f"| {' | '.join(columns)} |", f"|{'|'.join(align)}|"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return "\n".join(lines)


def _num(value: float | None, kind: str = "us") -> str:
    if value is None:
        return "-"
    if kind == "x":
        return f"{value:.1f}"
    if kind == "ratio":
        return f"{value:.3f}"
    return f"{value:.2f}"
