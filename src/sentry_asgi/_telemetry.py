"""Scrubbing for sentry_sdk's logs and streamed spans, which never pass event processors.

sentry_sdk sends a log record (``enable_logs``) or a streamed span as the app wrote it, with only
the ``before_send_log`` / ``before_send_span`` hooks in between. The middleware puts hooks of its
own in front of the app's; these do the same for a hook of the app's that runs on its own: they
remove the secrets of the request the item was written in, as the middleware removes them from
that request's events. Outside a request they return the item unchanged.
"""

from __future__ import annotations

from typing import Any

from sentry_asgi.middleware import Item, without_request_secrets


def scrub_log(log: Item, hint: dict[str, Any]) -> Item:  # noqa: ARG001 - the hook's signature
    """A ``before_send_log``: the current request's secrets are removed from the log."""
    return without_request_secrets(log, issued=True)


def scrub_span(span: Item, hint: dict[str, Any]) -> Item:  # noqa: ARG001 - the hook's signature
    """A ``before_send_span``: the request's secrets are removed from its name and attributes.

    The middleware removes them from a request's streamed spans itself: this hook is for a
    ``before_send_span`` of the app's own that must see them without.
    """
    return without_request_secrets(span)
