"""JSON logs in production carry the request id; text logs in development."""

from __future__ import annotations

import io
import json
import logging
import logging.config

import pytest
from flask import Flask

from server.config import Settings
from server.logs import logging_config
from server.middleware.request_id import current_request_id

from support.auth import client_of
from support.settings import make_settings


def _capture(settings: Settings) -> io.StringIO:
    config = logging_config(settings)
    stream = io.StringIO()
    config["handlers"]["stderr"]["stream"] = stream
    logging.config.dictConfig(config)
    return stream


@pytest.fixture(autouse=True)
def _restore_logging(settings: Settings) -> object:
    yield
    logging.config.dictConfig(logging_config(settings))


def test_json_lines_with_request_id(settings: Settings) -> None:
    json_settings = make_settings(
        settings.database_url.get_secret_value(), settings.redis_url, log_format="json"
    )
    stream = _capture(json_settings)
    token = current_request_id.set("req-42")
    try:
        logging.getLogger("server.test").warning("hello %s", "world")
    finally:
        current_request_id.reset(token)
    record = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert record["message"] == "hello world"
    assert record["level"] == "WARNING"
    assert record["logger"] == "server.test"
    assert record["request_id"] == "req-42"
    assert "time" in record


def test_text_lines_outside_requests(settings: Settings) -> None:
    stream = _capture(settings)
    logging.getLogger("server.test").error("plain")
    line = stream.getvalue().strip().splitlines()[-1]
    # [request id, principal id]: neither exists outside a request.
    assert line.endswith("ERROR   server.test [- -] plain")


@pytest.fixture
def fresh_app(app: Flask, settings: Settings) -> Flask:
    # Built in setup: create_app configures logging, which would drop caplog's handler mid-test.
    from support.apps import build_app

    return build_app(settings)


def test_request_id_reaches_app_logs(fresh_app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    from server.middleware.request_id import RequestIdFilter

    caplog.handler.addFilter(RequestIdFilter())
    app = fresh_app

    @app.get("/log-something")
    def log_something() -> str:
        logging.getLogger("server.view").info("inside")
        return "ok"

    with caplog.at_level(logging.INFO):
        client_of(app).get("/log-something", headers={"X-Request-ID": "trace-me"})
    record = next(r for r in caplog.records if r.getMessage() == "inside")
    assert record.request_id == "trace-me"  # type: ignore[attr-defined]


def test_request_log_names_the_principal_never_the_token(
    fresh_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    from server.auth.log_filter import PrincipalFilter

    from support import auth as auth_support

    caplog.handler.addFilter(PrincipalFilter())
    app = fresh_app
    token = auth_support.default_token()

    @app.get("/log-principal")
    def log_principal() -> str:
        logging.getLogger("server.view").info("acting")
        return "ok"

    principal_id = client_of(app).get("/api/v1/me").json["principal"]["id"]

    with caplog.at_level(logging.INFO):
        response = client_of(app).get("/log-principal")
    assert response.status_code == 200
    record = next(r for r in caplog.records if r.getMessage() == "acting")
    assert record.principal == str(principal_id)  # type: ignore[attr-defined]
    assert token.split("_", 2)[2] not in caplog.text


def test_a_query_that_is_not_utf8_is_refused_and_logged(settings: Settings) -> None:
    """The query's bytes are the client's, and werkzeug decodes them strictly (``args``, and
    ``full_path`` for the access line): a ``?q=\\xe9`` (latin-1) that werkzeug's own server
    passes on raw was a 500. gunicorn refuses such a target, granian a non-UTF-8 one."""
    from support.apps import build_app

    logged = settings.model_copy(update={"access_log": True})
    app = build_app(logged)
    stream = _capture(logged)  # after build_app, which configures logging too
    response = client_of(app).get(
        "/api/v1/tasks", environ_overrides={"QUERY_STRING": "q=\xe9&fine=%C3%A9"}
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json == {
        "type": "tag:flask-nix-stack,2026:problems/bad-request",
        "title": "Bad Request",
        "status": 400,
        "detail": "The query string is not UTF-8.",
    }
    assert '"GET /api/v1/tasks?q=\\xe9&fine=%C3%A9" 400' in stream.getvalue()
