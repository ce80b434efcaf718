import os
import queue
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
import sentry_sdk
from inbox_helpers import sdk

COMMAND = [str(Path(sys.executable).parent / "sentry-asgi")]


class Process:
    """A running ``sentry-asgi`` command whose output lines can be awaited."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [*COMMAND, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for text in self.proc.stdout:
            self.lines.put(text.rstrip("\n"))

    def expect(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        """Wait for an output line matching ``pattern``; fail with everything seen so far."""
        while True:
            try:
                text = self.lines.get(timeout=timeout)
            except queue.Empty:
                pytest.fail(f"no line matching {pattern!r}; output was:\n" + "\n".join(self.seen))
            self.seen.append(text)
            match = re.search(pattern, text)
            if match:
                return match

    def stop(self) -> int:
        """Interrupt the command as Ctrl+C does, and wait for it to end."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        finally:
            self.reader.join(timeout=5)
            assert self.proc.stdout is not None
            self.proc.stdout.close()


def test_without_the_extra_main_prints_the_install_line():
    """With uvicorn missing, the command explains what to install instead of a traceback."""
    code = (
        "import sys; sys.modules['uvicorn'] = None; from sentry_asgi._cli import main; exit(main())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert (
        result.stderr == 'The sentry-asgi command needs its extra: pip install "sentry-asgi[cli]"\n'
    )
    assert result.stdout == ""


@pytest.mark.e2e
def test_inbox_command_prints_events_and_keeps_them_across_restarts(tmp_path):
    """The startup line says it is loopback-only; each event prints a line; a restart loses none."""
    db = str(tmp_path / "inbox.sqlite3")
    first = Process("inbox", "--port", "0", "--db", db)
    try:
        url = first.expect(
            r"^sentry-asgi inbox on (http://127\.0\.0\.1:\d+) \(listening on 127\.0\.0\.1, "
            r"loopback only; --host to change\)$"
        )[1]
        dsn = first.expect(r"send events with SENTRY_DSN=(\S+)")[1]
        with sdk(dsn=dsn):
            sentry_sdk.capture_message("kept across restarts", level="warning")
        first.expect(
            r"^\d\d:\d\d:\d\d WARNING kept across restarts  trace [0-9a-f]{32}  "
            + re.escape(url)
            + r"/events/[0-9a-f]{32}$"
        )
    finally:
        assert first.stop() == 0

    second = Process("inbox", "--port", "0", "--db", db)
    try:
        url = second.expect(r"^sentry-asgi inbox on (\S+) ")[1]
        with urllib.request.urlopen(url + "/", timeout=10) as response:  # noqa: S310 - loopback
            assert "kept across restarts" in response.read().decode()
    finally:
        assert second.stop() == 0


@pytest.mark.e2e
def test_inbox_command_reports_a_busy_port(tmp_path):
    """A port already in use is one clear line and exit status 1."""
    first = Process("inbox", "--port", "0", "--db", ":memory:")
    try:
        port = first.expect(r"^sentry-asgi inbox on http://127\.0\.0\.1:(\d+) ")[1]
        result = subprocess.run(
            [*COMMAND, "inbox", "--port", port, "--db", ":memory:"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        assert result.returncode == 1
        assert result.stdout.startswith(f"sentry-asgi inbox: cannot listen on 127.0.0.1:{port}: ")
    finally:
        first.stop()
