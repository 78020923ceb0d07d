"""The cache key covers what an answer depends on, and nothing a client can vary at will;
entries and the whole cache are bounded (a review found 138 MB of Redis grown by 20 requests)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from server.infra.redis_client import get_redis

from support.answers import answered
from support.auth import AuthenticatedClient


def cache_fields(app: Flask) -> list[bytes]:
    with app.app_context():
        prefix = app.extensions["settings"].key_prefix
        fields = answered(get_redis().hkeys(f"{prefix}:cache:reads"))
        return [field.encode() if isinstance(field, str) else field for field in fields]


def cache_bytes(app: Flask) -> int:
    with app.app_context():
        prefix = app.extensions["settings"].key_prefix
        return int(answered(get_redis().get(f"{prefix}:cache:reads:bytes")) or 0)


def test_spellings_of_one_query_share_one_entry(client: AuthenticatedClient, app: Flask) -> None:
    for i in range(3):
        client.post("/api/v1/projects", json={"name": f"p{i}"})
    spellings = [
        "/api/v1/projects?limit=2",
        "/api/v1/projects?limit=2&offset=0",
        "/api/v1/projects?offset=0&limit=2",
        "/api/v1/projects?limit=02",
        "/api/v1/projects?limit=+2",
        "/api/v1/projects?limit=%32",
        "/api/v1/projects?limit=2&offset=00",
        "/api/v1/projects?limit=2.0",
    ]
    answers = [client.get(url) for url in spellings]
    assert [a.status_code for a in answers] == [200] * len(spellings)
    assert [a.headers["X-Cache"] for a in answers] == ["miss"] + ["hit"] * (len(spellings) - 1)
    assert len({a.get_data() for a in answers}) == 1
    assert len(cache_fields(app)) == 1
    # The next link is built from the validated query, not from the raw string.
    last = answers[0].json["items"][-1]["id"]
    assert answers[0].json["next"] == f"/api/v1/projects?limit=2&after={last}"


def test_path_spellings_share_one_entry(client: AuthenticatedClient, app: Flask) -> None:
    project = client.post("/api/v1/projects", json={"name": "one"}).json["id"]
    first = client.get(f"/api/v1/projects/{project}")
    encoded = client.get("/api/v1/projects/" + "".join(f"%{ord(c):02x}" for c in str(project)))
    assert first.headers["X-Cache"] == "miss"
    assert encoded.headers["X-Cache"] == "hit"
    assert len(cache_fields(app)) == 1


def test_invalid_queries_store_nothing(client: AuthenticatedClient, app: Flask) -> None:
    for url in ("/api/v1/projects?limit=2.5", "/api/v1/projects?limit=x", "/api/v1/projects?x=1"):
        assert client.get(url).status_code == 422, url
    assert cache_fields(app) == []


def test_a_forged_script_root_cannot_poison_other_readers(client: AuthenticatedClient) -> None:
    for i in range(3):
        client.post("/api/v1/projects", json={"name": f"s{i}"})
    poisoned = client.get(
        "/api/v1/projects?limit=1", environ_overrides={"SCRIPT_NAME": "//attacker.example"}
    )
    assert poisoned.json["next"].startswith("//attacker.example/")
    honest = client.get("/api/v1/projects?limit=1")
    assert honest.headers["X-Cache"] == "miss"
    first = honest.json["items"][0]["id"]
    assert honest.json["next"] == f"/api/v1/projects?limit=1&after={first}"


def test_large_answers_are_not_stored(make_app: Callable[..., Flask]) -> None:
    small = make_app(cache_max_entry_bytes=1024)
    client = small.test_client()
    for i in range(20):
        client.post("/api/v1/projects", json={"name": f"big-{i}", "description": "x" * 200})
    assert client.get("/api/v1/projects?limit=20").headers["X-Cache"] == "miss"
    assert client.get("/api/v1/projects?limit=20").headers["X-Cache"] == "miss"
    assert cache_fields(small) == []
    assert client.get("/api/v1/projects?limit=1").status_code == 200
    assert len(cache_fields(small)) == 1


def test_total_size_is_bounded(make_app: Callable[..., Flask]) -> None:
    bounded = make_app(cache_max_bytes=64 * 1024)
    client = bounded.test_client()
    for i in range(30):
        client.post("/api/v1/projects", json={"name": f"b{i}", "description": "y" * 1500})
    # Distinct valid keys (offsets), 1.5 to 45 KB each: the cache stops storing at its
    # budget, and the answers go on.
    for offset in range(30):
        assert client.get(f"/api/v1/projects?offset={offset}&limit=100").status_code == 200
    assert cache_bytes(bounded) <= 64 * 1024
    assert 1 <= len(cache_fields(bounded)) < 30


def test_a_full_cache_leaves_no_dependency_keys(make_app: Callable[..., Flask]) -> None:
    """A store the byte budget refuses creates nothing: clients varying a filter cannot grow
    Redis past APP_CACHE_MAX_BYTES through the dependency tags' keys either."""
    bounded = make_app(cache_max_bytes=64 * 1024)
    client = bounded.test_client()
    with bounded.app_context():
        prefix = bounded.extensions["settings"].key_prefix
        get_redis().set(f"{prefix}:cache:reads:bytes", 64 * 1024)  # full
    for i in range(5):
        answer = client.get(f"/api/v1/tasks?tag=n{i}")
        assert (answer.status_code, answer.headers["X-Cache"]) == (200, "miss")
    with bounded.app_context():
        assert get_redis().keys(f"{prefix}:cache:tag:*") == []
    assert cache_fields(bounded) == []
