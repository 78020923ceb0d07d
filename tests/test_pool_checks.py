"""Pooled connections are checked before use without a round trip, and a dead one is replaced."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from server.infra import pool_checks


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url, pool_size=1, max_overflow=0, pool_pre_ping=False)
    yield engine
    engine.dispose()


def backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def terminate(database_url: str, pid: int) -> None:
    """End the backend from another connection, and wait until it is gone."""
    # Autocommit: pg_stat_activity is a snapshot taken once per transaction.
    other = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with other.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            deadline = time.monotonic() + 10
            while connection.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            ).scalar_one():
                assert time.monotonic() < deadline, "the backend did not end"
                time.sleep(0.05)
    finally:
        other.dispose()


def count_pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    pings: list[int] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(1)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return pings


def test_a_connection_the_server_closed_is_replaced_before_use(
    engine: Engine, database_url: str
) -> None:
    pool_checks.watch(engine)
    first = backend_pid(engine)
    terminate(database_url, first)
    assert backend_pid(engine) != first  # no error: the check saw the close and reconnected


def test_without_the_check_the_closed_connection_fails(engine: Engine, database_url: str) -> None:
    """What the check is for (so the test above can fail)."""
    terminate(database_url, backend_pid(engine))
    with pytest.raises(OperationalError):
        backend_pid(engine)


def test_a_connection_in_steady_use_is_not_pinged(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool_checks.watch(engine)
    pings = count_pings(engine, monkeypatch)
    pids = {backend_pid(engine) for _ in range(5)}
    assert len(pids) == 1
    assert pings == []


def test_an_idle_connection_is_pinged(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    pool_checks.watch(engine)
    pings = count_pings(engine, monkeypatch)
    backend_pid(engine)
    monkeypatch.setattr(pool_checks, "IDLE_PING_AFTER", -1.0)  # any pause counts as idle
    backend_pid(engine)
    assert pings == [1]
