"""Fixtures: real PostgreSQL and Redis for the session, one SAVEPOINT-isolated test at a time."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import Connection

from server.config import Settings
from server.infra import migration_commands
from server.infra.database import db

from support.apps import build_app
from support.auth import (
    AuthenticatedClient,
    client_of,
    make_principal,
    make_token,
    set_default_token,
)
from support.processes import app_env, run_cli
from support.servers import (
    MissingTool,
    Postgres,
    find_postgres_bindir,
    postgres_version,
    start_postgres,
    start_redis,
)
from support.settings import make_settings

TEST_DATABASE = "fns_test"
MIGRATED_DATABASE = "fns_migrated"
# Every app's test_client() sends the current test's token (tests/support/auth.py).
Flask.test_client_class = AuthenticatedClient

# Files whose tests must share one pytest-xdist worker: the fuzzing counts its cases across
# the whole module; the hostile-HTTP tests' gunicorn-only cases use the server the module's
# parametrized cases start (split by parameter, they could start a second gunicorn, database
# and seed on the other worker). (xdist's own xdist_group does not work with pytest 9.)
ONE_WORKER_FILES = ("tests/fuzz/test_schemathesis.py", "tests/test_hostile_http.py")
# Handed out first, in this order: the longest units (measured with --durations and summed per
# work_unit below: the build replay, the clusters, the fuzzing, then what starts servers, stacks
# or breaks them; the command line runs in the test's process now), so that the many short tests
# fill in around them at the end instead of waiting for them.
LONGEST_FIRST = (
    "tests/nix/test_build_replay.py",
    "tests/scale/test_scale_out.py",
    "tests/fuzz/",
    "tests/faults/",
    "tests/stack/",
    "tests/nix/test_module_units_run.py",
    "tests/test_serve.py",
    "tests/test_docs_page.py",
    "tests/test_hostile_http.py",
    "tests/test_cli.py",
    "tests/test_metrics_servers.py",
    "tests/nix/test_module_nginx_errors.py",
    "tests/scale/",
    "tests/test_migrations.py",
    "tests/test_cli_access.py",
    "tests/test_tracing.py",
    "tests/test_bad_input.py",
    "tests/test_tls_backends.py",
)
UNITS_FILE = pytest.StashKey[Path]()


def work_unit(item: pytest.Item) -> str:
    """The scheduling unit of a test: the tests of ONE_WORKER_FILES together; the tests of a
    file that share a module- or class-scoped fixture (a server, a cluster, a migrated
    database) together, per parameter of those fixtures, so that each set-up happens on one
    worker only; any other test alone."""
    path = item.nodeid.split("::", 1)[0]
    if path.endswith(ONE_WORKER_FILES):
        return path
    if not isinstance(item, pytest.Function):  # only functions have fixtures
        return item.nodeid
    definitions = item._fixtureinfo.name2fixturedefs  # no public API lists a test's fixtures
    shared = [
        name
        for name in item.fixturenames
        if name in definitions and definitions[name][-1].scope in {"class", "module", "package"}
    ]
    if not shared:
        return item.nodeid
    callspec = getattr(item, "callspec", None)
    params = callspec.params if callspec is not None else {}
    return path + "".join(f"[{name}={params[name]!r}]" for name in sorted(shared) if name in params)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On a pytest-xdist worker: write each test's unit for the controller's scheduler."""
    target = getattr(config, "workerinput", {}).get("fns_units_file")
    if target is None:
        return
    # Every worker collects the same tests: whichever writes last, the file is the same.
    partial = Path(f"{target}.{os.getpid()}")
    partial.write_text(json.dumps({item.nodeid: work_unit(item) for item in items}))
    partial.replace(target)


