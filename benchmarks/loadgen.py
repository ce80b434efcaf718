"""A small HTTP/1.1 keep-alive load generator, for machines without wrk.

It runs in Python on the same cores as the server, so it saturates well before wrk would: its
numbers compare variants with each other, not with wrk's.
"""

from __future__ import annotations

import asyncio
import statistics
import time


def run(
    port: int, path: str, headers: dict[str, str], connections: int, seconds: float
) -> dict[str, float]:
    """Return requests per second and latency percentiles, as wrk reports them."""
    return asyncio.run(_run(port, path, headers, connections, seconds))


async def _run(
    port: int, path: str, headers: dict[str, str], connections: int, seconds: float
) -> dict[str, float]:
    lines = [f"GET {path} HTTP/1.1", f"host: 127.0.0.1:{port}"]
    lines += [f"{key}: {value}" for key, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    latencies: list[float] = []
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(
        *(_connection(port, request, deadline, latencies) for _ in range(connections))
    )
    elapsed = time.perf_counter() - start
    cuts = statistics.quantiles(latencies, n=100)
    return {"rps": len(latencies) / elapsed, "p50_ms": cuts[49] * 1e3, "p99_ms": cuts[98] * 1e3}


async def _connection(port: int, request: bytes, deadline: float, latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while (sent := time.perf_counter()) < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                msg = f"unexpected response: {head[:40]!r}"
                raise RuntimeError(msg)
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - sent)
    finally:
        writer.close()
        await writer.wait_closed()
