"""Where a variant spends its time per request, by cProfile.

    .cache/bench/venv/bin/python benchmarks/hotspots.py ours-off [-n 20000] [--top 25]

Times are per request, so they read directly against the in-process table; cProfile's own cost
inflates them all alike.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats

import variants
import worker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("variant", choices=variants.BY_NAME)
    parser.add_argument("-n", type=int, default=20_000, help="requests to profile")
    parser.add_argument("--top", type=int, default=25, help="functions to list")
    parser.add_argument("--cumulative", action="store_true", help="sort by time including callees")
    args = parser.parse_args()
    variant = variants.BY_NAME[args.variant]
    app, finish = variants.build(variant)
    run_one = worker.make_request_runner(app, failing=variant.failing)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(worker.batch(run_one, finish, 1000))  # warm-up, not profiled
    profiler = cProfile.Profile()
    profiler.enable()
    loop.run_until_complete(worker.batch(run_one, finish, args.n))
    profiler.disable()
    loop.close()
    stats = pstats.Stats(profiler)
    _print(stats, args.n, args.top, by=3 if args.cumulative else 2)


def _print(stats: pstats.Stats, n: int, top: int, by: int) -> None:
    """List functions by own (by=2) or cumulative (by=3) time, in µs per request."""
    rows = sorted(stats.stats.items(), key=lambda item: item[1][by], reverse=True)
    total = sum(row[1][2] for row in rows)  # own times add up to the whole
    print(f"{total / n * 1e6:.2f} µs per request under cProfile, {n:,} requests\n")
    print(f"{'own µs':>8} {'cum µs':>8} {'calls':>6}  function")
    for (filename, line, name), (_, calls, own, cumulative, _) in rows[:top]:
        where = filename.rsplit("site-packages/", 1)[-1].rsplit("src/", 1)[-1]
        per_request = f"{own / n * 1e6:8.2f} {cumulative / n * 1e6:8.2f} {calls / n:6.1f}"
        print(f"{per_request}  {where}:{line} {name}")


if __name__ == "__main__":
    main()
