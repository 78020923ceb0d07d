"""gunicorn under process faults: SIGTERM with requests in flight, a worker killed."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg2
import pytest
import requests

from support.processes import authed

TIMEOUT = 5.0


def create_project(base: str) -> dict[str, Any]:
    response = authed.post(
        f"{base}/api/v1/projects", json={"name": f"gunicorn-fault-{uuid.uuid4().hex}"}, timeout=5
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def blocked_on_locks(conn: Any, count: int) -> bool:
    """``count`` sessions of this database wait on a lock (our in-flight requests)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(cur.fetchone()[0] == count)


def new_connection(port: int) -> str:
    """What a new client meets: refused, reset, closed, timeout or answered."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            return "answered" if sock.recv(1024) else "closed"
    except ConnectionRefusedError:
        return "refused"
    except ConnectionResetError:
        return "reset"
    except TimeoutError:
        return "timeout"


@dataclass
class Drain:
    """What happened around a SIGTERM sent while two requests were blocked in PostgreSQL."""

    results: dict[int, requests.Response | Exception]
    exit_status: int
    new_while_draining: str
    late_socket_outcome: str
    descriptions: set[str]


def late_outcome(sock: socket.socket) -> str:
    """What a connection opened during the drain got in the end."""
    try:
        return "answered" if sock.recv(1024) else "closed"
    except ConnectionResetError:
        return "reset"
    except TimeoutError:
        return "timeout"
    finally:
        sock.close()


def sigterm_with_requests_in_flight(
    server: Any, database_url: str, poll: Callable[..., float]
) -> Drain:
    """Hold row locks, start one PATCH per sync worker, SIGTERM the master, then release."""
    graceful = int(server.env["APP_GRACEFUL_TIMEOUT"])
    projects = [create_project(server.base) for _ in range(2)]
    ids = [p["id"] for p in projects]
    dsn = database_url.replace("postgresql+psycopg2://", "postgresql://")
    locker = psycopg2.connect(dsn)
    watcher = psycopg2.connect(dsn)
    watcher.autocommit = True
    results: dict[int, requests.Response | Exception] = {}

    def patch(project_id: int) -> None:
        try:
            results[project_id] = authed.patch(
                f"{server.base}/api/v1/projects/{project_id}",
                json={"description": "finished after SIGTERM"},
                timeout=graceful + 10,
            )
        except requests.RequestException as exc:
            results[project_id] = exc

    threads = [threading.Thread(target=patch, args=(i,), daemon=True) for i in ids]
    late = socket.socket()
    late.settimeout(graceful + 5)
    try:
        with locker.cursor() as cur:
            cur.execute("SELECT id FROM projects WHERE id = ANY(%s) FOR UPDATE", (ids,))
        for thread in threads:
            thread.start()
        # One request per sync worker, each blocked inside PostgreSQL on our row locks.
        poll(lambda: blocked_on_locks(watcher, 2), 10, "both requests waiting on the lock")

        server.process.send_signal(signal.SIGTERM)
        poll(lambda: "Handling signal: term" in server.log(), 5, "the master handling SIGTERM")
        draining = new_connection(server.port)
        try:
            late.connect(("127.0.0.1", server.port))
            late.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        except OSError:
            pass  # refused: what late_outcome will report too
        time.sleep(1)
        assert all(thread.is_alive() for thread in threads)  # still held by the lock
        locker.commit()  # releases the row locks
        for thread in threads:
            thread.join(timeout=graceful + 10)
        status = server.process.wait(timeout=graceful)
        with watcher.cursor() as cur:
            cur.execute("SELECT description FROM projects WHERE id = ANY(%s)", (ids,))
            descriptions = {row[0] for row in cur.fetchall()}
        return Drain(results, status, draining, late_outcome(late), descriptions)
    finally:
        late.close()
        locker.close()
        watcher.close()


@pytest.mark.slow
def test_sigterm_finishes_requests_in_flight(
    fault_env: dict[str, str],
    faults_database: str,
    gunicorn: Callable[..., Any],
    poll: Callable[..., float],
) -> None:
    # Long enough that the held lock, not the statement timeout, decides when requests end.
    server = gunicorn(fault_env, APP_DB_STATEMENT_TIMEOUT_MS="30000")
    drain = sigterm_with_requests_in_flight(server, faults_database, poll)

    for response in drain.results.values():
        assert isinstance(response, requests.Response), response
        assert response.status_code == 200, response.text
    assert drain.descriptions == {"finished after SIGTERM"}  # committed, not rolled back
    assert drain.exit_status == 0
    # A client arriving during the drain is refused, or reset if it reached the backlog just
    # before the stop: either way at once, so it can retry elsewhere instead of waiting out the
    # drain (server/gunicorn_conf.py post_worker_init). After the exit it is refused.
    assert drain.new_while_draining in {"refused", "reset"}
    assert drain.late_socket_outcome in {"reset", "closed"}
    assert new_connection(server.port) == "refused"


@pytest.mark.slow
def test_killed_worker_is_replaced(
    fault_env: dict[str, str], gunicorn: Callable[..., Any], poll: Callable[..., float]
) -> None:
    server = gunicorn(fault_env)
    project = create_project(server.base)
    url = f"{server.base}/api/v1/projects/{project['id']}"
    before = server.workers()
    assert len(before) == 2
    victim = min(before)

    os.kill(victim, signal.SIGKILL)
    # The survivor serves while the master notices and forks a replacement.
    statuses = [authed.get(url, timeout=TIMEOUT).status_code for _ in range(10)]
    poll(lambda: len(server.workers() - before) == 1, 15, "a replacement worker")
    after = server.workers()
    assert victim not in after
    assert len(after) == 2
    statuses += [
        authed.post(
            f"{server.base}/api/v1/tags", json={"name": uuid.uuid4().hex[:20]}, timeout=TIMEOUT
        ).status_code
        for _ in range(5)
    ]
    statuses += [authed.get(url, timeout=TIMEOUT).status_code for _ in range(20)]
    assert set(statuses) <= {200, 201}, statuses
    assert server.process.poll() is None
