"""PostgreSQL unreachable or slow: 503 problem+json, never a 500; liveness unaffected."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from server.config import Settings
from server.infra.database import db

from support.apps import build_app
from support.auth import bearer, client_of, make_principal, make_token
from support.servers import Postgres, free_port, wait_until
from support.settings import make_settings


@pytest.fixture
def no_db_app(settings: Settings, app: Flask) -> Flask:
    url = f"postgresql+psycopg2://nobody@127.0.0.1:{free_port()}/none"
    return build_app(make_settings(url, settings.redis_url, db_connect_timeout=1))


def test_api_answers_503(no_db_app: Flask) -> None:
    client = client_of(no_db_app)
    for response in (
        client.get("/api/v1/projects"),
        client.post("/api/v1/tags", json={"name": "x"}),
    ):
        assert response.status_code == 503
        assert response.mimetype == "application/problem+json"
        assert response.headers["Retry-After"] == "1"
        assert "psycopg2" not in response.get_data(as_text=True)


def test_readiness_names_the_database(no_db_app: Flask) -> None:
    client = client_of(no_db_app)
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json["checks"] == {"database": "unavailable", "redis": "ok"}
    assert client.get("/health/live").status_code == 200


@pytest.fixture
def slow_app(settings: Settings, app: Flask) -> Flask:
    slow = build_app(
        make_settings(
            settings.database_url.get_secret_value(),
            settings.redis_url,
            db_statement_timeout_ms=100,
        )
    )

    @slow.get("/slow")
    def slow_query() -> str:
        db.session.execute(text("SELECT pg_sleep(5)"))
        return "done"

    return slow


def test_statement_timeout_cancels_slow_queries(slow_app: Flask) -> None:
    client = client_of(slow_app)
    response = client.get("/slow")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert client.get("/api/v1/projects").status_code == 200  # the app recovers at once


def test_exhausted_pool_answers_503(settings: Settings, app: Flask) -> None:
    """No free connection within APP_DB_POOL_TIMEOUT: 503, not a 500."""
    small = build_app(
        make_settings(
            settings.database_url.get_secret_value(),
            settings.redis_url,
            db_pool_size=1,
            db_max_overflow=0,
            db_pool_timeout=0.2,
        )
    )
    with small.app_context():
        held = db.engine.connect()  # the pool's only connection
        try:
            response = client_of(small).get("/api/v1/projects")
        finally:
            held.close()
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert client_of(small).get("/api/v1/projects").status_code == 200


@pytest.fixture
def doomed_app(
    pg: Postgres, migrated_database: Callable[[str], str], redis_url: str
) -> Iterator[tuple[Flask, str]]:
    """An app on a database of its own (a test's transaction must survive) whose POST
    /doomed reads, has its backend terminated, then answers 200 with its transaction open."""
    url = migrated_database("fns_doomed")
    doomed = build_app(make_settings(url, redis_url))
    database = str(make_url(url).database)  # not split from the URL: a socket dir has slashes

    @doomed.post("/doomed")
    def read_then_lose_the_connection() -> str:
        pid = db.session.scalar(select(func.pg_backend_pid()))
        admin = pg.connect(database)
        try:
            with admin.cursor() as cur:
                cur.execute("SELECT pg_terminate_backend(%s)", (pid,))

                def gone() -> bool:
                    cur.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,))
                    return cur.fetchone() is None

                wait_until(gone, 10, "the backend gone")
        finally:
            admin.close()
        return "made"

    with doomed.app_context():
        token = make_token(make_principal("doomed"))
    yield doomed, token
    with doomed.app_context():
        db.engine.dispose()


def test_connection_lost_before_the_end_of_a_transaction_keeps_the_answer(
    doomed_app: tuple[Flask, str], caplog: pytest.LogCaptureFixture
) -> None:
    """The transaction's rollback at the request's end fails on the dead connection: the
    answer already made stays, the loss is logged, and the pool replaces the connection."""
    doomed, token = doomed_app
    client = client_of(doomed)
    response = client.post("/doomed", headers=bearer(token))
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "made"
    assert "database connection lost at the end of a request" in caplog.text
    again = client.post("/doomed", headers=bearer(token))
    assert again.status_code == 200  # a new connection, lost in its turn