def pytest_report_header(config: pytest.Config) -> str:
    """Which PostgreSQL the servers the suite starts are (the first initdb found)."""
    try:
        return f"PostgreSQL: {postgres_version()} ({find_postgres_bindir()})"
    except (MissingTool, OSError, subprocess.CalledProcessError) as exc:
        return f"PostgreSQL: {exc}"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto`: one worker more than the CPUs this process may run on (pyproject's
    --maxprocesses caps it). With one worker per CPU the suite left them idle an eighth of the
    time, waiting on servers that boot, drain or stop (288 CPU-s in 166 s on 2 CPUs); a third
    worker fills that: 148 s. PYTEST_XDIST_AUTO_NUM_WORKERS still decides when set."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # pytest-xdist's own hook reads it
    return len(os.sched_getaffinity(0)) + 1


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """On the controller: tell each worker where to write the units (work_unit)."""
    config = node.config
    if UNITS_FILE not in config.stash:
        directory = Path(tempfile.mkdtemp(prefix="fns-xdist-"))
        config.stash[UNITS_FILE] = directory / "units.json"
        config.add_cleanup(lambda: shutil.rmtree(directory, ignore_errors=True))
    node.workerinput["fns_units_file"] = str(config.stash[UNITS_FILE])


def rank(unit: str) -> int:
    """Where LONGEST_FIRST puts a unit: its index there, or after all of them."""
    for index, prefix in enumerate(LONGEST_FIRST):
        if unit.startswith(prefix):
            return index
    return len(LONGEST_FIRST)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Tests go to workers unit by unit (work_unit), the units of LONGEST_FIRST first, then
    the rest in collection order; a worker gets more once it has at most two tests left."""
    from xdist.scheduler import LoadScopeScheduling

    class Scheduling(LoadScopeScheduling):  # type: ignore[misc]
        units: dict[str, str] | None = None
        collection: list[str] | None  # xdist's, untyped: the node ids, once every node has them

        def _split_scope(self, nodeid: str) -> str:
            return (self.units or {}).get(nodeid, nodeid)

        def schedule(self) -> None:
            if self.collection is not None or not self._check_nodes_have_same_collection():
                super().schedule()  # more nodes later, or collections that differ (an error)
                return
            units_file = config.stash[UNITS_FILE]
            # No file: a worker failed before writing it; xdist reports that, tests go alone.
            self.units = json.loads(units_file.read_text()) if units_file.exists() else {}
            collection = list(next(iter(self.registered_collections.values())))
            queue: dict[str, dict[str, bool]] = {}
            for nodeid in collection:
                queue.setdefault(self._split_scope(nodeid), {})[nodeid] = False
            for unit in sorted(queue, key=rank):  # stable: collection order within a rank
                self.workqueue[unit] = queue[unit]
            self.collection = collection
            # As LoadScopeScheduling starts: a unit each, then a second one, so that every
            # worker knows the test after its current one (it waits for that before running).
            for node in self.nodes:
                if self.workqueue:
                    self._assign_work_unit(node)
            for node in self.nodes:
                self._reschedule(node)

    return Scheduling(config, log)


CONNECTION = pytest.StashKey[Connection]()


@pytest.fixture(scope="session")
def pg() -> Iterator[Postgres]:
    try:
        server = start_postgres()
    except MissingTool as exc:
        pytest.exit(f"cannot start PostgreSQL: {exc}", returncode=3)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Any]:
    try:
        server = start_redis()
    except MissingTool as exc:
        pytest.exit(f"cannot start Redis: {exc}", returncode=3)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: Any) -> str:
    return str(redis_server.url)


@pytest.fixture(scope="session")
def database_url(pg: Postgres) -> str:
    return pg.create_database(TEST_DATABASE)


@pytest.fixture(scope="session")
def migrated_database(pg: Postgres, redis_url: str) -> Callable[[str], str]:
    """``migrated_database(name)``: the URL of a new database with the schema at head and the
    session's bootstrap admin token (support/processes.app_env), for servers and commands
    started with ``app_env`` (the development secret key).

    `flask-nix-stack db upgrade` runs once per session, as on a fresh host; each database is a
    copy of that one (CREATE DATABASE ... TEMPLATE, milliseconds instead of a second of CPU).
    Tests of the migrations and of `db upgrade` itself run it on empty databases of their own.
    """
    run_cli("db", "upgrade", env=app_env(pg.create_database(MIGRATED_DATABASE), redis_url))

    def create(name: str) -> str:
        return pg.create_database(name, template=MIGRATED_DATABASE)

    return create


@pytest.fixture(scope="session")
def settings(database_url: str, redis_url: str) -> Settings:
    return make_settings(database_url, redis_url)


@pytest.fixture(scope="session")
def app(settings: Settings) -> Flask:
    app = build_app(settings)
    migration_commands.init_app(app)
    with app.app_context():
        upgrade()  # the schema comes from the migrations, as in production
        # Committed once, so every app on this database sees it, in a test's transaction or
        # not: every test client acts as this principal unless told otherwise (support/auth.py).
        set_default_token(make_token(make_principal("tester")))
    return app


@pytest.fixture(autouse=True)
def _isolated(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test runs in a transaction rolled back afterwards; the app's commits are SAVEPOINTs."""
    if "app" not in request.fixturenames:
        yield
        return
    app: Flask = request.getfixturevalue("app")
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        monkeypatch.setitem(db.engines, None, connection)
        monkeypatch.setitem(
            db.session.session_factory.kw, "join_transaction_mode", "create_savepoint"
        )
        request.node.stash[CONNECTION] = connection
        try:
            yield
        finally:
            outer.rollback()
            connection.close()
    redis_lib.Redis.from_url(app.extensions["settings"].redis_url.get_secret_value()).flushdb()


@pytest.fixture
def make_app(
    request: pytest.FixtureRequest, app: Flask, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Flask]:
    """``make_app(**settings)``: another app on the test database, in this test's transaction."""

    def make(**overrides: Any) -> Flask:
        urls = {
            "database_url": settings.database_url.get_secret_value(),
            "redis_url": settings.redis_url,
        }
        other = build_app(make_settings(**{**urls, **overrides}))
        with other.app_context():
            monkeypatch.setitem(db.engines, None, request.node.stash[CONNECTION])
        return other

    return make


@pytest.fixture
def client(app: Flask) -> AuthenticatedClient:
    return client_of(app)
