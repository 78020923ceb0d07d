"""Redis down: reads still answer, readiness says so, the limiter follows its policy."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from flask import Flask

from support.auth import client_of
from support.servers import free_port


def no_redis() -> str:
    """A port nobody listens on: connections are refused at once."""
    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.fixture
def down_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(redis_url=no_redis(), ratelimit_enabled=True)


def test_reads_and_writes_work_without_cache(
    down_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_of(down_app)
    with caplog.at_level(logging.WARNING):
        assert client.get("/api/v1/projects").json["total"] == 0
        assert "cache bypassed, redis unavailable" in caplog.text
        created = client.post("/api/v1/projects", json={"name": "NoRedis"})
        assert created.status_code == 201
        assert "cache not invalidated, redis unavailable" in caplog.text
        listed = client.get("/api/v1/projects")
    assert listed.status_code == 200
    assert listed.json["total"] == 1


def test_readiness_names_redis(down_app: Flask) -> None:
    response = client_of(down_app).get("/health/ready")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.json["checks"] == {"database": "ok", "redis": "unavailable"}
    assert "redis" in response.json["detail"]
    assert client_of(down_app).get("/health/live").status_code == 200


def test_limiter_fails_closed_when_asked(make_app: Callable[..., Flask]) -> None:
    closed = make_app(redis_url=no_redis(), ratelimit_enabled=True, ratelimit_fail_open=False)
    response = client_of(closed).get("/api/v1/projects")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
