"""The local inbox: a Sentry-compatible receiver with a web page, for one developer's machine."""

from sentry_asgi.inbox._app import MAX_ENVELOPE_SIZE, InboxApp
from sentry_asgi.inbox._store import Store

__all__ = ["MAX_ENVELOPE_SIZE", "InboxApp", "Store"]
