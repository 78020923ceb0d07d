"""Fault-injection fixtures: real gunicorn processes against PostgreSQL and Redis we can break.

The helpers are exposed as fixtures (factories), not imported: several test directories have a
``conftest.py``, so ``from conftest import ...`` would be ambiguous.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from clirun import app_env, run_cli, script
from servers import (
    Postgres,
    Redis,
    find_postgres_bindir,
    free_port,
    start_postgres,
    start_redis,
    wait_until,
)

GUNICORN = script("gunicorn")
# Short enough that a test waiting on a stop stays quick, long enough for a blocked request.
GRACEFUL_TIMEOUT = 10
STOP_TIMEOUT = 30.0


def child_pids(pid: int) -> set[int]:
    """The direct children of ``pid`` (gunicorn's workers), from /proc."""
    found: set[int] = set()
    # A task (or the whole process) may vanish while we read: that is an answer, not an error.
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                found.update(int(child) for child in (task / "children").read_text().split())
    return found


@dataclass
class Gunicorn:
    """One gunicorn master started with the server's config module; its log goes to a file."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    env: dict[str, str]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def workers(self) -> set[int]:
        return child_pids(self.process.pid)

    def stop(self) -> int:
        """SIGTERM and wait; SIGKILL if it outlives the graceful timeout. The exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        return self.process.returncode


@dataclass
class GunicornFactory:
    tmp: Path
    started: list[Gunicorn] = field(default_factory=list)

    def __call__(self, env: dict[str, str], **overrides: str) -> Gunicorn:
        port = free_port()
        log_path = self.tmp / f"gunicorn-{port}.log"
        full_env = {
            **env,
            "APP_BIND": f"127.0.0.1:{port}",
            "APP_GRACEFUL_TIMEOUT": str(GRACEFUL_TIMEOUT),
            **overrides,
        }
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [GUNICORN, "-c", "python:server.gunicorn_conf", "server.wsgi:app"],
                env=full_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = Gunicorn(process, port, log_path, full_env)
        self.started.append(server)
        try:
            wait_until(
                lambda: requests.get(f"{server.base}/health/live", timeout=1).ok,
                30,
                "gunicorn",
            )
            workers = int(full_env.get("APP_WORKERS", "2"))
            wait_until(lambda: len(server.workers()) == workers, 15, "gunicorn workers")
        except TimeoutError:
            server.stop()
            raise AssertionError(f"gunicorn did not start:\n{server.log()}") from None
        return server

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[Callable[..., Gunicorn]]:
    """Start gunicorn masters: ``gunicorn(env, APP_WORKERS="2")``; all stopped afterwards."""
    factory = GunicornFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.stop_all()


def migrated_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """A testing-profile environment for gunicorn whose database has the schema."""
    env = app_env(
        database_url,
        redis_url,
        APP_KEY_PREFIX=f"faults-{uuid.uuid4().hex[:8]}",
        APP_WORKERS="2",
        **extra,
    )
    run_cli("db", "upgrade", env=env)
    return env


@pytest.fixture(scope="session")
def faults_database(pg: Postgres) -> str:
    """One migrated database for the fault tests that share the session's PostgreSQL."""
    url = pg.create_database("fns_faults")
    run_cli("db", "upgrade", env=app_env(url, "redis://127.0.0.1:1/0"))
    return url


@pytest.fixture
def fault_env(faults_database: str, redis_url: str) -> dict[str, str]:
    """gunicorn environment on the shared servers, with its own Redis key prefix."""
    return app_env(
        faults_database,
        redis_url,
        APP_KEY_PREFIX=f"faults-{uuid.uuid4().hex[:8]}",
        APP_WORKERS="2",
    )


@dataclass
class RestartableRedis:
    """A Redis of our own that can be stopped and started again on the same port."""

    port: int
    server: Redis | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.server = start_redis(port=self.port)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


@pytest.fixture
def own_redis() -> Iterator[RestartableRedis]:
    redis = RestartableRedis(port=free_port())
    try:
        redis.start()
        yield redis
    finally:
        redis.stop()


@dataclass
class RestartablePostgres:
    """A PostgreSQL of our own, restartable on the same data directory and port."""

    server: Postgres

    def stop_fast(self) -> None:
        """SIGINT is PostgreSQL's fast shutdown: abort sessions, checkpoint, exit."""
        assert self.server.process is not None
        self.server.process.send_signal(signal.SIGINT)
        self.server.process.wait(timeout=STOP_TIMEOUT)

    def start(self) -> None:
        assert self.server.workdir is not None
        workdir = self.server.workdir
        # The same command line as tests/servers.py's start_postgres, on the kept data dir.
        with (workdir / "postgres.log").open("ab") as log:
            self.server.process = subprocess.Popen(
                [
                    find_postgres_bindir() / "postgres",
                    "-D",
                    workdir / "data",
                    "-p",
                    str(self.server.port),
                    "-k",
                    workdir,
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "max_connections=200",
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        wait_until(lambda: self.server.connect().close() is None, 30, "PostgreSQL restart")


@pytest.fixture
def own_postgres() -> Iterator[RestartablePostgres]:
    if os.environ.get("PGHOST"):
        pytest.skip("PGHOST names an external PostgreSQL: the test cannot restart it")
    server = start_postgres()
    try:
        yield RestartablePostgres(server)
    finally:
        server.stop()


def wait_for(check: Callable[[], bool], timeout: float, what: str, period: float = 0.1) -> float:
    """Poll ``check`` until true; seconds it took. Exceptions count as "not yet"."""
    start = time.monotonic()
    while True:
        with contextlib.suppress(Exception):
            if check():
                return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(period)


@pytest.fixture
def poll() -> Callable[..., float]:
    """``poll(check, timeout, what)``: bounded polling, as a fixture to avoid a shared import."""
    return wait_for


@pytest.fixture
def migrate() -> Callable[..., dict[str, str]]:
    """``migrate(database_url, redis_url, **APP_*)``: environment of a migrated database."""
    return migrated_env
