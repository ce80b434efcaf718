"""Scrubbing for sentry_sdk's logs and streamed spans, which never pass event processors.

sentry_sdk sends a log record (``enable_logs``) or a streamed span as the app wrote it, with only
the user's own ``before_send_log`` / ``before_send_span`` in between. These are such hooks: they
remove the secrets of the request the item was written in, as the middleware removes them from
that request's events. Outside a request they return the item unchanged.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sentry_asgi._guard import contained
from sentry_asgi.middleware import current_exchange

Item = TypeVar("Item")


def scrub_log(log: Item, hint: dict[str, Any]) -> Item:  # noqa: ARG001 - the hook's signature
    """A ``before_send_log``: the current request's secrets are removed from the log."""
    return _scrubbed(log)


def scrub_span(span: Item, hint: dict[str, Any]) -> Item:  # noqa: ARG001 - the hook's signature
    """A ``before_send_span``: the request's secrets are removed from its name and attributes."""
    return _scrubbed(span)


def _scrubbed(item: Item) -> Item:
    exchange = current_exchange()
    if exchange is None or exchange.scope.get("type") == "lifespan" or not exchange.client_options:
        return item
    with contained():
        _, secrets = exchange.request_data()
        return secrets.scrub_tree(item)  # type: ignore[no-any-return]
    return item
