"""Sentry starts only with a DSN, and keeps client errors out."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from werkzeug.exceptions import NotFound

from server.config import Settings
from server.middleware import sentry

from support.apps import build_app
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


def test_an_error_event_carries_no_local_variable(app: Flask, settings: Settings) -> None:
    """A 500's event, as the app sends it (its log line, with the exception), holds the stack
    but not the frames' variables: the credential being checked, a request's body."""
    sentry_sdk = pytest.importorskip(
        "sentry_sdk", reason="the optional sentry extra is not installed"
    )
    from sentry_sdk.transport import Transport

    sent: list[bytes] = []

    class Captured(Transport):
        def capture_envelope(self, envelope: Any) -> None:
            sent.append(envelope.serialize())

    secret = "fns_ab3de6gh_notforsentry"
    # `app`: the session's, whose tester principal the test client acts as.
    failing = build_app(
        make_settings(
            settings.database_url.get_secret_value(),
            settings.redis_url,
            sentry_dsn="http://public@127.0.0.1:9/1",
        )
    )

    @failing.get("/fails")
    def fails() -> str:
        credential = secret
        raise RuntimeError(f"failed after checking {len(credential)} characters")

    try:
        client = sentry_sdk.get_client()
        client.transport = Captured(client.options)
        assert failing.test_client().get("/fails").status_code == 500
        sentry_sdk.flush()
    finally:
        sentry_sdk.init()  # back to an inactive client
    payload = b"".join(sent)
    assert b"failed after checking 25 characters" in payload  # the event was sent
    assert b'"function":"fails"' in payload.replace(b" ", b"")  # with its stack
    assert secret.encode() not in payload
