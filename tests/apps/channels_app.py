"""The Channels test app wrapped in SentryMiddleware as a project's asgi.py does, for real servers."""

from __future__ import annotations

import os

import sentry_sdk
from frameworks.apps.channels_app import channels_app

from sentry_asgi import SentryMiddleware

sentry_sdk.init(
    dsn=os.environ["SENTRY_DSN"],
    traces_sample_rate=1.0,
    auto_enabling_integrations=False,
)

application = SentryMiddleware(channels_app(), transaction_style="url")
