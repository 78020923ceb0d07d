"""Metrics recorded by the app, read from prometheus_client's registry in this process."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from flask import Flask, Response
from prometheus_client import REGISTRY
from sqlalchemy import create_engine

from server.config import Settings
from server.infra import metrics, metrics_exporter
from server.infra.build_info import REVISION

from support.auth import AuthenticatedClient
from support.servers import free_port, wait_until

PROJECT_ROUTE = "/api/v1/projects/<id:project_id>"


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def fns_samples() -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """Every series of this process's registry (other tests' apps add theirs too)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in REGISTRY.collect()
        if family.name.startswith("fns_")
        for sample in family.samples
    }


def test_requests_are_counted_by_route_template(client: AuthenticatedClient) -> None:
    before = value("fns_http_requests_total", route=PROJECT_ROUTE, method="GET", status="404")
    timed = value("fns_http_request_duration_seconds_count", route=PROJECT_ROUTE, method="GET")
    for project_id in (101, 102, 103):
        assert client.get(f"/api/v1/projects/{project_id}").status_code == 404
    after = value("fns_http_requests_total", route=PROJECT_ROUTE, method="GET", status="404")
    assert after - before == 3
    assert (
        value("fns_http_request_duration_seconds_count", route=PROJECT_ROUTE, method="GET") - timed
        == 3
    )


def test_labels_never_carry_raw_paths_or_ids(app: Flask, client: AuthenticatedClient) -> None:
    """Whatever clients send, label values come from fixed sets: cardinality stays bounded."""
    hostile = [
        "/api/v1/projects/987654321",
        "/api/v1/projects/not-an-id",
        "/no/such/path/123456789",
        "/api/v1/tasks/55555?limit=77777",
        "/%2e%2e/etc/passwd",
        "/docs/assets/../../../etc/passwd",
    ]
    before = fns_samples()
    for path in hostile:
        client.get(path)
    client.open("/api/v1/projects", method="BREW")
    client.open("/health/live", method="PROPFIND")
    routes = {rule.rule for rule in app.url_map.iter_rules()} | {metrics.UNMATCHED}
    seen_routes: set[str] = set()
    after = fns_samples()
    for name, pairs in after:
        labels = dict(pairs)
        if "route" in labels:
            seen_routes.add(labels["route"])
            # Series this test added name this app's routes (other tests' apps add their own).
            if (name, pairs) not in before:
                assert labels["route"] in routes, (name, labels)
        if "method" in labels:
            assert labels["method"] in metrics.METHODS | {"OTHER"}, (name, labels)
        if "status" in labels:
            assert labels["status"] in {str(code) for code in range(100, 600)}, (name, labels)
        for label in labels.values():
            assert not any(digits in label for digits in ("987654321", "123456789", "55555"))
            assert "passwd" not in label
            assert "BREW" not in label
    assert metrics.UNMATCHED in seen_routes  # the unknown paths were counted, as one series
    # A method the route lacks never matched a rule: one "unmatched" series, method OTHER.
    assert value("fns_http_requests_total", route=metrics.UNMATCHED, method="OTHER", status="405")


def test_cache_hits_and_misses(client: AuthenticatedClient) -> None:
    created = client.post("/api/v1/projects", json={"name": "metrics cache"})
    url = created.headers["Location"]
    hits, misses = (
        value("fns_cache_requests_total", result="hit"),
        value("fns_cache_requests_total", result="miss"),
    )
    assert client.get(url).headers["X-Cache"] == "miss"
    assert client.get(url).headers["X-Cache"] == "hit"
    assert client.get(url).headers["X-Cache"] == "hit"
    assert value("fns_cache_requests_total", result="miss") - misses == 1
    assert value("fns_cache_requests_total", result="hit") - hits == 2


def test_rate_limit_rejections(make_app: Callable[..., Flask]) -> None:
    limited = make_app(ratelimit_enabled=True, ratelimit_default="2 per minute")
    client = limited.test_client()
    before = value("fns_rate_limit_rejections_total", route="/api/v1/tags")
    statuses = [client.get("/api/v1/tags").status_code for _ in range(4)]
    assert statuses == [200, 200, 429, 429]
    assert value("fns_rate_limit_rejections_total", route="/api/v1/tags") - before == 2


def test_auth_failures_take_only_known_reasons() -> None:
    before = value("fns_auth_failures_total", reason="invalid_token")
    other = value("fns_auth_failures_total", reason="other")
    metrics.record_auth_failure("invalid_token")
    metrics.record_auth_failure("token eyJhbGciOi... from 10.1.2.3")  # never a label value
    assert value("fns_auth_failures_total", reason="invalid_token") - before == 1
    assert value("fns_auth_failures_total", reason="other") - other == 1


@pytest.mark.parametrize(
    ("status", "challenge", "reason"),
    [
        (401, "Bearer", "missing"),
        (401, 'Bearer error="invalid_token", error_description="expired"', "invalid_token"),
        (401, 'Bearer realm="api", error="invalid_request"', "invalid_request"),
        (403, 'Bearer error="insufficient_scope", scope="write"', "insufficient_scope"),
        (403, None, "forbidden"),
        (401, 'Bearer error="made_up_by_a_client"', "other"),
    ],
)
def test_refused_answers_count_as_auth_failures(
    make_app: Callable[..., Flask], status: int, challenge: str | None, reason: str
) -> None:
    """Whatever answers 401 or 403 is counted, by the challenge's RFC 6750 error code."""
    app = make_app()

    @app.get("/refuse")
    def refuse() -> Response:
        headers = {"WWW-Authenticate": challenge} if challenge else {}
        return Response(status=status, headers=headers)

    before = value("fns_auth_failures_total", reason=reason)
    assert app.test_client().get("/refuse").status_code == status
    assert value("fns_auth_failures_total", reason=reason) - before == 1


