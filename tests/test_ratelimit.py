"""Rate limits are counted in Redis, so two app instances (two workers, two hosts) share them."""

from __future__ import annotations

from flask import Flask

from server import create_app
from server.config import Settings

from appconfig import make_settings


def limited_app(settings: Settings, prefix: str) -> Flask:
    return create_app(
        make_settings(
            settings.database_url.get_secret_value(),
            settings.redis_url,
            ratelimit_enabled=True,
            ratelimit_default="5 per minute",
            key_prefix=prefix,
        )
    )


def test_two_instances_share_one_budget(app: Flask, settings: Settings) -> None:
    first = limited_app(settings, "shared").test_client()
    second = limited_app(settings, "shared").test_client()
    statuses = [(first if i % 2 else second).get("/api/v1/tags").status_code for i in range(5)]
    assert statuses == [200] * 5
    refused = first.get("/api/v1/tags")
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.headers["X-RateLimit-Limit"] == "5"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert int(refused.headers["X-RateLimit-Reset"]) > 0
    assert second.get("/api/v1/tags").status_code == 429


def test_health_is_exempt(app: Flask, settings: Settings) -> None:
    client = limited_app(settings, "health").test_client()
    assert all(client.get("/health/live").status_code == 200 for _ in range(8))
    assert all(client.get("/health/ready").status_code == 200 for _ in range(8))


def test_no_limit_headers_below_the_limit(app: Flask, settings: Settings) -> None:
    """They would cost a Redis round trip per request; the 429 carries them."""
    response = limited_app(settings, "headers").test_client().get("/api/v1/tags")
    assert response.status_code == 200
    assert "X-RateLimit-Limit" not in response.headers
