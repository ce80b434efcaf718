"""Throughput over a real server: uvicorn with one worker, loaded over loopback.

Each variant is served in turn, in interleaved rounds, by a fresh uvicorn process on a free port;
every server is stopped before the next starts.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import apps
import loadgen

WORKER = Path(__file__).with_name("worker.py")
CONNECTIONS = 32
# The request the load generator sends: the in-process request's headers, as a GET.
URL_PATH = f"{apps.PATH}?{apps.QUERY.decode()}"
HEADERS = {
    key.decode(): value.decode()
    for key, value in apps.HEADERS
    if key not in (b"host", b"content-length", b"content-type")
}


def load_generator() -> str:
    """Pick wrk when it is installed, else the small Python one (which then bounds the numbers)."""
    return "wrk" if shutil.which("wrk") else "python"


def measure(
    python: str, names: list[str], *, rounds: int, seconds: int, warmup: int
) -> dict[str, Any]:
    """Measure requests per second and latency percentiles of each variant; "bare" must be one."""
    tool = load_generator()
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    shuffle = random.Random(1)  # noqa: S311 - an order, not a secret
    for _ in range(rounds):
        order = list(runs)
        shuffle.shuffle(order)
        for name in order:
            with _served(python, name) as port:
                if warmup:
                    _load(tool, port, warmup)
                runs[name].append(_load(tool, port, seconds))
    bare_rps = statistics.median(run["rps"] for run in runs["bare"])
    results = {}
    for name, samples in runs.items():
        rps = statistics.median(run["rps"] for run in samples)
        results[name] = {
            "rps": rps,
            "rps_samples": [run["rps"] for run in samples],
            "p50_ms": statistics.median(run["p50_ms"] for run in samples),
            "p99_ms": statistics.median(run["p99_ms"] for run in samples),
            "x_bare": rps / bare_rps,
        }
    return {
        "load_generator": tool,
        "connections": CONNECTIONS,
        "seconds": seconds,
        "rounds": rounds,
        "variants": results,
    }


class _served:  # noqa: N801 - used as a context manager, reads like one
    """A uvicorn process serving one variant; stopped on exit, whatever happened."""

    def __init__(self, python: str, name: str) -> None:
        self.command = [python, str(WORKER), name, "--serve"]
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> int:
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            _, err = self.process.communicate()
            msg = f"server {self.command} did not start: {err.strip()[-500:]}"
            raise RuntimeError(msg)
        port = int(json.loads(line)["port"])
        _wait_listening(port)
        return port

    def __exit__(self, *exc_info: object) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _wait_listening(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            msg = f"nothing listens on 127.0.0.1:{port} after {timeout} s"
            raise TimeoutError(msg)
        time.sleep(0.05)


def _load(tool: str, port: int, seconds: int) -> dict[str, float]:
    url = f"http://127.0.0.1:{port}{URL_PATH}"
    if tool == "python":
        return loadgen.run(port, URL_PATH, HEADERS, CONNECTIONS, seconds)
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    for key, value in HEADERS.items():
        command += ["-H", f"{key}: {value}"]
    output = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=seconds + 30
    ).stdout
    return parse_wrk(output)


_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def parse_wrk(output: str) -> dict[str, float]:
    """Parse requests per second and the 50th/99th latency percentiles from wrk --latency."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if rps is None or errors is not None:
        msg = f"wrk failed or saw errors:\n{output}"
        raise RuntimeError(msg)
    percentiles = {
        int(share): float(value) * _UNITS_MS[unit]
        for share, value, unit in re.findall(
            r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)$", output, re.MULTILINE
        )
    }
    return {"rps": float(rps.group(1)), "p50_ms": percentiles[50], "p99_ms": percentiles[99]}
