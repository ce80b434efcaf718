"""The ``sentry-asgi`` command: the local inbox, and any ASGI app run under SentryMiddleware.

Installed with the ``cli`` extra. Without it, `main` says how to install it instead of failing
with a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import signal
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sentry_asgi.inbox._server import InboxServer

_INSTALL = 'The sentry-asgi command needs its extra: pip install "sentry-asgi[cli]"'
_APP_VARIABLE = "SENTRY_ASGI_APP"  # how `run` tells uvicorn's worker processes which app to load
_FACTORY_VARIABLE = "SENTRY_ASGI_APP_FACTORY"  # and that it names a factory: "1" for --factory


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    try:
        import brotli  # type: ignore[import-untyped]  # noqa: F401, PLC0415
        import uvicorn  # noqa: F401, PLC0415
    except ImportError:
        print(_INSTALL, file=sys.stderr)  # noqa: T201
        return 1
    args = _parser().parse_args(argv)
    status: int = args.command(args)
    return status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sentry-asgi", description="Sentry for ASGI apps, with a local inbox for events."
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    inbox = commands.add_parser(
        "inbox", help="receive and show events on this machine: no account needed"
    )
    inbox.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    inbox.add_argument("--port", type=_port, default=8969, help="port to listen on (8969)")
    inbox.add_argument("--db", default="sentry-inbox.sqlite3", help="SQLite file, or :memory:")
    inbox.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        type=_host_name,
        metavar="NAME",
        help="a host name to answer to beyond its addresses, localhost and this machine's names"
        " (a container's name, say); repeatable; '*' answers to any, DNS rebinding included",
    )
    inbox.set_defaults(command=_inbox)

    run = commands.add_parser("run", help="run an ASGI app under SentryMiddleware")
    run.add_argument("app", help="the app to run, as module:attribute")
    run.add_argument("--host", default="127.0.0.1", help="address for the app (127.0.0.1)")
    run.add_argument("--port", type=_port, default=8000, help="port for the app (8000)")
    run.add_argument("--reload", action="store_true", help="restart when the code changes")
    run.add_argument("--workers", type=int, default=None, help="worker processes (1)")
    run.add_argument("--app-dir", default=".", help="where to import the app from (.)")
    run.add_argument(
        "--factory", action="store_true", help="the app is a function that returns the app"
    )
    run.add_argument(
        "--inbox-port", type=_port, default=8969, help="port of the inbox, when SENTRY_DSN is unset"
    )
    run.add_argument("--inbox-db", default=":memory:", help="SQLite file of that inbox")
    run.set_defaults(command=_run)
    return parser


def _port(text: str) -> int:
    port = _number(text)
    if not 0 <= port <= 65535:
        msg = f"{text!r} is not a port: use 0 to 65535 (0 picks a free one)"
        raise argparse.ArgumentTypeError(msg)
    return port


def _host_name(text: str) -> str:
    from sentry_asgi.inbox._hosts import checked_name  # noqa: PLC0415 - needs the extra

    try:
        return checked_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        msg = f"{text!r} is not a whole number"
        raise argparse.ArgumentTypeError(msg) from None


def _inbox(args: argparse.Namespace) -> int:
    from sentry_asgi.inbox._server import InboxServer  # noqa: PLC0415 - needs the extra

    try:
        server = InboxServer(args.host, args.port, args.db, args.allowed_host)
    except (OSError, sqlite3.Error) as exc:
        print(f"sentry-asgi inbox: {_why_not(exc, args.host, args.port)}")  # noqa: T201
        return 1
    print(server.banner(), flush=True)  # noqa: T201
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl+C after shutdown
        server.serve()
    return 0


def _run(args: argparse.Namespace) -> int:
    import uvicorn  # noqa: PLC0415 - needs the extra

    try:
        _traces_sample_rate()
        _check_dsn()
    except ValueError as exc:
        print(f"sentry-asgi run: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    try:
        inbox = None if os.environ.get("SENTRY_DSN") else _start_inbox(args)
    except (OSError, sqlite3.Error) as exc:
        why = _why_not(exc, "127.0.0.1", args.inbox_port)
        print(f"sentry-asgi run: the inbox {why}", file=sys.stderr)  # noqa: T201
        return 1
    os.environ[_APP_VARIABLE] = args.app
    os.environ[_FACTORY_VARIABLE] = "1" if args.factory else ""
    app_dir = str(Path(args.app_dir).resolve())
    sys.path.insert(0, app_dir)  # worker and reload processes are spawned with this sys.path
    terminated = False
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        uvicorn.run(
            "sentry_asgi._cli:load_app",
            factory=True,
            host=args.host,
            port=args.port,
            reload=args.reload,
            workers=args.workers,
            app_dir=app_dir,
        )
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl+C once it has shut down cleanly
        pass
    except _Terminated:
        terminated = True
    finally:
        signal.signal(signal.SIGTERM, previous)
        _send_the_last_events(inbox)
    if terminated:  # end as uvicorn ends on SIGTERM, by the signal: only later
        signal.raise_signal(signal.SIGTERM)
    return 0


class _Terminated(BaseException):
    """SIGTERM: uvicorn sends it again once it has shut down, by then to the handler set before."""


def _raise_terminated(signum: int, frame: object) -> None:  # noqa: ARG001 - a signal handler
    """Unwind `run` on SIGTERM as Ctrl+C does, where the signal's default would end the process.

    Ended by the signal, the process would skip the flush and the inbox's stop in `run`: what the
    app captured as it stopped would be lost.
    """
    raise _Terminated


def _start_inbox(args: argparse.Namespace) -> InboxServer:
    """Start an inbox on a thread and point this process and its workers at it."""
    from sentry_asgi.inbox._server import InboxServer  # noqa: PLC0415 - needs the extra

    # the port asked for the app is the app's, even when it is the inbox's: take a free one
    port, db = (0 if args.inbox_port == args.port else args.inbox_port), args.inbox_db
    try:
        inbox = InboxServer("127.0.0.1", port, db)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        inbox = InboxServer("127.0.0.1", 0, db)  # another inbox has the port: use a free one
    inbox.start()
    os.environ["SENTRY_DSN"] = inbox.dsn  # the worker processes inherit it
    os.environ.setdefault("SENTRY_TRACES_SAMPLE_RATE", "1.0")  # locally, every trace is wanted
    print(  # noqa: T201
        f"SENTRY_DSN is not set: events go to the local inbox. Open {inbox.url} to see them.",
        flush=True,
    )
    return inbox


def _send_the_last_events(inbox: InboxServer | None) -> None:
    """Send what the app captured as it stopped, then stop the inbox, if `run` started one.

    An app served in this process sends what it captured while stopping (in its lifespan
    shutdown, say) from sentry_sdk's background thread; left to sentry_sdk's flush at exit,
    it would find its inbox stopped (and after SIGTERM there is no exit handler to run it).
    Worker processes have flushed theirs as they ended.
    """
    import sentry_sdk  # noqa: PLC0415

    sentry_sdk.flush()
    if inbox is not None:
        inbox.stop()


def _why_not(exc: OSError | sqlite3.Error, host: str, port: int) -> str:
    """Say in one line why an inbox could not start (the store's errors name their file)."""
    if isinstance(exc, sqlite3.Error):
        return str(exc)
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


def _traces_sample_rate() -> float | None:
    """Read SENTRY_TRACES_SAMPLE_RATE (unset: None), or raise a ValueError saying what is wrong."""
    text = os.environ.get("SENTRY_TRACES_SAMPLE_RATE")
    if not text:
        return None
    try:
        rate = float(text)
    except ValueError:
        rate = -1.0
    if not 0 <= rate <= 1:
        msg = f"SENTRY_TRACES_SAMPLE_RATE must be a number from 0 to 1, not {text!r}"
        raise ValueError(msg)
    return rate


def _check_dsn() -> None:
    """Raise a ValueError saying why SENTRY_DSN, when set, is no DSN sentry_sdk can send to.

    Said once, before anything starts: sentry_sdk.init would raise it as a traceback in every
    worker process, and uvicorn would start worker after worker.
    """
    from sentry_sdk.utils import Dsn  # noqa: PLC0415 - sentry_sdk's own reading of a DSN

    text = os.environ.get("SENTRY_DSN")
    if not text:
        return
    try:
        Dsn(text)
    except ValueError as exc:  # sentry_sdk's BadDsn, or a port out of range
        msg = f"SENTRY_DSN is not a DSN: {exc}"
        raise ValueError(msg) from None


def load_app() -> Any:
    """Import the app named by `run`, initialise sentry_sdk from the environment, and wrap it.

    An app that initialises sentry_sdk itself, as it is imported, keeps its own client.

    uvicorn calls this in each worker process, so each one has its own SDK client.
    """
    import sentry_sdk  # noqa: PLC0415
    from sentry_sdk.integrations.fastapi import FastApiIntegration  # noqa: PLC0415
    from sentry_sdk.integrations.starlette import StarletteIntegration  # noqa: PLC0415
    from uvicorn.importer import ImportFromStringError, import_from_string  # noqa: PLC0415

    from sentry_asgi import SentryMiddleware  # noqa: PLC0415

    try:
        app = _made(import_from_string(os.environ[_APP_VARIABLE]))
    except ImportFromStringError as exc:
        # said as uvicorn says it of an app it imports itself: a factory's error is a traceback
        logging.getLogger("uvicorn.error").error("Error loading ASGI app. %s", exc)  # noqa: TRY400
        sys.exit(1)
    if sentry_sdk.get_client().is_active():
        # the app set sentry_sdk up as it imported: a second init would drop its options,
        # its before_send (what it scrubs) among them
        return SentryMiddleware(app)
    # SENTRY_DSN, SENTRY_ENVIRONMENT and SENTRY_RELEASE are read by sentry_sdk itself
    sentry_sdk.init(
        traces_sample_rate=_traces_sample_rate(),
        # the middleware does their work: no monkeypatching of the framework on top of it
        disabled_integrations=[StarletteIntegration(), FastApiIntegration()],
    )
    return SentryMiddleware(app)


def _made(loaded: Any) -> Any:
    """The app a factory makes, found as uvicorn finds it: by calling what was imported.

    What cannot be called without arguments (an ASGI app) is the app itself, unless ``--factory``
    said it is a factory: then, as under uvicorn, the process stops saying why. A factory found
    without ``--factory`` is used, with uvicorn's warning.
    """
    log = logging.getLogger("uvicorn.error")
    factory = bool(os.environ.get(_FACTORY_VARIABLE))
    try:
        app = loaded()
    except TypeError as exc:
        if factory:
            log.error("Error loading ASGI app factory: %s", exc)  # noqa: TRY400 - uvicorn's line
            sys.exit(1)
        return loaded
    if not factory:
        log.warning(
            "ASGI app factory detected. Using it, but please consider setting the --factory flag "
            "explicitly."
        )
    return app
