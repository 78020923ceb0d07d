"""Rate limits are counted in Redis, so two app instances (two workers, two hosts) share them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from support.answers import answered
from support.auth import anonymous, client_of


@pytest.fixture
def limited_app(make_app: Callable[..., Flask]) -> Callable[[str], Flask]:
    """``limited_app(prefix)``: an app allowing 5 requests a minute, counted under ``prefix``."""

    def make(prefix: str) -> Flask:
        return make_app(ratelimit_enabled=True, ratelimit_default="5 per minute", key_prefix=prefix)

    return make


def test_two_instances_share_one_budget(limited_app: Callable[[str], Flask]) -> None:
    first = client_of(limited_app("shared"))
    second = client_of(limited_app("shared"))
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
    client = client_of(limited_app("health"))
    assert all(client.get("/health/live").status_code == 200 for _ in range(8))
    assert all(client.get("/health/ready").status_code == 200 for _ in range(8))


def test_no_limit_headers_below_the_limit(limited_app: Callable[[str], Flask]) -> None:
    """They would cost a Redis round trip per request; the 429 carries them."""
    response = client_of(limited_app("headers")).get("/api/v1/tags")
    assert response.status_code == 200
    assert "X-RateLimit-Limit" not in response.headers


def test_one_budget_across_every_route_including_errors(
    limited_app: Callable[[str], Flask],
) -> None:
    """Refused on one endpoint means refused on all: 404, 405, 401 and the docs count too."""
    client = client_of(limited_app("budget"))
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
    first = client_of(app)
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


def request_counters(app: Flask, prefix: str) -> list[str]:
    from server.infra.redis_client import get_redis

    return [key.decode() for key in get_redis(app).scan_iter(f"{prefix}:limit:*request*")]


def test_the_window_starts_at_the_first_hit_and_is_not_extended(
    limited_app: Callable[[str], Flask],
) -> None:
    """A fixed window, as limits keeps it: the counter expires a minute after its first hit."""
    from server.infra.redis_client import get_redis

    app = limited_app("window")
    client = client_of(app)
    assert client.get("/api/v1/tags").status_code == 200
    (counter,) = request_counters(app, "window")
    redis = get_redis(app)
    first_ttl = answered(redis.pttl(counter))
    assert 0 < first_ttl <= 60_000
    redis.pexpire(counter, 30_000)  # as if half the window had passed
    assert client.get("/api/v1/tags").status_code == 200
    assert redis.get(counter) == b"2"
    assert 0 < answered(redis.pttl(counter)) <= 30_000  # the second hit did not restart the window


def test_a_spent_budget_returns_when_its_window_ends(limited_app: Callable[[str], Flask]) -> None:
    from server.infra.redis_client import get_redis

    app = limited_app("returns")
    client = client_of(app)
    assert [client.get("/api/v1/tags").status_code for _ in range(6)] == [200] * 5 + [429]
    refused = client.get("/api/v1/tags")
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    (counter,) = request_counters(app, "returns")
    get_redis(app).delete(counter)  # what its expiry does at the end of the window
    assert client.get("/api/v1/tags").status_code == 200


def test_a_cached_read_is_counted_and_served_from_the_cache(
    limited_app: Callable[[str], Flask],
) -> None:
    """The cache lookup shares the count's round trip: both must still happen."""
    from server.infra.redis_client import get_redis

    from support.api import create_project

    app = limited_app("cached")
    client = client_of(app)
    url = f"/api/v1/projects/{create_project(client, 'counted')['id']}"
    assert client.get(url).headers["X-Cache"] == "miss"
    hit = client.get(url)
    assert hit.status_code == 200
    assert hit.headers["X-Cache"] == "hit"
    assert hit.json["name"] == "counted"
    (counter,) = request_counters(app, "cached")
    assert get_redis(app).get(counter) == b"3"  # the POST and both reads


def test_an_ipv6_client_is_its_64_and_a_mapped_ipv4_its_ipv4(
    limited_app: Callable[[str], Flask],
) -> None:
    """Whoever holds an IPv6 /64 (a host's or a home's usual share) could give each request an
    address of its own: the budget is the /64's."""
    client = anonymous(limited_app("v6"))

    def status(address: str) -> int:
        return client.get("/api/v1/tags", environ_base={"REMOTE_ADDR": address}).status_code

    assert [status(f"2001:db8:1:2::{n:x}") for n in range(1, 6)] == [401] * 5
    assert status("2001:db8:1:2:ffff:ffff:ffff:ffff") == 429  # the same /64
    assert status("2001:db8:1:3::1") == 401  # the next /64: a budget of its own
    assert [status("192.0.2.7") for _ in range(5)] == [401] * 5
    assert status("::ffff:192.0.2.7") == 429  # IPv4-mapped: the same client
