"""Redis down: reads still answer, readiness says so, the limiter follows its policy."""

from __future__ import annotations

import logging

import pytest
from flask import Flask

from server import create_app

from appconfig import make_settings
from servers import free_port


def app_without_redis(database_url: str, **overrides: object) -> Flask:
    # A port nobody listens on: connections are refused at once.
    return create_app(
        make_settings(database_url, f"redis://127.0.0.1:{free_port()}/0", **overrides)
    )


@pytest.fixture
def down_app(database_url: str, app: Flask) -> Flask:
    # `app` first: the schema exists and this test runs inside the isolating transaction.
    return app_without_redis(database_url, ratelimit_enabled=True)


def test_reads_and_writes_work_without_cache(
    down_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    client = down_app.test_client()
    with caplog.at_level(logging.WARNING):
        created = client.post("/api/v1/projects", json={"name": "NoRedis"})
        assert created.status_code == 201
        listed = client.get("/api/v1/projects")
    assert listed.status_code == 200
    assert listed.json["total"] == 1
    assert "cache bypassed, redis unavailable" in caplog.text


def test_readiness_names_redis(down_app: Flask) -> None:
    response = down_app.test_client().get("/health/ready")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.json["checks"] == {"database": "ok", "redis": "unavailable"}
    assert "redis" in response.json["detail"]
    assert down_app.test_client().get("/health/live").status_code == 200


def test_limiter_fails_closed_when_asked(database_url: str, app: Flask) -> None:
    closed = app_without_redis(database_url, ratelimit_enabled=True, ratelimit_fail_open=False)
    response = closed.test_client().get("/api/v1/projects")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
