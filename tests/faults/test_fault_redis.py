"""Redis stopped under load: reads bypass the cache, readiness says so, caching comes back."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis as redis_lib
import requests

from support.processes import SESSION_TOKEN, app_env, authed

READ_TIMEOUT = 5.0


class Reader(threading.Thread):
    """GETs ``urls`` in a loop, recording (phase, status, X-Cache) until stopped; the phase is
    "between" for a read that started in one phase and ended in another."""

    def __init__(self, urls: list[str]) -> None:
        super().__init__(daemon=True)
        self.urls = urls
        self.phase = "before"
        self.results: list[tuple[str, int, str | None]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {SESSION_TOKEN}"
            self.loop(session)

    def loop(self, session: requests.Session) -> None:
        while not self.halt.is_set():
            for url in self.urls:
                phase = self.phase
                try:
                    response = session.get(url, timeout=READ_TIMEOUT)
                    status, cache = response.status_code, response.headers.get("X-Cache")
                except requests.RequestException as exc:
                    status, cache = 0, type(exc).__name__
                # A read that spans two phases is of neither: one started in the outage may end
                # on the restarted Redis (the client reconnects), and rightly report a cache.
                self.results.append((phase if phase == self.phase else "between", status, cache))

    def in_phase(self, phase: str) -> list[tuple[str, int, str | None]]:
        return [r for r in self.results if r[0] == phase]


@pytest.mark.slow
def test_reads_survive_redis_outage_and_caching_resumes(
    own_redis: Any, faults_database: str, serve: Callable[..., Any], poll: Callable[..., float]
) -> None:
    # One worker: the subject is how a worker's reads, readiness and cache behave while its
    # Redis is gone and once it is back, not how requests are spread over workers.
    env = app_env(
        faults_database,
        own_redis.url,
        APP_KEY_PREFIX=f"redis-{uuid.uuid4().hex[:8]}",
        APP_WORKERS="1",
    )
    server = serve(env)
    base = server.base
    created = authed.post(
        f"{base}/api/v1/projects", json={"name": f"redis-fault-{uuid.uuid4().hex}"}, timeout=5
    )
    assert created.status_code == 201, created.text
    detail = base + created.headers["Location"]
    listing = f"{base}/api/v1/projects?limit=5"

    def cache_hit() -> bool:
        return authed.get(detail, timeout=READ_TIMEOUT).headers.get("X-Cache") == "hit"

    poll(cache_hit, 10, "a cache hit before the outage")

    reader = Reader([detail, listing])
    reader.start()
    try:
        poll(lambda: len(reader.results) >= 10, 10, "reads before the outage")

        own_redis.stop()
        reader.phase = "outage"  # reads that start from now on find no Redis

        def redis_unavailable() -> bool:
            return authed.get(f"{base}/health/ready", timeout=READ_TIMEOUT).status_code == 503

        poll(redis_unavailable, 5, "readiness 503 while Redis is down")
        ready = authed.get(f"{base}/health/ready", timeout=READ_TIMEOUT)
        assert ready.headers["Content-Type"] == "application/problem+json"
        assert ready.json()["checks"] == {"database": "ok", "redis": "unavailable"}
        assert authed.get(f"{base}/health/live", timeout=READ_TIMEOUT).status_code == 200
        # Writes keep answering too; the cache they cannot drop is gone with the old Redis.
        during = authed.post(
            f"{base}/api/v1/projects", json={"name": f"during-{uuid.uuid4().hex}"}, timeout=5
        )
        assert during.status_code == 201, during.text
        poll(lambda: len(reader.in_phase("outage")) >= 20, 10, "reads during the outage")

        reader.phase = "after"
        own_redis.start()
        poll(
            lambda: authed.get(f"{base}/health/ready", timeout=READ_TIMEOUT).status_code == 200,
            10,
            "readiness 200 after Redis is back",
        )
        poll(cache_hit, 10, "a cache hit after Redis is back")
        after = authed.get(base + during.headers["Location"], timeout=READ_TIMEOUT)
        assert after.status_code == 200
    finally:
        reader.halt.set()
        reader.join(timeout=READ_TIMEOUT * 2)

    failures = [r for r in reader.results if r[1] != 200]
    assert not failures, failures[:10]
    outage = reader.in_phase("outage")
    # Bypassed, not served from a cache nobody can reach.
    assert all(cache is None for _, _, cache in outage), outage[:10]
    assert "cache bypassed, redis unavailable" in server.log()


@pytest.mark.slow
def test_write_during_redis_write_pause_is_visible_once_redis_takes_writes(
    own_redis: Any, faults_database: str, serve: Callable[..., Any], poll: Callable[..., float]
) -> None:
    """Redis refusing writes for a moment (a FAILOVER's CLIENT PAUSE WRITE) while a write commits:
    the write answers 201, and its invalidation, retried every 0.1 s, lands as soon as Redis takes
    writes again, long before the entries' TTL (30 s)."""
    env = app_env(faults_database, own_redis.url, APP_KEY_PREFIX=f"redis-{uuid.uuid4().hex[:8]}")
    server = serve(env)
    prefix = uuid.uuid4().hex
    listing = f"{server.base}/api/v1/projects?name={prefix}"
    first = authed.post(
        f"{server.base}/api/v1/projects", json={"name": f"{prefix}-first"}, timeout=5
    )
    assert first.status_code == 201
    poll(
        lambda: authed.get(listing, timeout=READ_TIMEOUT).headers.get("X-Cache") == "hit",
        10,
        "the listing cached",
    )

    def names() -> set[str]:
        return {item["name"] for item in authed.get(listing, timeout=READ_TIMEOUT).json()["items"]}

    admin = redis_lib.Redis.from_url(own_redis.url)
    admin.client_pause(3000, all=False)  # reads still answered
    try:
        second = authed.post(
            f"{server.base}/api/v1/projects", json={"name": f"{prefix}-second"}, timeout=5
        )
        assert second.status_code == 201  # committed in PostgreSQL
    finally:
        admin.client_unpause()
        admin.close()
    assert "cache not invalidated" in server.log()
    # Well under the 30 s TTL: only the retry can make this pass.
    poll(lambda: f"{prefix}-second" in names(), 5, "the write visible to every worker")
