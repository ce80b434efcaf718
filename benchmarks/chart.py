"""The chart of a result: overhead per request in process, and throughput over uvicorn."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import variants

if TYPE_CHECKING:
    from pathlib import Path

# Rows side by side per tracing mode, so each of ours sits next to what it is compared with.
ORDER = [
    "isolation_scope",
    "ours-off",
    "encode",
    "sdk-off",
    "otel-api",
    "otel-sdk",
    "ours-unsampled",
    "sdk-unsampled",
    "floor-sampled",
    "ours-sampled",
    "sdk-sampled",
    "floor-stream",
    "ours-stream",
    "sdk-stream",
    "floor-error",
    "ours-error",
    "encode-error",
    "sdk-error",
]
SHORT = {
    "ours": "sentry-asgi",
    "sentry_sdk": "sentry_sdk",
    "encode": "encode 0.2",
    "floor": "sentry_sdk pipeline only",
}
MODES = {
    "off": "tracing off",
    "unsampled": "rate 0.0",
    "sampled": "sampled",
    "stream": "sampled, stream",
    "error": "error",
}
COLORS = {
    "ours": "#2a9d8f",
    "baseline": "#8d99ae",
    "floor": "#adb5bd",
    "sentry_sdk": "#e76f51",
    "otel": "#6c5ce7",
    "encode": "#f4a261",
}


def draw(result: dict[str, Any], path: Path) -> None:
    """Write the PNG; matplotlib is imported here so that the rest runs without it."""
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    timings = result["inprocess"]["variants"]
    rows = [
        variants.BY_NAME[name]
        for name in ORDER
        if name in timings and timings[name]["overhead_us"] > 0
    ]
    server = result.get("server", {}).get("variants", {})
    fig, (left, right) = plt.subplots(
        2, 1, figsize=(10, 10), gridspec_kw={"height_ratios": [3, 1.2]}, layout="constrained"
    )

    labels = [short(v) for v in rows][::-1]
    values = [timings[v.name]["overhead_us"] for v in rows][::-1]
    colors = [COLORS[v.group] for v in rows][::-1]
    bars = left.barh(labels, values, color=colors)
    left.set_xscale("log")
    left.set_xlabel("overhead per request, µs (log scale; lower is better)")
    left.set_title("In process: cost added to one request")
    for bar, value in zip(bars, values, strict=True):
        left.text(value * 1.08, bar.get_y() + bar.get_height() / 2, f"{value:.1f}", va="center")
    left.set_xlim(right=max(values) * 4)
    left.tick_params(axis="y", labelsize=9)

    names = list(server)[::-1]
    ratios = [server[name]["x_bare"] for name in names]
    bars = right.barh(
        [short(variants.BY_NAME[name]) for name in names],
        ratios,
        color=[COLORS[variants.BY_NAME[name].group] for name in names],
    )
    for bar, name in zip(bars, names, strict=True):
        text = f"{server[name]['x_bare']:.2f} ({server[name]['rps']:,.0f} req/s)"
        right.text(bar.get_width() + 0.02, bar.get_y() + bar.get_height() / 2, text, va="center")
    right.axvline(0.75, color="#555", linestyle="--", linewidth=1)
    right.set_xlim(0, 1.4)
    right.set_xlabel("throughput relative to the bare app (higher is better)")
    right.set_title("Over uvicorn (1 worker, wrk on loopback): throughput; dashed: 0.75")
    right.tick_params(axis="y", labelsize=9)

    meta = result["meta"]
    versions = ", ".join(f"{name} {version}" for name, version in meta["versions"].items())
    fig.suptitle("sentry-asgi against the other ASGI middlewares", fontsize=14)
    fig.supxlabel(
        f"{meta['cpu']}, {meta['cores']} cores, Python {meta['python']}\n{versions}", fontsize=8
    )
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def short(variant: variants.Variant) -> str:
    """Return a label that fits beside a bar."""
    if variant.group == "otel":
        return variant.label.replace(" ASGI", "")
    if variant.group == "baseline":
        return {
            "bare": "bare app",
            "isolation_scope": "one isolation_scope()",
            "isolation_held": "isolation_scope() held",
        }[variant.name]
    label = f"{SHORT[variant.group]}, {MODES[variant.mode]}"
    return f"{label}, gc relaxed" if variant.gc_threshold else label
