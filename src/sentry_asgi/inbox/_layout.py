"""The page shell, its stylesheet and its one script: nothing is loaded from anywhere else.

Every value that came in an event passes through `esc` (text) or `href` (links): the pages show
what an application sent, and an application can send anything.
"""

from __future__ import annotations

import html
import json
import time
from urllib.parse import quote

STYLE = """
:root { --fg: #1d1c24; --muted: #6c6a7a; --line: #e3e1ea; --bg: #f7f6fa; --accent: #6c3fc9;
        --error: #c2283a; --warning: #b7791f; --info: #2b6cb0; --ok: #2f855a; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
       color: var(--fg); background: var(--bg); }
header { background: #221d33; color: #fff; padding: .6em 1.2em; display: flex; gap: 1.2em;
         align-items: baseline; }
header a { color: #fff; text-decoration: none; font-weight: 600; }
header .live { margin-left: auto; font-size: 12px; color: #b9b3d1; }
main { padding: 1em 1.2em 3em; max-width: 1200px; }
h1 { font-size: 20px; margin: .2em 0 .4em; word-break: break-word; }
h2 { font-size: 15px; margin: 1.6em 0 .5em; text-transform: uppercase; letter-spacing: .04em;
     color: var(--muted); }
a { color: var(--accent); }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
th, td { text-align: left; padding: .4em .6em; border-bottom: 1px solid var(--line);
         vertical-align: top; word-break: break-word; }
th { font-weight: 600; color: var(--muted); font-size: 12px; background: #fbfbfd; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.kv th { width: 14em; }
.meta { color: var(--muted); display: flex; flex-wrap: wrap; gap: .4em 1.2em; }
.level { display: inline-block; min-width: 4.5em; padding: 0 .4em; border-radius: 3px;
         color: #fff; font-size: 11px; font-weight: 600; text-transform: uppercase;
         text-align: center; background: var(--muted); }
.level-error, .level-fatal { background: var(--error); }
.level-warning { background: var(--warning); }
.level-info { background: var(--info); }
.level-transaction { background: var(--ok); }
.title { font-weight: 600; }
.culprit, .empty { color: var(--muted); }
.exception { background: #fff; border: 1px solid var(--line); margin: .6em 0; padding: .6em; }
.exception h3 { margin: 0 0 .4em; font-size: 15px; word-break: break-word; }
details.frame { border-top: 1px solid var(--line); padding: .3em 0; }
details.frame summary { cursor: pointer; font-family: ui-monospace, monospace; font-size: 13px; }
details.frame.in-app summary { font-weight: 600; }
pre.source { margin: .4em 0; padding: .4em 0; background: #1d1c24; color: #ddd; overflow-x: auto;
             font-size: 12.5px; }
pre.source span { display: block; padding: 0 .8em; white-space: pre; }
pre.source span.current { background: #5a2e3a; color: #fff; }
pre.source i { color: #888; font-style: normal; display: inline-block; width: 4em; }
.waterfall td.bar { width: 55%; position: relative; }
.waterfall .track { position: relative; height: 14px; background: #f0eef6; }
.waterfall .span { position: absolute; top: 0; height: 14px; min-width: 2px;
                   background: var(--accent); border-radius: 2px; }
.waterfall .span.root { background: var(--ok); }
.waterfall td.txn { font-weight: 600; }
.waterfall td.txn .meta { font-weight: normal; font-size: 12px; }
code { font-family: ui-monospace, monospace; font-size: 13px; }
"""

SCRIPT = """
// Poll for new data; when anything arrived, swap in the freshly rendered page body.
(function () {
  var live = document.querySelector("[data-live]");
  if (!live) { return; }
  var latest = live.getAttribute("data-live");
  function poll() {
    fetch("/api/latest", {cache: "no-store"}).then(function (r) { return r.json(); })
      .then(function (data) {
        if (String(data.latest) === latest) { return null; }
        latest = String(data.latest);
        return fetch(location.pathname, {cache: "no-store"}).then(function (r) { return r.text(); })
          .then(function (text) {
            var fresh = new DOMParser().parseFromString(text, "text/html").querySelector("main");
            if (fresh) { document.querySelector("main").replaceWith(fresh); }
          });
      })
      .catch(function () { /* the inbox is restarting: try again on the next tick */ })
      .then(function () { setTimeout(poll, 1000); });
  }
  setTimeout(poll, 1000);
}());
"""


def esc(value: object) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    if isinstance(value, (dict, list)):
        value = json.dumps(value, indent=2, default=str)
    return html.escape("" if value is None else str(value), quote=True)


def inbox_path(*parts: str) -> str:
    """Build a path under the inbox, each part percent-encoded (``/`` and ``%`` included).

    The inbox decodes a page's key exactly once, from the path as sent: any stored id opens.
    """
    return "/" + "/".join(quote(part, safe="") for part in parts)


def href(*parts: str) -> str:
    """Build a path under the inbox (see :func:`inbox_path`), escaped for an attribute."""
    return esc(inbox_path(*parts))


def clock(seconds: float | None) -> str:
    """Show a timestamp as local time, with the full date in a tooltip; nothing if it has none."""
    if seconds is None:
        return ""
    try:
        full = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))
    except (OverflowError, OSError, ValueError):  # NaN, or a year the platform cannot show
        return ""
    return f'<time title="{full}">{full[11:]}</time>'


def level(name: str) -> str:
    """Render a coloured level badge."""
    known = name if name in ("fatal", "error", "warning", "info", "transaction") else "other"
    return f'<span class="level level-{known}">{esc(name)}</span>'


def key_values(mapping: object) -> str:
    """Render a two-column table, or a muted "none" when there is nothing to show."""
    if isinstance(mapping, list):  # headers and tags may come as [key, value] pairs
        mapping = {str(p[0]): p[1] for p in mapping if isinstance(p, list) and len(p) == 2}
    if not isinstance(mapping, dict) or not mapping:
        return '<p class="empty">none</p>'
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in mapping.items())
    return f'<table class="kv">{rows}</table>'


def page(title: str, body: str, *, live: int | None = None) -> str:
    """Wrap ``body`` in the shell; ``live`` (the store's latest number) makes it refresh."""
    live_attr = f' data-live="{live}"' if live is not None else ""
    status = "live" if live is not None else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · sentry-asgi inbox</title><style>{STYLE}</style></head>"
        f'<body{live_attr}><header><a href="/">sentry-asgi inbox</a>'
        f'<span class="live">{status}</span></header>'
        f"<main>{body}</main>"
        '<script src="/inbox.js"></script></body></html>'
    )
