"""The Django test app wrapped in SentryMiddleware, configured from the environment, for real servers."""

from __future__ import annotations

import os

import sentry_sdk
from frameworks.apps.django_app import django_app

from sentry_asgi import SentryMiddleware

sentry_sdk.init(
    dsn=os.environ["SENTRY_DSN"],
    traces_sample_rate=1.0,
    auto_enabling_integrations=False,
)

app = SentryMiddleware(django_app(), transaction_style="url")
