"""Misconfiguration fails at construction, naming the option and what it accepts."""

from __future__ import annotations

import ipaddress
import re

import pytest
from conftest import call
from starlette.applications import Starlette

from sentry_asgi import SentryMiddleware


async def app(scope, receive, send):
    pass


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        (
            {"transaction_style": "path"},
            ValueError,
            r"'transaction_style' must be one of 'endpoint', 'url'; got 'path'",
        ),
        (
            {"http_methods_to_capture": "GET"},
            TypeError,
            r"'http_methods_to_capture' must be a collection",
        ),
        (
            {"http_methods_to_capture": ["GET", "FETCH"]},
            ValueError,
            r"'http_methods_to_capture'.*'FETCH'",
        ),
        (
            {"failed_request_status_codes": [500, 700]},
            ValueError,
            r"'failed_request_status_codes'.*700",
        ),
        ({"failed_request_status_codes": [True]}, ValueError, r"'failed_request_status_codes'"),
        ({"failed_request_status_codes": [600]}, ValueError, r"'failed_request_status_codes'.*600"),
        ({"failed_request_status_codes": [99]}, ValueError, r"'failed_request_status_codes'.*99"),
        (
            {"failed_request_status_codes": 500},
            TypeError,
            r"'failed_request_status_codes' must be a collection",
        ),
        ({"exclude_paths": ["health"]}, ValueError, r"'exclude_paths'.*'health'"),
        ({"trusted_proxies": ["10.0.0.0/33"]}, ValueError, r"'trusted_proxies'.*10.0.0.0/33"),
        ({"trusted_proxies": "10.0.0.1"}, TypeError, r"'trusted_proxies' must be a collection"),
        (
            {"http_methods_to_capture": b"GET"},
            TypeError,
            r"'http_methods_to_capture' must be a collection",
        ),
        ({"trusted_proxies": [167772161]}, ValueError, r"'trusted_proxies'.*167772161"),
    ],
)
def test_invalid_option_is_rejected_with_its_name(options, error, match):
    """Each invalid value raises at construction with the option's name and allowed values."""
    with pytest.raises(error, match=match):
        SentryMiddleware(app, **options)


def test_unknown_option_is_rejected_with_its_name():
    """A misspelt option is a TypeError that names it."""
    with pytest.raises(TypeError, match="transaction_stlye"):
        SentryMiddleware(app, transaction_stlye="url")  # type: ignore[call-arg]


def test_options_are_keyword_only():
    """Options cannot be passed positionally, so their order can never silently change meaning."""
    with pytest.raises(TypeError):
        SentryMiddleware(app, "url")  # type: ignore[misc]


def test_not_an_app_is_rejected():
    """Wrapping something that is not callable fails at once."""
    with pytest.raises(TypeError, match="needs an ASGI application"):
        SentryMiddleware(None)


def test_trusted_proxies_take_ipaddress_objects_too():
    """An ipaddress network or address is as good as its text; a bare int is no address."""
    middleware = SentryMiddleware(
        app,
        trusted_proxies=[ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_address("::1")],
    )
    assert [str(n) for n in middleware.options.trusted_proxies] == ["10.0.0.0/8", "::1/128"]


def test_valid_options_are_normalised():
    """Methods (WebDAV's too) are upper-cased, plain paths match exactly, networks parsed, host bits too."""
    middleware = SentryMiddleware(
        app,
        http_methods_to_capture=["get", "post", "propfind", "QUERY"],
        exclude_paths=["/health", re.compile(r"/metrics.*"), "/v1.0/ping"],
        trusted_proxies=["10.0.0.0/8", "::1", "192.168.1.9/24"],
        failed_request_status_codes=[100, *range(500, 505), 599],  # the first and last codes
    )
    options = middleware.options
    assert options.http_methods_to_capture == {"GET", "POST", "PROPFIND", "QUERY"}
    assert options.exclude_paths[0].fullmatch("/health")
    assert not options.exclude_paths[0].fullmatch("/healthy")
    assert not options.exclude_paths[2].fullmatch("/v1x0/ping")  # a dot is a dot
    assert [str(n) for n in options.trusted_proxies] == ["10.0.0.0/8", "::1/128", "192.168.1.0/24"]
    assert options.failed_request_status_codes == {100, 500, 501, 502, 503, 504, 599}


@pytest.mark.anyio
async def test_options_given_to_add_middleware_are_checked_on_the_apps_first_call():
    """Starlette builds an added middleware when first called, at lifespan start-up if it runs."""
    app = Starlette()
    app.add_middleware(SentryMiddleware, transaction_style="path")  # nothing built yet
    lifespan = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
    with pytest.raises(ValueError, match="'transaction_style' must be one of"):
        await call(app, lifespan, [{"type": "lifespan.startup"}])
