"""Sentry's browser SDK (``@sentry/browser``) as one script a test page can load.

Built once from the npm registry with the machine's npm and esbuild into ``.cache/``, exactly
as pinned here, so a new release cannot change a result overnight. The bundle exposes what a
page needs as ``window.Sentry``, as Sentry's own CDN bundle does.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import TYPE_CHECKING

from cache import CACHE, cache_lock

if TYPE_CHECKING:
    from pathlib import Path

SDK_VERSION = "11.12.0"
ESBUILD_VERSION = "0.28.2"
BUILD = CACHE / f"sentry-browser-{SDK_VERSION}"
BUNDLE = BUILD / "sentry.js"

_ENTRY = """
import { browserTracingIntegration, getClient, init } from "@sentry/browser";
window.Sentry = { browserTracingIntegration, getClient, init };
"""


class BrowserSdkUnavailableError(RuntimeError):
    """The browser SDK could not be built here (no npm, or no registry)."""


def _run(command: list[str], cwd: Path) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        msg = f"{' '.join(command)} failed with {done.returncode}:\n{done.stdout}{done.stderr}"
        raise BrowserSdkUnavailableError(msg[-2000:])


def _build() -> None:
    npm = shutil.which("npm")
    if npm is None:
        msg = "npm is not installed"
        raise BrowserSdkUnavailableError(msg)
    work = BUILD.with_name(f"{BUILD.name}.building")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    dependencies = {"@sentry/browser": SDK_VERSION, "esbuild": ESBUILD_VERSION}
    package = {"name": "browser-sdk-bundle", "private": True, "dependencies": dependencies}
    (work / "package.json").write_text(json.dumps(package))
    (work / "entry.js").write_text(_ENTRY)
    _run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], work)
    esbuild = str(work / "node_modules" / ".bin" / "esbuild")
    _run([esbuild, "entry.js", "--bundle", "--format=iife", "--outfile=sentry.js"], work)
    shutil.rmtree(work / "node_modules")
    work.rename(BUILD)


def browser_sdk() -> bytes:
    """The bundle's text, built on first use; safe to call from several test processes at once."""
    with cache_lock("sentry-browser"):
        if not BUNDLE.exists():
            _build()
    return BUNDLE.read_bytes()
