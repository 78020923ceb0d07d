"""Metrics across the worker processes of either server (granian, the default, and gunicorn),
scraped as Prometheus would, and by Prometheus."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from support.processes import Server, app_env, authed, running_server, shared_servers
from support.servers import free_port, wait_until

pytestmark = pytest.mark.slow
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
REQUESTS = 50
SERVERS = pytest.mark.parametrize("server_kind", ["granian", "gunicorn"])


@pytest.fixture
def metrics_database(migrated_database: Callable[[str], str]) -> str:
    # A copy per test (milliseconds): a module-scoped one would make the module's tests, each
    # starting its own server, one scheduling unit on one worker (tests/conftest.py).
    return migrated_database("fns_metrics")


@pytest.fixture(scope="module")
def metrics_servers(
    migrated_database: Callable[[str], str], redis_url: str
) -> Iterator[Callable[[str], Server]]:
    """``metrics_servers(kind)``: a server of that kind with two workers and metrics on, for
    the tests that only send it requests and scrape it (each compares counts with its own
    starting point, or asks for at least its own requests)."""
    database = migrated_database("fns_metrics_shared")

    def env_of(kind: str) -> dict[str, str]:
        return metrics_env(database, redis_url, kind, FNS_BUILD_REVISION="0123abcd")[0]

    with shared_servers(env_of, workers=2) as server:
        yield server


def metrics_bind(server: Server) -> str:
    return server.env["APP_METRICS_BIND"]


def metrics_env(
    database_url: str, redis_url: str, server_kind: str = "granian", **extra: str
) -> tuple[dict[str, str], str]:
    bind = f"127.0.0.1:{free_port()}"
    env = app_env(
        database_url,
        redis_url,
        APP_SERVER=server_kind,
        APP_METRICS_ENABLED="true",
        APP_METRICS_BIND=bind,
        APP_LOG_LEVEL="INFO",
        **extra,
    )
    return env, bind


def scrape(bind: str) -> dict[str, float]:
    """Every sample of the metrics endpoint: "name{label=value,...}" -> value."""
    response = requests.get(f"http://{bind}/metrics", timeout=5)
    assert response.status_code == 200
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


def total(samples: dict[str, float], name: str) -> float:
    return sum(v for key, v in samples.items() if key.startswith(name + "{"))


@SERVERS
def test_two_workers_fifty_requests(
    metrics_servers: Callable[[str], Server], server_kind: str
) -> None:
    server = metrics_servers(server_kind)
    bind = metrics_bind(server)
    assert len(server.workers()) == 2
    earlier = scrape(bind)  # start-up probes, and the requests of tests before this one
    before = total(earlier, "fns_http_requests_total")
    durations_before = total(earlier, "fns_http_request_duration_seconds_count")
    for n in range(REQUESTS):
        path = "/health/ready" if n % 2 else "/api/v1/projects"
        assert authed.get(server.base + path, timeout=5).status_code == 200
    samples = scrape(bind)
    assert total(samples, "fns_http_requests_total") - before >= REQUESTS
    assert total(samples, "fns_http_request_duration_seconds_count") - durations_before >= REQUESTS
    (build,) = [key for key in samples if key.startswith("fns_build_info{")]
    assert "revision=0123abcd" in build
    assert samples[build] == 1
    # Not on the API's listener, and the metrics listener serves nothing else.
    assert authed.get(server.base + "/metrics", timeout=5).status_code == 404
    if server_kind == "gunicorn":
        assert "metrics on http://" in server.log()


def worker_files(directory: Path, pid: int) -> set[str]:
    return {path.name for path in directory.glob(f"*_{pid}.db")}


@SERVERS
def test_dead_workers_live_gauges_are_dropped(
    metrics_database: str, redis_url: str, tmp_path: Path, server_kind: str
) -> None:
    """gunicorn drops them as the worker exits (child_exit); granian, which has no such hook,
    respawns the worker, and the next scrape drops them."""
    directory = tmp_path / "multiproc"
    env, bind = metrics_env(metrics_database, redis_url, server_kind)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    directory.mkdir()
    (directory / "counter_999999.db").write_bytes(b"stale, from an earlier run")
    with running_server(env, workers=2) as server:
        assert not (directory / "counter_999999.db").exists(), "an earlier run's files stayed"
        for _ in range(20):  # /health/ready checks a connection out of each worker's pool
            assert authed.get(server.base + "/health/ready", timeout=5).ok
        # A worker that has both a live gauge and a counter (one whose request was not counted
        # yet has only the gauge, and would prove nothing about counters staying).
        with_gauge = [
            pid
            for pid in server.workers()
            if {f"gauge_livesum_{pid}.db", f"counter_{pid}.db"} <= worker_files(directory, pid)
        ]
        assert with_gauge, sorted(p.name for p in directory.iterdir())
        victim = with_gauge[0]
        counted = total(scrape(bind), "fns_http_requests_total")
        os.kill(victim, signal.SIGKILL)
        wait_until(
            lambda: victim not in server.workers() and len(server.workers()) == 2,
            15,
            "worker replaced",
        )
        wait_until(
            lambda: (
                scrape(bind) is not None
                and f"gauge_livesum_{victim}.db" not in worker_files(directory, victim)
            ),
            10,
            "dead worker's live gauge dropped",
        )
        # Its counters stay: a counter must not go backwards when a worker goes.
        assert f"counter_{victim}.db" in worker_files(directory, victim)
        assert total(scrape(bind), "fns_http_requests_total") >= counted


@dataclass
class Prometheus:
    base: str
    process: subprocess.Popen[bytes]
    log: Path

    def wait_ready(self) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"prometheus exited {self.process.returncode}:\n{self.log.read_text()}")
            return requests.get(f"{self.base}/-/ready", timeout=1).ok

        wait_until(ready, 60, "Prometheus")


@contextmanager
def prometheus(target: str) -> Iterator[Prometheus]:
    """Prometheus scraping ``target`` every second, started but not waited for (it may start
    while the target does: it scrapes again every second)."""
    workdir = Path(tempfile.mkdtemp(prefix="fns-prom-", dir="/tmp"))
    port = free_port()
    (workdir / "prometheus.yml").write_text(
        textwrap.dedent(
            f"""\
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: flask-nix-stack
                static_configs:
                  - targets: ["{target}"]
            """
        )
    )
    log_path = workdir / "prometheus.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield Prometheus(f"http://127.0.0.1:{port}", process, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def query(base: str, promql: str) -> list[dict[str, object]]:
    response = requests.get(f"{base}/api/v1/query", params={"query": promql}, timeout=5)
    body = response.json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def test_prometheus_scrapes_the_server(metrics_servers: Callable[[str], Server]) -> None:
    if not Path(PROMETHEUS).exists():
        pytest.skip("prometheus not installed (apt-get install prometheus)")
    server = metrics_servers("granian")  # the default server
    route = "/api/v1/projects"
    # The server is shared: Prometheus must see this test's requests on top of earlier ones.
    earlier = scrape(metrics_bind(server)).get(
        f"fns_http_requests_total{{method=GET,route={route},status=200}}", 0.0
    )
    with prometheus(metrics_bind(server)) as prometheus_server:
        prometheus_server.wait_ready()
        prom = prometheus_server.base
        for _ in range(REQUESTS):
            assert authed.get(server.base + route, timeout=5).ok

        def counted() -> bool:
            result = query(
                prom, f'sum(fns_http_requests_total{{route="{route}",method="GET",status="200"}})'
            )
            seen = float(result[0]["value"][1]) if result else 0.0  # type: ignore[index]
            return seen >= earlier + REQUESTS

        wait_until(counted, 30, "Prometheus sees the requests")
        (up,) = query(prom, 'up{job="flask-nix-stack"}')
        assert up["value"][1] == "1"  # type: ignore[index]
        buckets = f'fns_http_request_duration_seconds_bucket{{route="{route}"}}'
        latency = query(prom, f"histogram_quantile(0.99, sum by (le) ({buckets}))")
        assert latency, "no latency histogram"
        assert query(prom, "fns_build_info")
