"""State shared through real backends: one rate-limit budget across two gunicorn instances, and
optimistic concurrency between two clients racing through one gunicorn."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests

from support.processes import authed

TIMEOUT = 5.0
SECURITY_HEADERS = ("X-Content-Type-Options", "Content-Security-Policy", "X-Frame-Options")


@pytest.mark.slow
def test_rate_limit_is_shared_by_two_instances(
    fault_env: dict[str, str], serve: Callable[..., Any]
) -> None:
    # Same Redis and APP_KEY_PREFIX (fault_env): one budget for the client address. One
    # worker each: the budget is shared by the two instances (two processes), as it would be
    # by their workers.
    limits = {
        "APP_RATELIMIT_ENABLED": "true",
        "APP_RATELIMIT_DEFAULT": "10 per minute",
        "APP_WORKERS": "1",
    }
    first, second = serve(fault_env, **limits), serve(fault_env, **limits)
    bases = [first.base, second.base]

    answers = [authed.get(f"{bases[n % 2]}/api/v1/projects", timeout=TIMEOUT) for n in range(10)]
    assert [a.status_code for a in answers] == [200] * 10
    # By design the X-RateLimit-* headers come only with the 429.
    assert not any("X-RateLimit-Limit" in a.headers for a in answers)

    for base in (bases[0], bases[1]):  # the 11th and 12th, one on each instance
        limited = authed.get(f"{base}/api/v1/projects", timeout=TIMEOUT)
        assert limited.status_code == 429
        assert limited.headers["Content-Type"] == "application/problem+json"
        assert limited.json()["type"].endswith("/rate-limited")
        # Flask-Limiter rounds the reset time up by a second: 61 is a safe answer for 60.
        assert 1 <= int(limited.headers["Retry-After"]) <= 61
        assert limited.headers["X-RateLimit-Limit"] == "10"
        assert limited.headers["X-RateLimit-Remaining"] == "0"
        reset = float(limited.headers["X-RateLimit-Reset"])
        assert time.time() - 5 < reset <= time.time() + 62
        for header in SECURITY_HEADERS:
            assert header in limited.headers, header
    # Health probes are exempt: a limited client's load balancer still sees the instance.
    for base in bases:
        assert authed.get(f"{base}/health/ready", timeout=TIMEOUT).status_code == 200


def race(url: str, etag: str, titles: tuple[str, str]) -> list[requests.Response]:
    """PATCH ``url`` twice at the same instant with the same If-Match."""
    barrier = threading.Barrier(len(titles))
    answers: dict[str, requests.Response] = {}

    def patch(title: str) -> None:
        barrier.wait(timeout=TIMEOUT)
        answers[title] = authed.patch(
            url, json={"title": title}, headers={"If-Match": etag}, timeout=TIMEOUT
        )

    threads = [threading.Thread(target=patch, args=(title,)) for title in titles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIMEOUT * 2)
    return [answers[title] for title in titles]


@pytest.mark.slow
def test_racing_writers_cannot_both_win(
    fault_env: dict[str, str], serve: Callable[..., Any]
) -> None:
    # Two threads: the PATCHes run at once, each on a connection of its own (one worker is
    # enough for that; the race is decided in PostgreSQL).
    server = serve(fault_env, APP_THREADS="2", APP_WORKERS="1")
    base = server.base
    project = authed.post(
        f"{base}/api/v1/projects", json={"name": f"race-{uuid.uuid4().hex}"}, timeout=TIMEOUT
    ).json()
    created = authed.post(
        f"{base}/api/v1/tasks", json={"project_id": project["id"], "title": "t0"}, timeout=TIMEOUT
    )
    url = base + created.headers["Location"]

    for round_ in range(6):
        reads = [authed.get(url, timeout=TIMEOUT) for _ in range(2)]
        etag = reads[0].headers["ETag"]
        assert reads[1].headers["ETag"] == etag  # both clients saw the same version
        version = reads[0].json()["version"]
        titles = (f"a-{round_}", f"b-{round_}")
        answers = race(url, etag, titles)

        statuses = sorted(a.status_code for a in answers)
        assert statuses in ([200, 409], [200, 412]), [a.text for a in answers]
        winner = titles[[a.status_code for a in answers].index(200)]
        loser = next(a for a in answers if a.status_code != 200)
        assert loser.headers["Content-Type"] == "application/problem+json"
        final = authed.get(url, timeout=TIMEOUT).json()
        assert final["title"] == winner  # the winner's change, and only it
        assert final["version"] == version + 1
