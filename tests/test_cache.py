"""Reads are cached in Redis and dropped on any write."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from server.redis_client import get_redis


def test_second_read_is_a_hit_and_a_write_invalidates(client: FlaskClient, app: Flask) -> None:
    pid = client.post("/api/v1/projects", json={"name": "Cached"}).json["id"]
    url = f"/api/v1/projects/{pid}"
    first = client.get(url)
    assert first.headers["X-Cache"] == "miss"
    second = client.get(url)
    assert second.headers["X-Cache"] == "hit"
    assert second.json == first.json
    assert second.headers["ETag"] == first.headers["ETag"]

    client.patch(url, json={"description": "changed"})
    third = client.get(url)
    assert third.headers["X-Cache"] == "miss"
    assert third.json["description"] == "changed"


def test_write_elsewhere_invalidates_dependent_reads(client: FlaskClient) -> None:
    pid = client.post("/api/v1/projects", json={"name": "P"}).json["id"]
    assert client.get(f"/api/v1/projects/{pid}").json["task_count"] == 0
    assert client.get(f"/api/v1/projects/{pid}").headers["X-Cache"] == "hit"
    client.post("/api/v1/tasks", json={"project_id": pid, "title": "t"})
    assert client.get(f"/api/v1/projects/{pid}").json["task_count"] == 1


def test_query_strings_are_cached_apart(client: FlaskClient) -> None:
    for name in ("a", "b", "c"):
        client.post("/api/v1/projects", json={"name": name})
    assert len(client.get("/api/v1/projects?limit=1").json["items"]) == 1
    assert len(client.get("/api/v1/projects?limit=2").json["items"]) == 2
    assert client.get("/api/v1/projects?limit=1").headers["X-Cache"] == "hit"


def test_errors_are_not_cached(client: FlaskClient, app: Flask) -> None:
    client.get("/api/v1/projects")  # something cached, so the hash exists
    assert client.get("/api/v1/projects/4242").status_code == 404
    again = client.get("/api/v1/projects/4242")
    assert again.status_code == 404
    assert "X-Cache" not in again.headers
    with app.app_context():
        fields = get_redis().hkeys(f"{app.config['KEY_PREFIX']}:cache:api")
    assert fields == [b"/api/v1/projects?"]


def test_entries_expire_with_ttl(client: FlaskClient, app: Flask) -> None:
    client.get("/api/v1/projects")
    with app.app_context():
        key = f"{app.config['KEY_PREFIX']}:cache:api"
        ttl = get_redis().ttl(key)
    assert 0 < ttl <= app.config["CACHE_TTL"]
