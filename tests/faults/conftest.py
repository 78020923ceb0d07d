"""Fault-injection fixtures: real server processes against PostgreSQL and Redis we can break.

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

from support.processes import Server, app_env, start_server
from support.servers import (
    Postgres,
    Redis,
    find_postgres_bindir,
    free_port,
    start_postgres,
    start_redis,
    wait_until_connects,
)

# Short enough that a test waiting on a stop stays quick, long enough for a blocked request.
GRACEFUL_TIMEOUT = 10
STOP_TIMEOUT = 30.0


@dataclass
class ServerFactory:
    tmp: Path
    kind: str
    started: list[Server] = field(default_factory=list)

    def __call__(self, env: dict[str, str], **overrides: str) -> Server:
        settings = {"APP_SERVER": self.kind, "APP_GRACEFUL_TIMEOUT": str(GRACEFUL_TIMEOUT)}
        server = start_server(env, self.tmp, **{**settings, **overrides})
        self.started.append(server)
        return server

    def stop_all(self) -> None:
        for server in self.started:
            server.stop(STOP_TIMEOUT)


@pytest.fixture
def server_kind() -> str:
    """The server the fault tests start: the default; tests parametrize it to cover gunicorn."""
    return "granian"


@pytest.fixture
def serve(tmp_path: Path, server_kind: str) -> Iterator[Callable[..., Server]]:
    """Start servers: ``serve(env, APP_WORKERS="2")``; all stopped afterwards."""
    factory = ServerFactory(tmp_path, server_kind)
    try:
        yield factory
    finally:
        factory.stop_all()


def server_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """A server environment on a database that already has the schema, with a Redis key
    prefix of its own; two workers unless ``extra`` says otherwise."""
    return app_env(
        database_url,
        redis_url,
        **{"APP_KEY_PREFIX": f"faults-{uuid.uuid4().hex[:8]}", "APP_WORKERS": "2", **extra},
    )


@pytest.fixture
def env_for() -> Callable[..., dict[str, str]]:
    """``env_for(database_url, redis_url, **APP_*)``: server_env, as a fixture."""
    return server_env


@pytest.fixture(scope="session")
def faults_database(migrated_database: Callable[[str], str]) -> str:
    """One migrated database for the fault tests that share the session's PostgreSQL."""
    return migrated_database("fns_faults")


@pytest.fixture
def fault_env(faults_database: str, redis_url: str) -> dict[str, str]:
    """Server environment on the shared PostgreSQL and Redis, with its own Redis key prefix."""
    return server_env(faults_database, redis_url)


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
        wait_until_connects(self.server.connect, 30, "PostgreSQL restart")


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


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL of support/servers.Postgres as libpq (pg_dump, psql) reads it."""
    return url.replace("postgresql+psycopg2://", "postgresql://", 1)


@pytest.fixture
def migrated_copy(
    migrated_database: Callable[[str], str],
) -> Callable[[Postgres, str], str]:
    """``migrated_copy(server, name)``: the URL of a new database ``name`` on ``server`` (a
    PostgreSQL of the test's own) holding what the session's migrated template holds (the
    schema at head, the bootstrap admin token), copied with pg_dump | psql: CREATE DATABASE
    ... TEMPLATE reaches no other server, and `db upgrade` would cost a Python process and
    the migrations (about 2 CPU-s with coverage) for what tests/conftest.py's one upgrade
    already made."""

    def copy(server: Postgres, name: str) -> str:
        source = migrated_database(f"{name}_source")
        target = server.create_database(name)
        bindir = find_postgres_bindir()
        dump = subprocess.Popen(
            [bindir / "pg_dump", "--no-owner", "--no-privileges", libpq_url(source)],
            stdout=subprocess.PIPE,
        )
        restore = subprocess.run(
            [bindir / "psql", "-q", "-X", "-v", "ON_ERROR_STOP=1", libpq_url(target)],
            stdin=dump.stdout,
            capture_output=True,
            text=True,
            check=False,
        )
        assert dump.stdout is not None
        dump.stdout.close()
        dumped = dump.wait(timeout=60)
        assert restore.returncode == 0, restore.stderr
        assert dumped == 0, "pg_dump of the migrated template failed"
        return target

    return copy
