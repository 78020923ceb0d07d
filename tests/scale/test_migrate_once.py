"""Instances started at the same time all run `db upgrade`: the schema is migrated exactly once."""

from __future__ import annotations

import subprocess
import time

import psycopg2
import pytest

from server.infra.migration_status import MIGRATION_LOCK_KEY

from support.processes import app_env, script
from support.servers import Postgres

pytestmark = pytest.mark.slow
INSTANCES = 4


def waiting_for_lock(cur: psycopg2.extensions.cursor) -> int:
    cur.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND (classid::bigint << 32 | objid::bigint) = %s",
        (MIGRATION_LOCK_KEY,),
    )
    row = cur.fetchone()
    assert row is not None
    return int(row[0])


def test_simultaneous_upgrades_migrate_once(pg: Postgres, redis_url: str) -> None:
    """The test holds the migration lock until every instance waits on it, then lets go: all
    of them were inside `db upgrade` at once, and exactly one migrated."""
    database = "fns_migrate_once"
    url = pg.create_database(database)
    env = app_env(url, redis_url, APP_LOG_LEVEL="INFO")  # INFO: "Running upgrade" when it does
    holder = pg.connect(database)
    with holder.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    processes = [
        subprocess.Popen(
            [script("flask-nix-stack"), "db", "upgrade"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(INSTANCES)
    ]
    try:
        deadline = time.monotonic() + 60
        with holder.cursor() as cur:
            while waiting_for_lock(cur) < INSTANCES:
                assert time.monotonic() < deadline, "not every instance reached the lock"
                assert all(p.poll() is None for p in processes), "an instance exited early"
                time.sleep(0.05)
            cur.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
        outputs = [process.communicate(timeout=120)[0] for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        holder.close()
    assert [p.returncode for p in processes] == [0] * INSTANCES, outputs
    ran = [output for output in outputs if "Running upgrade  -> " in output]
    assert len(ran) == 1, outputs
    conn = pg.connect(database)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM alembic_version")
            assert cur.fetchone() == (1,)
    finally:
        conn.close()
