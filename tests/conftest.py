"""Fixtures: real PostgreSQL and Redis for the session, one SAVEPOINT-isolated test at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis as redis_lib
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import Connection

from server.config import Settings
from server.infra import migration_commands
from server.infra.database import db

from support.apps import build_app
from support.auth import AuthenticatedClient, make_principal, make_token, set_default_token
from support.servers import MissingTool, Postgres, start_postgres, start_redis
from support.settings import make_settings

TEST_DATABASE = "fns_test"
# Every app's test_client() sends the current test's token (tests/support/auth.py).
Flask.test_client_class = AuthenticatedClient

# Files whose tests must share one pytest-xdist worker: the fuzzing counts its cases across
# the whole module. (xdist's own xdist_group does not work with pytest 9.)
ONE_WORKER_FILES = ("tests/fuzz/test_schemathesis.py",)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Tests go to workers one by one, as xdist's default does, except ONE_WORKER_FILES."""
    from xdist.scheduler import LoadScopeScheduling

    class Scheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if path.endswith(ONE_WORKER_FILES) else nodeid

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
def client(app: Flask) -> FlaskClient:
    return app.test_client()
