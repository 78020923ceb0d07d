"""Rate limits are counted in Redis, so two app instances (two workers, two hosts) share them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask


@pytest.fixture
def limited_app(make_app: Callable[..., Flask]) -> Callable[[str], Flask]:
    """``limited_app(prefix)``: an app allowing 5 requests a minute, counted under ``prefix``."""

    def make(prefix: str) -> Flask:
        return make_app(ratelimit_enabled=True, ratelimit_default="5 per minute", key_prefix=prefix)

    return make


def test_two_instances_share_one_budget(limited_app: Callable[[str], Flask]) -> None:
    first = limited_app("shared").test_client()
    second = limited_app("shared").test_client()
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


def test_health_is_exempt(limited_app: Callable[[str], Flask]) -> None:
    client = limited_app("health").test_client()
    assert all(client.get("/health/live").status_code == 200 for _ in range(8))
    assert all(client.get("/health/ready").status_code == 200 for _ in range(8))


def test_no_limit_headers_below_the_limit(limited_app: Callable[[str], Flask]) -> None:
    """They would cost a Redis round trip per request; the 429 carries them."""
    response = limited_app("headers").test_client().get("/api/v1/tags")
    assert response.status_code == 200
    assert "X-RateLimit-Limit" not in response.headers


def test_one_budget_across_every_route_including_errors(
    limited_app: Callable[[str], Flask],
) -> None:
    """Refused on one endpoint means refused on all: 404, 405, 401 and the docs count too."""
    client = limited_app("budget").test_client()
    answers = [
        client.get("/api/v1/tags").status_code,
        client.get("/api/v1/no-such-thing").status_code,
        client.delete("/api/v1/projects").status_code,
        client.get("/openapi.json").status_code,
        client.get("/api/v1/projects").status_code,
    ]
    assert answers == [200, 404, 405, 200, 200]
    for url in ("/api/v1/tasks", "/docs", "/api/v1/me", "/nowhere", "/api/v1/tags"):
        refused = client.get(url)
        assert refused.status_code == 429, url
        assert refused.mimetype == "application/problem+json"


def test_budget_is_per_principal_when_authenticated(
    limited_app: Callable[[str], Flask],
) -> None:
    from support.auth import anonymous, bearer, make_principal, make_token

    app = limited_app("principals")
    first = app.test_client()
    for _ in range(5):
        assert first.get("/api/v1/tags").status_code == 200
    assert first.get("/api/v1/tags").status_code == 429
    # Another principal from the same address has its own budget...
    other = anonymous(app)
    token = make_token(make_principal("neighbour"))
    assert other.get("/api/v1/tags", headers=bearer(token)).status_code == 200
    # ...and so has the anonymous traffic of that address (401s count against it).
    statuses = [anonymous(app).get("/api/v1/tags").status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
