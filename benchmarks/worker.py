"""One variant in one process: timed batches on request, a memory run, or a served app.

sentry_sdk and OpenTelemetry keep global state, so no two variants ever share an interpreter.
Results go to stdout as one JSON object per line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import gc
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import apps
import variants

if TYPE_CHECKING:
    from collections.abc import Callable


class SuspendedError(RuntimeError):
    """The app awaited something that really blocks; the in-process driver cannot time that."""


def make_request_runner(app: Any, *, failing: bool) -> Callable[[], None]:
    """Return a runner of one request in a fresh context, as a server's per-request task."""
    scope_template, receive, send = apps.SCOPE, apps.receive, apps.send
    copy_context = contextvars.copy_context
    expected = apps.Boom if failing else StopIteration

    def run_one() -> None:
        coro = app(dict(scope_template), receive, send)
        try:
            copy_context().run(coro.send, None)
        except expected:
            return
        except StopIteration:
            msg = "the failing app did not raise"
            raise AssertionError(msg) from None
        coro.close()
        raise SuspendedError

    return run_one


async def batch(
    run_one: Callable[[], None], finish: Callable[[], None], n: int
) -> tuple[float, float]:
    """Return wall and CPU seconds for n requests plus the deferred work they caused.

    CPU time is the process's, all threads: it counts the SDK's background serialisation but not
    the time other processes on the machine held the cores.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        run_one()
    finish()
    return time.perf_counter() - wall, time.process_time() - cpu


def serve_commands(variant: variants.Variant) -> None:
    """Answer timing commands from the orchestrator until stdin closes."""
    app, finish = variants.build(variant)
    run_one = make_request_runner(app, failing=variant.failing)
    loop = asyncio.new_event_loop()
    for line in sys.stdin:
        command = json.loads(line)
        wall, cpu = loop.run_until_complete(batch(run_one, finish, command["n"]))
        _reply({"seconds": wall, "cpu_seconds": cpu, "n": command["n"], "sent": _sent(variant)})
    loop.close()


def measure_memory(variant: variants.Variant, n: int) -> None:
    """Report RSS and live objects before and after n requests, after a warm-up."""
    app, finish = variants.build(variant)
    run_one = make_request_runner(app, failing=variant.failing)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(batch(run_one, finish, min(n, 1000)))
    before = _memory()
    loop.run_until_complete(batch(run_one, finish, n))
    after = _settled_memory()
    loop.close()
    _reply({"n": n, "before": before, "after": after})


def _memory() -> dict[str, int]:
    gc.collect()
    return {"rss_kib": _rss_kib(), "objects": len(gc.get_objects())}


def _settled_memory() -> dict[str, int]:
    """Memory once the SDK's background threads are done sending what they had built.

    sentry_sdk's span batcher sends from a thread of its own: a flush can return while that
    thread still holds envelopes it built (one per trace), garbage a moment later.
    """
    memory = _memory()
    for _ in range(50):
        time.sleep(0.1)
        again = _memory()
        if again["objects"] == memory["objects"]:
            return again
        memory = again
    return memory


def _rss_kib() -> int:
    with Path("/proc/self/status").open(encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def serve_http(variant: variants.Variant) -> None:
    """Serve the variant with uvicorn on a free loopback port, printed once it is bound."""
    import socket

    import uvicorn

    app, _ = variants.build(variant)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    # The apps speak HTTP only: lifespan is outside what is measured, so the server skips it.
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    _reply({"port": sock.getsockname()[1], "loop": config.loop, "http": config.http})
    server.run(sockets=[sock])


def _sent(variant: variants.Variant) -> dict[str, Any] | None:
    if not variant.mode:
        return None
    from transport import SerializingTransport

    return SerializingTransport.stats()


def _reply(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("variant", choices=variants.BY_NAME)
    parser.add_argument("--memory", type=int, metavar="N", help="measure memory over N requests")
    parser.add_argument("--serve", action="store_true", help="serve over HTTP with uvicorn")
    parser.add_argument("--check", action="store_true", help="only build the variant")
    args = parser.parse_args()
    variant = variants.BY_NAME[args.variant]
    if args.check:
        variants.build(variant)
        _reply({"ok": True})
    elif args.serve:
        serve_http(variant)
    elif args.memory:
        measure_memory(variant, args.memory)
    else:
        serve_commands(variant)


if __name__ == "__main__":
    main()
