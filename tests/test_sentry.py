"""Sentry starts only with a DSN, and keeps client errors out."""

from __future__ import annotations

import pytest
from werkzeug.exceptions import NotFound

from server.config import Settings
from server.middleware import sentry

from support.settings import make_settings


def test_off_without_dsn(settings: Settings) -> None:
    assert sentry.init(settings) is False


def test_on_with_dsn(settings: Settings) -> None:
    sentry_sdk = pytest.importorskip(
        "sentry_sdk", reason="the optional sentry extra is not installed"
    )
    with_dsn = make_settings(
        settings.database_url.get_secret_value(),
        settings.redis_url,
        sentry_dsn="http://public@127.0.0.1:9/1",  # never contacted: no event is sent
    )
    try:
        assert sentry.init(with_dsn) is True
        assert sentry_sdk.get_client().is_active()
        assert not sentry_sdk.get_client().options.get("send_default_pii")
    finally:
        sentry_sdk.init()  # back to an inactive client


def test_client_errors_are_dropped() -> None:
    event = {"message": "x"}
    assert sentry.drop_client_errors(event, {"exc_info": (NotFound, NotFound(), None)}) is None
    boom = RuntimeError("boom")
    assert sentry.drop_client_errors(event, {"exc_info": (RuntimeError, boom, None)}) == event
    assert sentry.drop_client_errors(event, {}) == event
