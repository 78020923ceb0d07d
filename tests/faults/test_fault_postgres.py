"""PostgreSQL restarted under gunicorn: 503 while down, the pool recovers, no 201 is lost."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests

from support.processes import SESSION_TOKEN, authed

TIMEOUT = 5.0
# What docs/fault-tests.md promises: readiness is back within this long after PostgreSQL is.
RECOVERY_SECONDS = 5.0


class Writer(threading.Thread):
    """POSTs projects in a loop; remembers the id of every one answered 201."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.committed: list[int] = []
        self.statuses: dict[int, int] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {SESSION_TOKEN}"
            self.loop(session)

    def loop(self, session: requests.Session) -> None:
        while not self.halt.is_set():
            try:
                response = session.post(
                    f"{self.base}/api/v1/projects",
                    json={"name": f"pg-fault-{uuid.uuid4().hex}"},
                    timeout=TIMEOUT,
                )
                status = response.status_code
            except requests.RequestException:
                status = 0
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status == 201:
                self.committed.append(response.json()["id"])
            time.sleep(0.01)


@pytest.mark.slow
def test_postgres_restart_recovers_without_losing_writes(
    own_postgres: Any,
    redis_url: str,
    serve: Callable[..., Any],
    migrate: Callable[..., dict[str, str]],
    poll: Callable[..., float],
) -> None:
    database_url = own_postgres.server.create_database("fns_pg_restart")
    server = serve(migrate(database_url, redis_url, APP_DB_CONNECT_TIMEOUT="2"))
    base = server.base
    writer = Writer(base)
    writer.start()
    try:
        poll(lambda: len(writer.committed) >= 20, 15, "writes before the restart")

        own_postgres.stop_fast()
        ready = authed.get(f"{base}/health/ready", timeout=TIMEOUT)
        assert ready.status_code == 503
        assert ready.headers["Content-Type"] == "application/problem+json"
        assert ready.json()["checks"] == {"database": "unavailable", "redis": "ok"}
        assert authed.get(f"{base}/health/live", timeout=TIMEOUT).status_code == 200
        down = authed.get(f"{base}/api/v1/projects", timeout=TIMEOUT)
        assert down.status_code == 503
        assert down.headers["Content-Type"] == "application/problem+json"
        assert down.headers["Retry-After"] == "1"
        assert down.json()["type"].endswith("/service-unavailable")
        committed_before = len(writer.committed)
        time.sleep(0.5)  # the writer keeps trying while the database is gone

        own_postgres.start()
        poll(
            lambda: authed.get(f"{base}/health/ready", timeout=TIMEOUT).status_code == 200,
            RECOVERY_SECONDS,
            "readiness after PostgreSQL restarted",
        )
        # The same gunicorn, its pools renewed: writes commit again.
        poll(lambda: len(writer.committed) >= committed_before + 20, 15, "writes after restart")
    finally:
        writer.halt.set()
        writer.join(timeout=TIMEOUT * 2)

    assert writer.statuses.get(503, 0) > 0, writer.statuses  # the outage was seen
    unexpected = {s: n for s, n in writer.statuses.items() if s not in (201, 503)}
    assert not unexpected, writer.statuses
    conn = own_postgres.server.connect("fns_pg_restart")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM projects WHERE id = ANY(%s)", (writer.committed,))
            stored = {row[0] for row in cur.fetchall()}
    finally:
        conn.close()
    assert set(writer.committed) - stored == set()
    # And through the API, from the recovered pool of every worker.
    for project_id in writer.committed[:: max(1, len(writer.committed) // 20)]:
        assert authed.get(f"{base}/api/v1/projects/{project_id}", timeout=TIMEOUT).ok
