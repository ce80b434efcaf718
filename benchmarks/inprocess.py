"""Per-request cost in process: one worker per variant, batches interleaved round-robin.

Interleaving means drift of the machine (frequency, other load) hits every variant alike, and the
median over rounds discards the odd disturbed batch.
"""

from __future__ import annotations

import contextlib
import json
import random
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import variants

WORKER = Path(__file__).with_name("worker.py")


@dataclass
class Worker:
    """A live worker process for one variant, fed timing commands over stdin."""

    variant: variants.Variant
    process: subprocess.Popen[str]
    n: int = 0
    cpu_per_request: list[float] = field(default_factory=list)
    wall_per_request: list[float] = field(default_factory=list)
    sent: dict[str, Any] | None = None
    requests: int = 0

    def run(self, n: int) -> float:
        """Run one batch of n; return its wall seconds per request, keep CPU and wall time."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        try:
            self.process.stdin.write(json.dumps({"n": n}) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        except BrokenPipeError:
            line = ""
        if not line:
            msg = f"{self.variant.name} died: {_stderr_tail(self.process)}"
            raise RuntimeError(msg)
        reply = json.loads(line)
        self.sent = reply["sent"]
        self.requests += n
        self.cpu_per_request.append(reply["cpu_seconds"] / n)
        self.wall_per_request.append(reply["seconds"] / n)
        return reply["seconds"] / n

    def close(self) -> None:
        """End the worker: it exits when its stdin closes."""
        if self.process.stdin:
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start(variant: variants.Variant, python: str) -> subprocess.Popen[str]:
    """Start the worker of one variant."""
    return subprocess.Popen(
        [python, str(WORKER), variant.name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stderr_tail(process: subprocess.Popen[str]) -> str:
    process.kill()
    _, err = process.communicate()
    lines = [line for line in err.splitlines() if line.strip()]
    return lines[-1] if lines else f"exit code {process.returncode}"


def measure(
    pythons: dict[str, str], *, rounds: int, batch_seconds: float, smoke_n: int | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """Time every variant that can be built; also return why the others could not be."""
    unavailable: dict[str, str] = {}
    workers: list[Worker] = []
    for variant in variants.VARIANTS:
        if variant.env not in pythons:
            unavailable[variant.name] = f"no interpreter for the {variant.env} environment"
            continue
        workers.append(Worker(variant, start(variant, pythons[variant.env])))
    try:
        # The first batch warms every cache and sizes the batches to about batch_seconds each.
        for worker in list(workers):
            try:
                per_request = worker.run(smoke_n or 200)
            except RuntimeError as exc:
                unavailable[worker.variant.name] = str(exc).split(": ", 1)[1]
                workers.remove(worker)
                continue
            worker.n = smoke_n or max(20, round(batch_seconds / per_request))
        shuffle = random.Random(0)  # noqa: S311 - an order, not a secret
        for _ in range(rounds):
            order = workers[:]
            shuffle.shuffle(order)
            for worker in order:
                worker.run(worker.n)
    finally:
        for worker in workers:
            worker.close()
    return {worker.variant.name: _summary(worker) for worker in workers}, unavailable


def _summary(worker: Worker) -> dict[str, Any]:
    # The first batch sized the others and warmed the caches: it is not a sample.
    samples = [seconds * 1e6 for seconds in worker.cpu_per_request[1:]]
    wall = [seconds * 1e6 for seconds in worker.wall_per_request[1:]]
    sent = worker.sent or {}
    return {
        "median_us": statistics.median(samples),
        "min_us": min(samples),
        "max_us": max(samples),
        "samples_us": samples,
        "wall_median_us": statistics.median(wall),
        "wall_samples_us": wall,
        "batch": worker.n,
        "requests": worker.requests,
        "sent_per_request": {
            kind: count / worker.requests for kind, count in sent.get("items", {}).items()
        },
        "bytes_per_request": sent.get("bytes", 0) / worker.requests,
    }
