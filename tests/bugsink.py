"""Bugsink, a self-hosted Sentry-compatible tracker, as a second receiver for end-to-end tests.

Bugsink pins its own Django, gunicorn and sentry-sdk, so it lives in its own virtual environment
under ``.cache/``. Migrating its SQLite databases is the slow step; it is done once, into a
"golden" copy that each test copies and serves on its own port (the DSN's host and port come
only from ``BASE_URL``; ingest checks just the project id and key).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cache import CACHE, cache_lock
from servers import free_port, stop, wait_for_port

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

VERSION = "2.6.1"  # 2.6.2 needs a certifi newer than some mirrors carry; pip would fall back
VENV = CACHE / "bugsink-venv"
GOLDEN = CACHE / f"bugsink-{VERSION}-golden"

# Appended to the file bugsink-create-conf writes: everything beside the file, nothing phoned
# home, schema problems logged (not "strict", which rejects sentry_sdk's own message events),
# events digested inside the ingest request, and BASE_URL from the environment.
CONF = """
import os as _os
_BASE = _os.path.dirname(_os.path.abspath(__file__))
DATABASES["default"]["NAME"] = _os.path.join(_BASE, "db.sqlite3")
DATABASES["snappea"]["NAME"] = _os.path.join(_BASE, "snappea.sqlite3")
BUGSINK["BASE_URL"] = _os.environ.get("BUGSINK_BASE_URL", BUGSINK["BASE_URL"])
BUGSINK["PHONEHOME"] = False
BUGSINK["INGEST_STORE_BASE_DIR"] = _os.path.join(_BASE, "ingestion")
BUGSINK["VALIDATE_ON_DIGEST"] = "warn"
SNAPPEA = {"TASK_ALWAYS_EAGER": True}
"""

CREATE_PROJECT = """
import json
from projects.models import Project
p = Project.objects.create(name="e2e")
print(json.dumps({"id": p.id, "key": p.sentry_key.hex}))
"""


class BugsinkUnavailableError(RuntimeError):
    """Bugsink could not be installed here (no registry, no wheel for this platform)."""


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SENTRY_DSN", "VIRTUAL_ENV")}
    env.pop("PYTHONPATH", None)
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.update(extra)
    return env


def _run(command: list[str], cwd: Path | None = None) -> str:
    done = subprocess.run(
        command, cwd=cwd, env=_environment(), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        msg = f"{' '.join(command)} failed with {done.returncode}:\n{done.stdout}{done.stderr}"
        raise RuntimeError(msg)
    return done.stdout


def _install() -> None:
    marker = VENV / ".installed"
    if marker.exists() and marker.read_text() == VERSION:
        return
    shutil.rmtree(VENV, ignore_errors=True)
    try:
        _run([sys.executable, "-m", "venv", str(VENV)])
        _run([str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", f"bugsink=={VERSION}"])
    except RuntimeError as error:
        shutil.rmtree(VENV, ignore_errors=True)
        raise BugsinkUnavailableError(str(error)[-2000:]) from error
    marker.write_text(VERSION)


def _build_golden() -> None:
    if (GOLDEN / "project.json").exists():
        return
    work = CACHE / f"{GOLDEN.name}.building"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    manage = str(VENV / "bin" / "bugsink-manage")
    _run([str(VENV / "bin" / "bugsink-create-conf"), "--template=local", "--host=127.0.0.1"], work)
    with (work / "bugsink_conf.py").open("a") as conf:
        conf.write(CONF)
    _run([manage, "migrate", "-v", "0"], work)
    _run([manage, "migrate", "snappea", "--database=snappea", "-v", "0"], work)
    project = _run([manage, "shell", "-v", "0", "-c", CREATE_PROJECT], work).strip()
    (work / "project.json").write_text(project.splitlines()[-1])
    shutil.rmtree(work / "__pycache__", ignore_errors=True)
    work.rename(GOLDEN)


def prepare() -> None:
    """Install Bugsink and migrate its golden databases, once; safe to call concurrently."""
    with cache_lock("bugsink"):
        _install()
        _build_golden()


@dataclass
class Bugsink:
    """A running Bugsink: its DSN, and the stored events read straight from its database."""

    directory: Path
    port: int
    dsn: str

    def events(self) -> list[dict[str, Any]]:
        database = f"file:{self.directory / 'db.sqlite3'}?mode=ro"
        with contextlib.closing(sqlite3.connect(database, uri=True)) as db:
            rows = db.execute(
                "select calculated_type, calculated_value, data from events_event"
            ).fetchall()
        return [
            {"type": kind, "value": value, "data": json.loads(data)} for kind, value, data in rows
        ]

    def wait_for_events(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.events()
            if len(found) >= count:
                return found
            time.sleep(0.05)
        return self.events()

    @property
    def log(self) -> str:
        return (self.directory / "server.log").read_text(errors="replace")


def _wait_until_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    wait_for_port(port, process, timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        url = f"http://127.0.0.1:{port}/health/ready"
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as response:
            if response.status == 200:
                return
        time.sleep(0.05)
    msg = f"Bugsink on 127.0.0.1:{port} never became ready"
    raise TimeoutError(msg)


@contextlib.contextmanager
def bugsink(directory: Path) -> Iterator[Bugsink]:
    """Serve a copy of the golden Bugsink from ``directory`` on a free port; always stop it."""
    shutil.copytree(GOLDEN, directory)
    project = json.loads((directory / "project.json").read_text())
    port = free_port()
    env = _environment(BUGSINK_BASE_URL=f"http://127.0.0.1:{port}")
    command = [str(VENV / "bin" / "bugsink-manage"), "runserver", "--noreload", f"127.0.0.1:{port}"]
    with (directory / "server.log").open("wb") as log:
        process = subprocess.Popen(
            command, cwd=directory, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            _wait_until_ready(port, process)
            yield Bugsink(
                directory, port, f"http://{project['key']}@127.0.0.1:{port}/{project['id']}"
            )
        except BaseException:
            sys.stderr.write((directory / "server.log").read_text(errors="replace"))
            raise
        finally:
            stop(process)
