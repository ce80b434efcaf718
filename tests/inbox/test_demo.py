"""The demo app's own logic: what its shop page hands the browser."""

from __future__ import annotations

import pytest

from .helpers import demo_module


@pytest.mark.parametrize(
    ("dsn", "public"),
    [
        ("https://pub:sec@o1.ingest.sentry.io/42", "https://pub@o1.ingest.sentry.io/42"),
        ("http://local@127.0.0.1:8969/1", "http://local@127.0.0.1:8969/1"),
        (
            "https://pub@sentry.example.com:9000/sentry/7",
            "https://pub@sentry.example.com:9000/sentry/7",
        ),
    ],
    ids=["secret-key", "inbox", "self-hosted-path"],
)
def test_the_shop_page_gives_the_browser_the_dsns_public_key_only(sentry_init, dsn, public):
    """A DSN with a secret key (as older ones had) reaches the page without it; port and path stay."""
    sentry_init(dsn=dsn)
    assert demo_module().public_dsn() == public