def test_dead_processes_live_gauges_are_pruned(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    for pid in (gone.pid, os.getpid()):
        (tmp_path / f"gauge_livesum_{pid}.db").write_bytes(b"")
        (tmp_path / f"counter_{pid}.db").write_bytes(b"")
    assert metrics_exporter.prune_dead(tmp_path) == [gone.pid]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"counter_{gone.pid}.db", f"counter_{os.getpid()}.db", f"gauge_livesum_{os.getpid()}.db"]
    )


def test_a_scrape_skips_files_still_being_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker creates its value file empty, then sizes it: a scrape in between answered 500."""
    from prometheus_client.mmap_dict import MmapedDict, mmap_key

    monkeypatch.setenv(metrics_exporter.ENV, str(tmp_path))
    written = MmapedDict(str(tmp_path / f"counter_{os.getpid()}.db"))
    written.write_value(mmap_key("fns_probe", "fns_probe_total", [], [], "probe"), 3.0, 0.0)
    written.close()
    (tmp_path / "counter_999998.db").write_bytes(b"")  # being created by another worker
    bind = f"127.0.0.1:{free_port()}"
    server = metrics_exporter.start_server(bind)
    try:
        response = requests.get(f"http://{bind}/metrics", timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    assert response.status_code == 200, response.text
    assert "fns_probe_total 3.0" in response.text


def test_idle_and_trickling_connections_cannot_pile_up_on_the_metrics_listener(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """prometheus_client's own listener gave each connection a thread with no timeout: 800 idle
    connections held 800 threads in the master. Here a full listener closes new connections at
    once, and a connection is cut at its deadline even while it trickles bytes."""
    monkeypatch.setenv(metrics_exporter.ENV, str(tmp_path))
    bind = f"127.0.0.1:{free_port()}"
    threads_before = threading.active_count()
    server = metrics_exporter.start_server(bind, max_connections=3, deadline=2.0)
    host, port = bind.split(":")
    held: list[socket.socket] = []
    try:
        held = [socket.create_connection((host, int(port)), timeout=30) for _ in range(40)]
        trickler = held[0]  # served: it sends a byte of its request line every 0.1 s

        def trickle() -> None:
            for byte in b"GET /metrics HTTP/1.1\r\nHost: x\r\n" * 100:
                try:
                    trickler.sendall(bytes([byte]))
                except OSError:  # cut
                    return
                time.sleep(0.1)

        threading.Thread(target=trickle, daemon=True).start()
        # 3 served (a thread and a deadline timer each) plus the accept loop; the other 37 are
        # closed by the listener without an answer. A read blocks until the peer closes (the
        # 30 s socket timeout is a failure bound, not a speed expectation).
        assert all(connection.recv(1) == b"" for connection in held[3:])
        assert threading.active_count() - threads_before <= 1 + 1 + 2 * 3  # + the trickle
        assert trickler.recv(1) == b""  # cut at the deadline, though never idle for long
        assert all(connection.recv(1) == b"" for connection in held[1:3])  # idle: cut too
        # The slots free again, each once its handler thread has returned, a moment after its
        # client saw the cut: until then a scrape is closed unanswered, as on a full listener.
        answers: list[int] = []

        def scraped() -> bool:
            try:
                answers.append(requests.get(f"http://{bind}/metrics", timeout=10).status_code)
            except requests.ConnectionError:
                return False
            return True

        wait_until(scraped, 10, "a scrape once the slots are free")
        assert answers == [200]
    finally:
        for connection in held:
            connection.close()
        server.shutdown()
        server.server_close()


def test_pool_in_use_and_overflow(settings: Settings) -> None:
    engine = create_engine(settings.database_url.get_secret_value(), pool_size=1, max_overflow=2)
    metrics.watch_pool(engine)
    in_use = value("fns_db_pool_connections_in_use")
    try:
        first = engine.connect()
        assert value("fns_db_pool_connections_in_use") - in_use == 1
        assert value("fns_db_pool_overflow_connections") == 0
        second = engine.connect()
        assert value("fns_db_pool_connections_in_use") - in_use == 2
        assert value("fns_db_pool_overflow_connections") == 1
        second.close()
        first.close()
        assert value("fns_db_pool_connections_in_use") == in_use
    finally:
        engine.dispose()


def test_build_info(app: Flask) -> None:
    version = metrics.package_version()
    assert version != "unknown"
    assert value("fns_build_info", version=version, revision=REVISION) == 1


@pytest.mark.parametrize("reason", sorted(metrics.AUTH_FAILURES))
def test_each_auth_reason_is_its_own_series(reason: str) -> None:
    before = value("fns_auth_failures_total", reason=reason)
    metrics.record_auth_failure(reason)
    assert value("fns_auth_failures_total", reason=reason) - before == 1
