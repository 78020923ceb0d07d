"""Credentials a client put in the URL never reach the access lines, Sentry or the traces
(server/redaction.py); the hostile-HTTP and nginx tests read the real servers' lines."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import text

from server.infra.database import db
from server.middleware import sentry, tracing
from server.redaction import REDACTED, redacted_target, redacted_text

SECRET = "Zx9" + "s" * 40  # a token's 43-character secret
TOKEN = f"fns_abcdefgh_{SECRET}"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("target", "shown"),
    [
        ("/api/v1/projects", "/api/v1/projects"),
        ("/api/v1/tasks?limit=5&tag=a%20b&after=", "/api/v1/tasks?limit=5&tag=a%20b&after="),
        (f"/api/v1/me?access_token={TOKEN}", f"/api/v1/me?access_token={REDACTED}"),
        (f"/x?limit=5&Api-Key={SECRET}", f"/x?limit=5&Api-Key={REDACTED}"),
        (f"/x?tok%65n={SECRET}", f"/x?token={REDACTED}"),  # the name decoded
        (f"/x?q={TOKEN}", f"/x?q={REDACTED}"),
        ("/x?q=" + TOKEN.replace("_", "%5F"), f"/x?q={REDACTED}"),  # the value decoded
        (f"/x?id_token={JWT}&q=1", f"/x?id_token={REDACTED}&q=1"),
        (f"/x?note=before+{JWT}", f"/x?note=before+{REDACTED}"),
        (f"/api/v1/projects/{TOKEN}", f"/api/v1/projects/{REDACTED}"),
        (f"/api/v1/projects/{TOKEN}?limit=2", f"/api/v1/projects/{REDACTED}?limit=2"),
    ],
)
def test_credentials_in_a_target_are_redacted(target: str, shown: str) -> None:
    assert redacted_target(target) == shown
    assert SECRET not in redacted_target(target)


TOKEN = "fns_abcdefgh_" + "x" * 43


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        (
            "Error handling request GET http://alice:pw@api.test/api/v1/me?access_token=abc",
            f"Error handling request GET http://{REDACTED}@api.test/api/v1/me?access_token={REDACTED}",
        ),
        (
            "Invalid request from ip=10.0.0.1: Invalid HTTP Header: 'Authorization Basic dXNlcg=='",
            f"Invalid request from ip=10.0.0.1: Invalid HTTP Header: 'Authorization {REDACTED}'",
        ),
        (
            f"Invalid request from ip=10.0.0.1: Invalid request line: 'GET /{TOKEN} HTTP/1'",
            f"Invalid request from ip=10.0.0.1: Invalid request line: 'GET /{REDACTED} HTTP/1'",
        ),
        # What holds no credential is left as it is.
        ("Invalid request from ip=10.0.0.1: Invalid HTTP Header: 'X-A'", None),
        ("Listening at: http://127.0.0.1:8000 (12)", None),
        ("Booting worker with pid: 12", None),
    ],
)
def test_credentials_quoted_in_a_server_log_line_are_redacted(line: str, shown: str | None) -> None:
    assert redacted_text(line) == (shown or line)


def test_sentry_events_carry_no_credential_from_the_query() -> None:
    event = {"request": {"url": "http://api/x", "query_string": f"a=1&access_token={TOKEN}"}}
    sent = sentry.drop_client_errors(event, {"exc_info": (RuntimeError, RuntimeError(), None)})
    assert sent["request"]["query_string"] == f"a=1&access_token={REDACTED}"


def test_server_spans_carry_no_credential_from_the_target() -> None:
    """Through the Flask instrumentation itself, with the hook the app installs."""
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = Flask("redaction")
    app.add_url_rule("/items/<item>", "item", lambda item: "ok")
    FlaskInstrumentor().instrument_app(
        app, tracer_provider=provider, response_hook=tracing.redact_span_target
    )
    try:
        assert app.test_client().get(f"/items/{TOKEN}?access_token={TOKEN}").status_code == 200
    finally:
        FlaskInstrumentor().uninstrument_app(app)
    (span,) = exporter.get_finished_spans()
    shown = {key: value for key, value in (span.attributes or {}).items() if SECRET in str(value)}
    assert shown == {}
    assert any(REDACTED in str(value) for value in (span.attributes or {}).values())


@pytest.fixture
def own_app(make_app: Callable[..., Flask]) -> Flask:
    # Built in setup: create_app configures logging, which would drop caplog's handler mid-test.
    return make_app()


def test_an_unexpected_database_error_is_logged_without_its_values(
    own_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    """Logged whole, a driver error would carry the statement's values: SQLAlchemy lists the
    parameters, and PostgreSQL's own message quotes the statement as psycopg2 sent it."""
    secret = "fns_ab3de6gh_notforthelogs"
    app = own_app

    @app.get("/fails-in-the-database")
    def fails() -> str:
        db.session.execute(
            text("SELECT CAST(:value AS integer) FROM no_such_table"), {"value": secret}
        )
        return "unreachable"

    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/fails-in-the-database")
    assert response.status_code == 500
    assert secret not in response.text
    assert secret not in caplog.text
    record = next(r for r in caplog.records if "unhandled database error" in r.getMessage())
    logged = record.getMessage()
    assert "UndefinedTable (SQLSTATE 42P01) in SELECT CAST(%(value)s AS integer)" in logged
    assert "fails" in logged  # the traceback's frames, down to the view
